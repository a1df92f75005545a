/**
 * `veryfreshpod restore`: puts the workloads veryfreshpod changed back on the
 * images they had before (or, with --to-last, before its last change), from
 * each workload's own record, so that `kubectl diff -f` against the original
 * manifests is clean. One log line and one Event per workload; a container
 * changed by hand since is left alone with one line saying so.
 */
import { ExitCode, UserError } from "../util/errors.ts";
import { logger, setupLogging } from "../util/log.ts";
import { apiStatus, explainKubeError } from "../kube/api_errors.ts";
import { checkCluster } from "../kube/cluster.ts";
import { loadKubeConfig } from "../kube/config.ts";
import { EventRecorder } from "../kube/events.ts";
import {
  kindInfo,
  type KubeObject,
  listWorkloads,
  objectPath,
  toTrackedWorkload,
  WORKLOAD_KINDS,
} from "../kube/kinds.ts";
import { labelSelectorProblem } from "../kube/label_selector.ts";
import { type KubeClient, kubeClient } from "../kube/rest.ts";
import { patchRestore } from "../kube/restore_patch.ts";
import type { TrackedWorkload, WorkloadKey, WorkloadKind } from "../model/workload.ts";
import type { RestoreMode } from "../decision/restore_plan.ts";
import { type RestoreCluster, restoreWorkload } from "../restore/restorer.ts";
import { plural } from "../util/plural.ts";
import { RESTORE_FLAGS } from "./flag_tables.ts";
import {
  argumentsOf,
  type Command,
  commandHelp,
  invalidFlag,
  kubeFlags,
  listFlag,
  loggingFlags,
  parseFlags,
  stringFlag,
  usageError,
} from "./flags.ts";

const log = logger("restore");

const HELP = commandHelp(
  RESTORE_FLAGS,
  `Put each container veryfreshpod moved back on the image it had before
veryfreshpod's first change, remove the pod-template annotation veryfreshpod
added for rebuilds and its own record, so that "kubectl diff -f" against the
original manifests is clean. A container changed by hand since veryfreshpod's
last change is left alone, with one line saying so. With --to-last, only the
last change of each container is undone (back to the previous build).

Without KIND/NAME (deployment/web, statefulset/db, daemonset/agent,
cronjob/nightly), every workload veryfreshpod changed in the namespaces of -n
(all by default) whose labels match -l; a KIND/NAME names that workload in
those namespaces. A running veryfreshpod does not move a restored workload
again until a new build arrives.`,
);

/** Kind names as kubectl takes them: singular, plural and short. */
const KIND_NAMES: Readonly<Record<string, WorkloadKind>> = {
  deployment: "Deployment",
  deployments: "Deployment",
  deploy: "Deployment",
  statefulset: "StatefulSet",
  statefulsets: "StatefulSet",
  sts: "StatefulSet",
  daemonset: "DaemonSet",
  daemonsets: "DaemonSet",
  ds: "DaemonSet",
  cronjob: "CronJob",
  cronjobs: "CronJob",
  cj: "CronJob",
};

/** A KIND/NAME argument. */
interface Named {
  readonly text: string;
  readonly kind: WorkloadKind;
  readonly name: string;
}

/** Parses the KIND/NAME arguments; a bad one is a usage error. */
export function parseNames(args: readonly string[]): Named[] {
  return args.map((text) => {
    const slash = text.indexOf("/");
    const kind = KIND_NAMES[text.slice(0, Math.max(0, slash)).toLowerCase()];
    const name = text.slice(slash + 1);
    if (slash < 0 || kind === undefined || name === "" || name.includes("/")) {
      throw usageError(
        "restore",
        `invalid workload "${text}": give KIND/NAME, KIND one of deployment, statefulset, ` +
          "daemonset or cronjob (deployment/web)",
      );
    }
    return { text, kind, name };
  });
}

export const restoreCommand: Command = {
  name: "restore",
  help: HELP,
  async run(args, context) {
    const flags = parseFlags(RESTORE_FLAGS, args);
    if (flags.help) {
      context.stdout(HELP + "\n");
      return ExitCode.ok;
    }
    const names = parseNames(argumentsOf(flags));
    const selector = stringFlag(flags, "selector");
    const problem = selector === undefined ? undefined : labelSelectorProblem(selector);
    if (problem !== undefined) throw invalidFlag("restore", flags, "selector", problem);
    const mode: RestoreMode = flags["to-last"] === true ? "last" : "original";
    const dryRun = flags["dry-run"] === true;
    setupLogging(loggingFlags("restore", flags));
    await using client = await kubeClient(
      loadKubeConfig({ ...kubeFlags(flags), env: context.env }),
    );
    await checkCluster(client);
    const workloads = await findWorkloads(client, listFlag(flags, "namespace"), selector, names);
    const events = new EventRecorder(client, context.env("HOSTNAME") ?? Deno.hostname());
    const cluster: RestoreCluster = {
      patch: (plan, at) => patchRestore(client, plan, at),
      read: (key) => readWorkload(client, key),
      event: (event) => events.record(event),
    };
    let restored = 0;
    for (const workload of workloads) {
      try {
        if (await restoreWorkload(cluster, workload, mode, dryRun)) restored++;
      } catch (error) {
        const info = kindInfo(workload.key.kind);
        throw explainKubeError(error, client.server, {
          verb: "patch",
          resource: `${info.plural}.${info.group}`,
          namespace: workload.key.namespace,
        });
      }
    }
    if (restored === 0) {
      log.info("Nothing to restore: no workload {which} carries a change of veryfreshpod's", {
        which: names.length > 0 ? "named" : "in scope",
      });
    } else if (dryRun) {
      log.info("Dry run: {count} would be restored; nothing was changed", {
        count: plural(restored, "workload"),
      });
    }
    return ExitCode.ok;
  },
};

/**
 * The workloads in scope: every kind in the namespaces (all when none), whose
 * labels match; only the named ones when names are given (each must exist).
 */
async function findWorkloads(
  client: KubeClient,
  namespaces: readonly string[],
  selector: string | undefined,
  names: readonly Named[],
): Promise<TrackedWorkload[]> {
  const kinds = names.length === 0
    ? WORKLOAD_KINDS
    : WORKLOAD_KINDS.filter((info) => names.some((n) => n.kind === info.kind));
  const found: TrackedWorkload[] = [];
  for (const namespace of namespaces.length > 0 ? namespaces : [undefined]) {
    for (const info of kinds) {
      let items: readonly KubeObject[];
      try {
        items = (await listWorkloads(client, info, namespace, selector)).items;
      } catch (error) {
        throw explainKubeError(error, client.server, {
          verb: "list",
          resource: `${info.plural}.${info.group}`,
          namespace,
        });
      }
      for (const item of items) {
        const workload = toTrackedWorkload(info, item);
        if (workload === undefined) continue;
        if (names.length > 0 && !names.some((n) => matches(n, workload.key))) continue;
        found.push(workload);
      }
    }
  }
  for (const named of names) {
    if (found.some((w) => matches(named, w.key))) continue;
    const where = namespaces.length > 0
      ? `in namespace ${namespaces.map((n) => `"${n}"`).join(" or ")}`
      : "in any namespace";
    throw new UserError(
      `Found no ${named.text} ${where}${selector === undefined ? "" : ` matching -l ${selector}`}` +
        "; check the name, or pass -n with its namespace",
      ExitCode.usage,
    );
  }
  return found;
}

function matches(named: Named, key: WorkloadKey): boolean {
  return named.kind === key.kind && named.name === key.name;
}

/** The workload as it is now, or undefined when it is gone. */
async function readWorkload(
  client: KubeClient,
  key: WorkloadKey,
): Promise<TrackedWorkload | undefined> {
  const info = kindInfo(key.kind);
  try {
    const object = await client.json<KubeObject>(
      "GET",
      objectPath(info, key.namespace, key.name),
    );
    return toTrackedWorkload(info, object);
  } catch (error) {
    if (apiStatus(error) === 404) return undefined;
    throw explainKubeError(error, client.server, {
      verb: "get",
      resource: `${info.plural}.${info.group}`,
      namespace: key.namespace,
    });
  }
}
