/**
 * The versions of the daemons the end-to-end tests run against, for the test
 * log: a failure report is only useful with them.
 */

import { cliPluginsDir, engineSet } from "./engines.ts";
import { binary, controlPlaneBinary, nodeBinary } from "./paths.ts";
import { run } from "./process.ts";

async function firstLine(path: string, args = ["--version"]): Promise<string> {
  const output = await run(path, args);
  return output.trim().split("\n")[0] ?? "";
}

/**
 * `name: version line` for every daemon and engine program of this run's
 * engine set (engines.ts), one per line, the set first (`engines: today`).
 */
export async function daemonVersions(): Promise<string> {
  const programs: [string, () => Promise<string>][] = [
    ["dockerd", () => firstLine(binary("dockerd"))],
    ["docker", () => firstLine(binary("docker"))],
    ["containerd", () => firstLine(binary("containerd"))],
    ["runc", () => firstLine(binary("runc"))],
    ["docker-registry", () => firstLine(binary("docker-registry"))],
    ["etcd", () => firstLine(controlPlaneBinary("etcd"))],
    ["kube-apiserver", () => firstLine(controlPlaneBinary("kube-apiserver"))],
    ["kube-controller-manager", () => firstLine(controlPlaneBinary("kube-controller-manager"))],
    ["kubelet", () => firstLine(nodeBinary("kubelet"))],
    ["kube-scheduler", () => firstLine(nodeBinary("kube-scheduler"))],
    ["kube-proxy", () => firstLine(nodeBinary("kube-proxy"))],
  ];
  const plugins = cliPluginsDir();
  if (plugins) {
    programs.splice(2, 0, ["buildx", () => firstLine(`${plugins}/docker-buildx`, ["version"])]);
  }
  const lines = await Promise.all(
    programs.map(async ([name, version]) => `${name}: ${await version()}`),
  );
  return [`engines: ${engineSet()}`, ...lines].join("\n");
}
