/**
 * A real Kubernetes node for the test cluster: the kubelet on the test
 * containerd (containerd.ts), kube-proxy in iptables mode, the kube-scheduler,
 * and the CNI bridge network, all built from the same k8s.io/kubernetes module
 * as the API server (tests/controlplane/build.sh). The controller-manager
 * runs the node-lifecycle controller (controlplane.ts), which lifts the
 * not-ready taint the kubelet registers with. `node()` resolves once the node
 * is Ready, untainted, and kube-proxy routes the `kubernetes` Service.
 *
 * The containerd, the kubelet, kube-proxy and the pods live in the node's
 * network namespace (network.ts). Pods reach the API server the way they do in
 * a real cluster: in-cluster configuration names the `kubernetes` Service's
 * ClusterIP, kube-proxy's rules send it to the address the API server
 * advertises, and the API server's certificate names both.
 *
 * The settings are those of FACTS.md, "A real node on these machines": a
 * cgroup root of the run's own in every cgroup v1 hierarchy, relaxed eviction
 * thresholds and no image GC (test images are never pulled back), the
 * kubelet's state under the run root.
 */

import { type Containerd, containerd, PAUSE_IMAGE } from "./containerd.ts";
import { kubernetes, NODE_NAME } from "./controlplane.ts";
import { nodeNetwork } from "./network.ts";
import { binary, busyboxPath, nodeBinary } from "./paths.ts";
import { makeDir, run, runName, spawnDaemon, waitReady } from "./process.ts";
import { writeTar } from "../../lib/install/tar.ts";
import { exists } from "../../lib/util/exists.ts";

export interface Node {
  /** The Node object's name. */
  readonly name: string;
  /** The node's containerd socket: the test containerd (`containerd()`); pods run there. */
  readonly containerdSocket: string;
  /** The containerd namespace the kubelet's images live in: `k8s.io`. */
  readonly namespace: string;
  /** The node's InternalIP. */
  readonly address: string;
  /** The pods' subnet. */
  readonly podCidr: string;
  /** Runs kubectl (same build as the cluster) as the admin; returns stdout, throws with stderr. */
  kubectl(args: string[]): Promise<string>;
}

const readyTimeoutMs = 120_000;

/** The sandbox image: a static busybox that sleeps, imported as `PAUSE_IMAGE`. */
export async function importPauseImage(ctr: Containerd): Promise<void> {
  const layer = writeTar([
    { path: "bin", type: "directory", mode: 0o755 },
    { path: "bin/busybox", type: "file", mode: 0o755, bytes: Deno.readFileSync(busyboxPath) },
  ]);
  const digest = await sha256(layer);
  const config = new TextEncoder().encode(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    config: { Entrypoint: ["/bin/busybox", "sleep", "2147483647"] },
    rootfs: { type: "layers", diff_ids: [`sha256:${digest}`] },
  }));
  const configName = `${await sha256(config)}.json`;
  const manifest = [{ Config: configName, RepoTags: [PAUSE_IMAGE], Layers: [`${digest}.tar`] }];
  // `docker save`'s format, which `ctr images import` reads.
  const archive = writeTar([
    { path: configName, type: "file", mode: 0o644, bytes: config },
    { path: `${digest}.tar`, type: "file", mode: 0o644, bytes: layer },
    {
      path: "manifest.json",
      type: "file",
      mode: 0o644,
      bytes: new TextEncoder().encode(JSON.stringify(manifest)),
    },
  ]);
  const file = `${makeDir("node")}/pause.tar`;
  Deno.writeFileSync(file, archive);
  await ctr.ctr(["images", "import", file]);
}

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("");
}

/**
 * A cgroup of the run's own in every hierarchy, for the kubelet's cgroupRoot
 * (cgroup v1: one per controller; a new cpuset is empty until given the
 * parent's CPUs and memory nodes). teardown.ts removes it with what is in it.
 */
function makeCgroupRoot(): string {
  const name = runName();
  const base = "/sys/fs/cgroup";
  const v2 = exists(`${base}/cgroup.controllers`);
  const hierarchies = v2 ? [base] : [...Deno.readDirSync(base)]
    .filter((entry) => entry.isDirectory)
    .map((entry) => `${base}/${entry.name}`);
  for (const hierarchy of hierarchies) {
    const dir = `${hierarchy}/${name}`;
    Deno.mkdirSync(dir, { recursive: true });
    for (const file of ["cpuset.cpus", "cpuset.mems"]) {
      if (v2 || !exists(`${dir}/${file}`)) continue;
      if (Deno.readTextFileSync(`${dir}/${file}`).trim() !== "") continue;
      Deno.writeTextFileSync(`${dir}/${file}`, Deno.readTextFileSync(`${hierarchy}/${file}`));
    }
  }
  return `/${name}`;
}

async function start(): Promise<Node> {
  const [kube, ctr, network] = await Promise.all([kubernetes(), containerd(), nodeNetwork()]);
  const dir = makeDir("node");
  await importPauseImage(ctr);
  const cgroupRoot = makeCgroupRoot();

  const kubeletConfig = {
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    address: network.nodeAddress,
    port: 10250,
    readOnlyPort: 0,
    healthzPort: 0,
    // The API server calls the kubelet (logs, exec) without credentials; tests only.
    authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
    authorization: { mode: "AlwaysAllow" },
    cgroupDriver: "cgroupfs",
    cgroupRoot,
    failSwapOn: false,
    failCgroupV1: false,
    containerRuntimeEndpoint: `unix://${ctr.socket}`,
    // The machine's disk is shared and may be fuller than a real node's thresholds allow.
    evictionHard: {
      "memory.available": "1Mi",
      "nodefs.available": "1%",
      "nodefs.inodesFree": "1%",
      "imagefs.available": "1%",
    },
    // Test images exist only on the node: collecting one would lose it for good.
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    // Containers' logs under the run root: another run's kubelet would delete /var/log/pods
    // entries of pods it does not know. (The /var/log/containers links are fixed; teardown.ts.)
    podLogsDir: `${dir}/pod-logs`,
    resolvConf: "",
    makeIPTablesUtilChains: false,
    clusterDomain: "cluster.local",
    // Quick reactions: the tests wait for what the kubelet reports.
    nodeStatusUpdateFrequency: "2s",
    syncFrequency: "5s",
    serializeImagePulls: false,
  };
  Deno.writeTextFileSync(`${dir}/kubelet.json`, JSON.stringify(kubeletConfig, null, 2));
  const kubelet = spawnDaemon(
    "kubelet",
    ...network.inNode(nodeBinary("kubelet"), [
      ...["--config", `${dir}/kubelet.json`, "--kubeconfig", kube.componentKubeconfigs.kubelet],
      ...["--root-dir", `${dir}/kubelet`, "--cert-dir", `${dir}/kubelet-pki`],
      ...["--hostname-override", NODE_NAME, "--node-ip", network.nodeAddress, "--v=2"],
    ]),
    // Its pods' mounts are under its root dir: teardown unmounts them once it is gone.
    { graceMs: 2_000 },
  );
  spawnDaemon("kube-scheduler", nodeBinary("kube-scheduler"), [
    ...["--kubeconfig", kube.componentKubeconfigs["kube-scheduler"]],
    ...["--leader-elect=false", "--secure-port=0"],
  ]);
  const proxy = spawnDaemon(
    "kube-proxy",
    ...network.inNode(nodeBinary("kube-proxy"), [
      ...["--kubeconfig", kube.componentKubeconfigs["kube-proxy"], "--proxy-mode", "iptables"],
      ...["--hostname-override", NODE_NAME, "--cluster-cidr", network.podCidr],
      // Leave the machine-wide conntrack settings alone.
      ...["--conntrack-max-per-core=0", "--conntrack-tcp-timeout-established=0"],
      "--conntrack-tcp-timeout-close-wait=0",
      ...["--metrics-bind-address", "127.0.0.1:10249", "--healthz-bind-address", "127.0.0.1:10256"],
    ]),
  );

  await waitReady(kubelet, async () => {
    const response = await kube.request("GET", `/api/v1/nodes/${NODE_NAME}`);
    const node = response.body;
    const ready = node?.status?.conditions?.some((c: { type: string; status: string }) =>
      c.type === "Ready" && c.status === "True"
    );
    const taints = (node?.spec?.taints ?? []) as { key: string }[];
    return response.status === 200 && ready === true &&
      !taints.some((t) => t.key.startsWith("node.kubernetes.io/"));
  }, readyTimeoutMs);
  // kube-proxy has written the `kubernetes` Service's rules.
  await waitReady(proxy, async () => {
    const rules = await run(...network.inNode(binary("iptables-save"), ["-t", "nat"]));
    return rules.includes("default/kubernetes:https");
  }, readyTimeoutMs);

  return {
    name: NODE_NAME,
    containerdSocket: ctr.socket,
    namespace: ctr.namespace,
    address: network.nodeAddress,
    podCidr: network.podCidr,
    kubectl: (args) => run(nodeBinary("kubectl"), ["--kubeconfig", kube.kubeconfig, ...args]),
  };
}

let shared: Promise<Node> | undefined;

/** The test node of this run, started on first use; resolves once it is Ready. */
export function node(): Promise<Node> {
  shared ??= start();
  return shared;
}
