/**
 * A second node for the multi-node tests: a kubelet with a containerd of its
 * own that holds no image but the sandbox's, in a network namespace of its
 * own, like a machine the developer's builds never land on. The only way an
 * image reaches it is a registry, configured the way kind's registry script
 * sets its nodes up: containerd's CRI `config_path` with one `hosts.toml` per
 * registry host (`useRegistry`).
 *
 * It joins the cluster of node.ts (whose scheduler places pods on both and
 * whose controller-manager lifts the not-ready taint). Its network, like the
 * first node's, is a veth pair to the machine with nothing routed beyond; the
 * API server and registries are reached through forwarders (socat) on the
 * machine's end of the pair, so nothing listens on any other address. The
 * kubelet uses the admin's token (tests only: the static token file knows
 * only the first node's kubelet) and checks the API server's certificate for
 * the `kubernetes` Service's IP, which it names, since it connects through
 * the forwarder's address.
 */
import { type Containerd, startContainerd } from "./containerd.ts";
import { kubernetes, KUBERNETES_SERVICE_IP } from "./controlplane.ts";
import type { NodeNetwork } from "./network.ts";
import { importPauseImage, node } from "./node.ts";
import { binary, nodeBinary } from "./paths.ts";
import { type Daemon, freePort, makeDir, run, runName, spawnDaemon, waitReady } from "./process.ts";

/** The second node's Node name. */
export const SECOND_NODE_NAME = "vfp-node-2";

export interface SecondNode {
  readonly name: string;
  /** Its containerd, which only the node uses (namespace `k8s.io`). */
  readonly containerd: Containerd;
  /** Its InternalIP. */
  readonly address: string;
  /** The machine's end of its veth pair, where its forwarders listen. */
  readonly hostAddress: string;
  /**
   * Lets the node pull from the registry the machine reaches at `address`
   * (`127.0.0.1:<port>`), under that name, as kind's script does: a forwarder
   * on the machine's end of the pair and a `hosts.toml` saying plain HTTP there.
   */
  useRegistry(address: string): Promise<void>;
}

/** A 10.X.Y.0/24 that no address or route of the machine touches yet. */
async function freeSubnet(): Promise<string> {
  const ip = binary("ip");
  const inUse = (await run(ip, ["-4", "-o", "addr"])) + (await run(ip, ["-4", "route"]));
  for (let attempt = 0; attempt < 100; attempt++) {
    const prefix = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    if (!inUse.includes(`${prefix}.`)) return prefix;
  }
  throw new Error("no free 10.200-249.x.0/24 subnet for the second node");
}

/** The node's network namespace, veth pair and routes (as network.ts makes the first's). */
async function makeNetwork(): Promise<NodeNetwork> {
  const dir = makeDir("netns-2");
  const ip = binary("ip");
  const holder: Daemon = spawnDaemon(
    "netns-2",
    binary("unshare"),
    ["--net", "--", binary("sleep"), "infinity"],
    { cwd: dir },
  );
  const netns = `/proc/${holder.pid}/ns/net`;
  const own = Deno.readLinkSync("/proc/self/ns/net");
  await waitReady(holder, () => Promise.resolve(Deno.readLinkSync(netns) !== own));
  const prefix = await freeSubnet();
  const suffix = runName().replace(/^vfp-test-/, "").replace(/[^A-Za-z0-9]/g, "").slice(0, 8);
  const hostInterface = `vf2-${suffix}`;
  const inNode = (command: string, args: string[]): [string, string[]] => [
    binary("nsenter"),
    [`--net=${netns}`, "--", command, ...args],
  ];
  const inside = (args: string[]) => run(...inNode(ip, args));
  const network: NodeNetwork = {
    netns,
    hostAddress: `${prefix}.129`,
    nodeAddress: `${prefix}.130`,
    podCidr: `${prefix}.0/25`,
    hostInterface,
    bridge: `vf2br-${suffix}`,
    cniNetwork: `${runName()}-2`,
    inNode,
  };
  // The host end goes away with the namespace (the veth pair dies with its other end).
  await run(ip, [
    ...["link", "add", hostInterface, "type", "veth"],
    ...["peer", "name", "eth0", "netns", String(holder.pid)],
  ]);
  await run(ip, ["addr", "add", `${network.hostAddress}/30`, "dev", hostInterface]);
  await run(ip, ["link", "set", hostInterface, "up"]);
  await inside(["link", "set", "lo", "up"]);
  await inside(["addr", "add", `${network.nodeAddress}/30`, "dev", "eth0"]);
  await inside(["link", "set", "eth0", "up"]);
  await run(ip, [
    "route",
    "add",
    network.podCidr,
    "via",
    network.nodeAddress,
    "dev",
    hostInterface,
  ]);
  await run(...inNode("sh", ["-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]));
  return network;
}

/** Forwards `listen` (`address:port`, on the machine) to `target`; returns the listening address. */
async function forward(name: string, listen: string, target: string): Promise<void> {
  const [host, port] = [
    listen.slice(0, listen.lastIndexOf(":")),
    listen.slice(listen.lastIndexOf(":") + 1),
  ];
  const daemon = spawnDaemon(name, binary("socat"), [
    `TCP-LISTEN:${port},bind=${host},reuseaddr,fork`,
    `TCP:${target}`,
  ]);
  await waitReady(daemon, async () => {
    const conn = await Deno.connect({ hostname: host, port: Number(port) });
    conn.close();
    return true;
  });
}

/** A cgroup for the kubelet below the run's own (teardown.ts removes the run's with all below). */
function makeCgroupRoot(): string {
  const path = `/${runName()}/node-2`;
  const base = "/sys/fs/cgroup";
  let v2 = false;
  try {
    Deno.statSync(`${base}/cgroup.controllers`);
    v2 = true;
  } catch {
    // cgroup v1: one hierarchy per controller.
  }
  const hierarchies = v2 ? [base] : [...Deno.readDirSync(base)]
    .filter((entry) => entry.isDirectory)
    .map((entry) => `${base}/${entry.name}`);
  for (const hierarchy of hierarchies) {
    let parent = hierarchy;
    for (const part of path.split("/").filter(Boolean)) {
      const dir = `${parent}/${part}`;
      Deno.mkdirSync(dir, { recursive: true });
      for (const file of ["cpuset.cpus", "cpuset.mems"]) {
        try {
          if (Deno.readTextFileSync(`${dir}/${file}`).trim() !== "") continue;
          Deno.writeTextFileSync(`${dir}/${file}`, Deno.readTextFileSync(`${parent}/${file}`));
        } catch {
          // Not a cpuset hierarchy.
        }
      }
      parent = dir;
    }
  }
  return path;
}

async function start(): Promise<SecondNode> {
  const [kube] = await Promise.all([kubernetes(), node()]);
  const network = await makeNetwork();
  const dir = makeDir("node-2");

  // containerd 2.x (this run's set), in the node's namespace, with the registry hosts
  // directory kind's nodes have.
  const certsDir = `${dir}/certs.d`;
  Deno.mkdirSync(certsDir, { recursive: true });
  const { socket } = await startContainerd("containerd-node-2", {
    cri: true,
    network,
    registryConfigDir: certsDir,
  });
  const ctr: Containerd = {
    socket,
    namespace: "k8s.io",
    ctr: (args) => run(binary("ctr"), ["--address", socket, "--namespace", "k8s.io", ...args]),
  };
  await importPauseImage(ctr);

  // The API server, through a forwarder on the machine's end of the pair.
  const server = new URL(kube.server);
  const apiPort = freePort();
  await forward("apiserver-forwarder-2", `${network.hostAddress}:${apiPort}`, server.host);
  const kubeconfig = `${dir}/kubelet.kubeconfig`;
  Deno.writeTextFileSync(
    kubeconfig,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{
        name: "test",
        cluster: {
          server: `https://${network.hostAddress}:${apiPort}`,
          "certificate-authority": kube.caFile,
          "tls-server-name": KUBERNETES_SERVICE_IP,
        },
      }],
      users: [{ name: "admin", user: { token: kube.adminToken } }],
      contexts: [{ name: "test", context: { cluster: "test", user: "admin" } }],
      "current-context": "test",
    }),
  );

  const kubeletConfig = {
    apiVersion: "kubelet.config.k8s.io/v1beta1",
    kind: "KubeletConfiguration",
    address: network.nodeAddress,
    port: 10250,
    readOnlyPort: 0,
    healthzPort: 0,
    authentication: { anonymous: { enabled: true }, webhook: { enabled: false } },
    authorization: { mode: "AlwaysAllow" },
    cgroupDriver: "cgroupfs",
    cgroupRoot: makeCgroupRoot(),
    failSwapOn: false,
    failCgroupV1: false,
    containerRuntimeEndpoint: `unix://${socket}`,
    evictionHard: {
      "memory.available": "1Mi",
      "nodefs.available": "1%",
      "nodefs.inodesFree": "1%",
      "imagefs.available": "1%",
    },
    imageGCHighThresholdPercent: 100,
    imageGCLowThresholdPercent: 99,
    podLogsDir: `${dir}/pod-logs`,
    resolvConf: "",
    makeIPTablesUtilChains: false,
    clusterDomain: "cluster.local",
    nodeStatusUpdateFrequency: "2s",
    syncFrequency: "5s",
    serializeImagePulls: false,
  };
  Deno.writeTextFileSync(`${dir}/kubelet.json`, JSON.stringify(kubeletConfig, null, 2));
  const kubelet = spawnDaemon(
    "kubelet-node-2",
    ...network.inNode(nodeBinary("kubelet"), [
      ...["--config", `${dir}/kubelet.json`, "--kubeconfig", kubeconfig],
      ...["--root-dir", `${dir}/kubelet`, "--cert-dir", `${dir}/kubelet-pki`],
      ...["--hostname-override", SECOND_NODE_NAME, "--node-ip", network.nodeAddress, "--v=2"],
    ]),
    { graceMs: 2_000 },
  );
  await waitReady(kubelet, async () => {
    const response = await kube.request("GET", `/api/v1/nodes/${SECOND_NODE_NAME}`);
    const body = response.body;
    const ready = body?.status?.conditions?.some((c: { type: string; status: string }) =>
      c.type === "Ready" && c.status === "True"
    );
    const taints = (body?.spec?.taints ?? []) as { key: string }[];
    return response.status === 200 && ready === true &&
      !taints.some((t) => t.key.startsWith("node.kubernetes.io/"));
  }, 120_000);

  const registries = new Set<string>();
  return {
    name: SECOND_NODE_NAME,
    containerd: ctr,
    address: network.nodeAddress,
    hostAddress: network.hostAddress,
    async useRegistry(address: string) {
      if (registries.has(address)) return;
      registries.add(address);
      const port = freePort();
      await forward(`registry-forwarder-2-${port}`, `${network.hostAddress}:${port}`, address);
      // kind's script: one directory per registry host as image fields name it.
      Deno.mkdirSync(`${certsDir}/${address}`, { recursive: true });
      Deno.writeTextFileSync(
        `${certsDir}/${address}/hosts.toml`,
        `[host."http://${network.hostAddress}:${port}"]\n  capabilities = ["pull", "resolve"]\n`,
      );
    },
  };
}

let shared: Promise<SecondNode> | undefined;

/** The second node of this run, started on first use; resolves once it is Ready. */
export function secondNode(): Promise<SecondNode> {
  shared ??= start();
  return shared;
}
