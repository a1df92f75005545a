/**
 * `veryfreshpod status`: what veryfreshpod has done, read from the cluster
 * alone (so it works from any machine, while `run` runs elsewhere): every
 * workload carrying its record, the image and ID it set in each container and
 * when, where that rollout stands, and how many pods run the image.
 */
import "../util/quiet_deprecations.ts";
import { ExitCode } from "../util/errors.ts";
import { setupLogging } from "../util/log.ts";
import { apiStatus, explainKubeError, forbiddenMessage } from "../kube/api_errors.ts";
import { checkCluster } from "../kube/cluster.ts";
import { loadKubeConfig } from "../kube/config.ts";
import { type KubeClient, kubeClient } from "../kube/rest.ts";
import { listWholeWorkloads, WORKLOAD_KINDS } from "../kube/kinds.ts";
import { shortId } from "../kube/patcher.ts";
import { UserError } from "../util/errors.ts";
import { KubeRolloutReader } from "../rollout/kube_reader.ts";
import type { WorkloadObject } from "../rollout/objects.ts";
import { hasRecord, type StatusRow, statusRows } from "../rollout/status_rows.ts";
import { STATUS_FLAGS } from "./flag_tables.ts";
import {
  choiceFlag,
  type Command,
  commandHelp,
  kubeFlags,
  listFlag,
  loggingFlags,
  parseFlags,
} from "./flags.ts";

const HELP = commandHelp(
  STATUS_FLAGS,
  `Show what veryfreshpod has changed, read from the cluster: for each workload
and container, the image and image ID it set and when, whether that rollout is
done, in progress or failing (and why), and how many pods run that image;
ORIGINAL is the image "veryfreshpod restore" would put back ("-": it would
leave the container alone).
Works from any machine that can reach the cluster, while "veryfreshpod run"
runs elsewhere.`,
);

const OUTPUTS = ["table", "json"] as const;

export const statusCommand: Command = {
  name: "status",
  help: HELP,
  async run(args, context) {
    const flags = parseFlags(STATUS_FLAGS, args);
    if (flags.help) {
      context.stdout(HELP + "\n");
      return ExitCode.ok;
    }
    const output = choiceFlag("status", flags, "output", OUTPUTS, "table");
    setupLogging(loggingFlags("status", flags));
    await using client = await kubeClient(
      loadKubeConfig({ ...kubeFlags(flags), env: context.env }),
    );
    await checkCluster(client);
    const rows = await readStatus(client, listFlag(flags, "namespace"), Date.now());
    context.stdout(output === "json" ? renderJson(rows) : renderTable(rows, Date.now()));
    return ExitCode.ok;
  },
};

/** Every row, from every workload kind in the given namespaces (all when none). */
export async function readStatus(
  client: KubeClient,
  namespaces: readonly string[],
  now: number,
): Promise<StatusRow[]> {
  const server = client.server;
  const reader = new KubeRolloutReader(client);
  const rows: StatusRow[] = [];
  for (const namespace of namespaces.length > 0 ? namespaces : [undefined]) {
    for (const info of WORKLOAD_KINDS) {
      let items: readonly WorkloadObject[];
      try {
        items = (await listWholeWorkloads(client, info, namespace)).items as WorkloadObject[];
      } catch (error) {
        throw explainKubeError(error, server, {
          verb: "list",
          resource: `${info.plural}.${info.group}`,
          namespace,
        });
      }
      for (const workload of items.filter((w) => hasRecord(info.kind, w))) {
        const ns = workload.metadata?.namespace ?? "";
        let pods;
        try {
          pods = await reader.listPods(ns, info.kind, workload);
        } catch (error) {
          if (apiStatus(error) === 403) {
            throw new UserError(
              forbiddenMessage({ verb: "list", resource: "pods", namespace: ns }),
              ExitCode.forbidden,
              { cause: error },
            );
          }
          throw explainKubeError(error, server, { verb: "list", resource: "pods", namespace: ns });
        }
        let found = statusRows(info.kind, workload, pods, now);
        // A stuck rollout: the pods' probe failures (their Events) may say why.
        if (found.some(stuck) && pods.length > 0) {
          const names = pods.map((pod) => pod.metadata?.name ?? "");
          const probeEvents = await reader.probeEvents(ns, names).catch(() => []);
          found = statusRows(info.kind, workload, pods, now, { probeEvents });
        }
        rows.push(...found);
      }
    }
  }
  return rows.sort((a, b) =>
    a.namespace.localeCompare(b.namespace) || a.kind.localeCompare(b.kind) ||
    a.name.localeCompare(b.name) || a.container.localeCompare(b.container)
  );
}

/** A rollout that waits for pods that are not ready, or failed without a pod to blame. */
function stuck(row: StatusRow): boolean {
  return row.rollout.state === "in progress" ||
    (row.rollout.state === "failing" && !row.rollout.detail?.startsWith("pod "));
}

/** A table like kubectl's: one row per container, columns padded, the long ROLLOUT last. */
export function renderTable(rows: readonly StatusRow[], now: number): string {
  if (rows.length === 0) return "No workload has been changed by veryfreshpod\n";
  const header = [
    "NAMESPACE",
    "WORKLOAD",
    "CONTAINER",
    "IMAGE",
    "ORIGINAL",
    "ID",
    "UPDATED",
    "PODS",
    "ROLLOUT",
  ];
  const lines = rows.map((row) => [
    row.namespace,
    `${row.kind.toLowerCase()}/${row.name}`,
    row.container,
    row.image,
    row.original ?? "-",
    row.id ? shortId(row.id).replace(/^sha256:/, "") : "<unknown>",
    row.at ? `${age(now - Date.parse(row.at))} ago` : "<unknown>",
    row.pods ? `${row.pods.onImage}/${row.pods.total}` : "-",
    row.rollout.detail ? `${row.rollout.state}: ${row.rollout.detail}` : row.rollout.state,
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return [header, ...lines]
    .map((cells) =>
      cells.map((c, i) => i === cells.length - 1 ? c : c.padEnd(widths[i]!)).join("   ")
    )
    .join("\n") + "\n";
}

/** The rows as JSON, for scripts. */
export function renderJson(rows: readonly StatusRow[]): string {
  return JSON.stringify(
    rows.map((row) => ({
      namespace: row.namespace,
      kind: row.kind,
      name: row.name,
      container: row.container,
      image: row.image,
      original: row.original ?? null,
      id: row.id ?? null,
      configId: row.configId ?? null,
      updatedAt: row.at ?? null,
      rollout: { state: row.rollout.state, detail: row.rollout.detail ?? null },
      pods: row.pods ?? null,
    })),
    null,
    2,
  ) + "\n";
}

/** `45s`, `3m12s`, `2h5m`, `3d4h`, like kubectl's AGE column. */
export function age(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 10) return `${m}m${s % 60 ? `${s % 60}s` : ""}`;
  if (m < 180) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 8) return `${h}h${m % 60 ? `${m % 60}m` : ""}`;
  if (h < 48) return `${h}h`;
  const d = Math.floor(h / 24);
  if (d < 8) return `${d}d${h % 24 ? `${h % 24}h` : ""}`;
  return `${d}d`;
}
