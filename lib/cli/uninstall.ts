/**
 * `veryfreshpod uninstall`: deletes what `install` (or `kubectl apply` of the
 * manifest) created, found by the install labels in every namespace, and
 * nothing else. Waits until the objects are gone, so that running it again
 * finds nothing to do; the image stays on the node.
 */
import "../util/quiet_deprecations.ts";
import type { KubernetesObject } from "@kubernetes/client-node";
import { ExitCode, UserError } from "../util/errors.ts";
import { checkCluster } from "../kube/cluster.ts";
import { loadKubeConfig } from "../kube/config.ts";
import { clientNodeConfig } from "../kube/client_node_config.ts";
import { kubeClient } from "../kube/rest.ts";
import { setupLogging } from "../util/log.ts";
import { describeObject, Installer } from "../install/apply.ts";
import { DEFAULT_IMAGE, INSTALL_SELECTOR, renderObjects } from "../install/manifest.ts";
import { UNINSTALL_FLAGS } from "./flag_tables.ts";
import { type Command, commandHelp, kubeFlags, loggingFlags, parseFlags } from "./flags.ts";

const HELP = commandHelp(
  UNINSTALL_FLAGS,
  `Remove veryfreshpod from the cluster: every object labelled
${INSTALL_SELECTOR}
(its Deployment, service account, cluster role and binding, and namespace), in
any namespace. Safe to run again. The image ${DEFAULT_IMAGE} stays on the node.`,
);

const WAIT_MS = 120_000;

/** The kinds the manifest holds, dependents first: the order to delete them in. */
function installedKinds(): Array<readonly [string, string]> {
  const kinds = renderObjects().map((o) => [o.apiVersion!, o.kind!] as const);
  return kinds.reverse();
}

export const uninstallCommand: Command = {
  name: "uninstall",
  help: HELP,
  async run(args, context) {
    const flags = parseFlags(UNINSTALL_FLAGS, args);
    if (flags.help) {
      context.stdout(HELP + "\n");
      return ExitCode.ok;
    }
    setupLogging(loggingFlags("uninstall", flags));
    const dryRun = flags["dry-run"] === true;
    const say = (line: string) => context.stdout(`${line}\n`);
    const config = loadKubeConfig({ ...kubeFlags(flags), env: context.env });
    {
      await using client = await kubeClient(config);
      await checkCluster(client);
    }
    const kube = clientNodeConfig(config);
    const installer = new Installer(kube, { dryRun });
    const kinds = installedKinds();
    const found = await installer.findInstalled(kinds);
    if (found.length === 0) {
      say(`Nothing to uninstall: no object is labelled ${INSTALL_SELECTOR}`);
      return ExitCode.ok;
    }
    const suffix = dryRun ? " (dry run)" : "";
    for (const object of found) {
      const outcome = await installer.delete(object);
      say(`${describeObject(object)}${where(object)} ${outcome}${suffix}`);
    }
    if (!dryRun && flags["no-wait"] !== true) {
      await waitUntilGone(installer, kinds, context.signal);
      say("Uninstalled: every object is gone");
    }
    return ExitCode.ok;
  },
};

function where(object: KubernetesObject): string {
  const namespace = object.metadata?.namespace;
  return namespace === undefined ? "" : ` (namespace ${namespace})`;
}

/** Polls until no labelled object is left (a namespace takes a few seconds to finalise). */
async function waitUntilGone(
  installer: Installer,
  kinds: Array<readonly [string, string]>,
  signal: AbortSignal,
): Promise<void> {
  const deadline = Date.now() + WAIT_MS;
  while (!signal.aborted) {
    const left = await installer.findInstalled(kinds);
    if (left.length === 0) return;
    if (Date.now() > deadline) {
      throw new UserError(
        `Still being deleted after ${WAIT_MS / 1000} s: ${left.map(describeObject).join(", ")}; ` +
          "check their finalizers with kubectl, or run uninstall again later",
        ExitCode.kubernetes,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
