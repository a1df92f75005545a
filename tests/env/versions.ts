/**
 * The versions of the daemons the end-to-end tests run against, for the test
 * log: a failure report is only useful with them.
 */

import { binary, controlPlaneBinary, nodeBinary } from "./paths.ts";
import { run } from "./process.ts";

async function firstLine(path: string): Promise<string> {
  const output = await run(path, ["--version"]);
  return output.trim().split("\n")[0] ?? "";
}

/** `name: version line` for every daemon, one per line. */
export async function daemonVersions(): Promise<string> {
  const programs: [string, () => string][] = [
    ["dockerd", () => binary("dockerd")],
    ["containerd", () => binary("containerd")],
    ["docker-registry", () => binary("docker-registry")],
    ["etcd", () => controlPlaneBinary("etcd")],
    ["kube-apiserver", () => controlPlaneBinary("kube-apiserver")],
    ["kube-controller-manager", () => controlPlaneBinary("kube-controller-manager")],
    ["kubelet", () => nodeBinary("kubelet")],
    ["kube-scheduler", () => nodeBinary("kube-scheduler")],
    ["kube-proxy", () => nodeBinary("kube-proxy")],
  ];
  const lines = await Promise.all(
    programs.map(async ([name, path]) => `${name}: ${await firstLine(path())}`),
  );
  return lines.join("\n");
}
