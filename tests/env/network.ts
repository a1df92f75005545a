/**
 * The test node's network: a network namespace of the run's own, joined to
 * the machine by a veth pair, the way a kind node is a container with a
 * network of its own. The test containerd (and so the CNI plugins it runs,
 * the pods' bridge and the pods), the kubelet and kube-proxy live in it; the
 * API server (on 127.0.0.1) and the tests stay in the machine's namespace, and
 * the node reaches the API server through a forwarder on the machine's end of
 * the veth (controlplane.ts).
 *
 * Why a namespace: kube-proxy owns fixed chain names (KUBE-SERVICES, …) and
 * deletes rules it does not know, and every run's `kubernetes` Service has the
 * same ClusterIP; two test runs on one machine (several checkouts test at
 * once) would break each other's Service routing in a shared namespace. In a
 * namespace of its own, every rule, the bridge, the pods' routes and the
 * sysctls (ip_forward) are private, and all of it disappears with the last
 * process of the run, also after a SIGKILL.
 *
 *   machine                                   node namespace
 *   vfp-<run> 10.X.Y.129/30  <-- veth -->  eth0 10.X.Y.130/30
 *   (the API server's forwarder)            vfpbr-<run> 10.X.Y.1/25 -- pods 10.X.Y.2-126
 *   route 10.X.Y.0/25 via 10.X.Y.130
 *
 * Nothing leaves the machine: the node namespace has no default route (the
 * pods' default route ends at the node), the machine does not forward, and
 * nothing is masqueraded.
 */

import { binary, cniBinDir } from "./paths.ts";
import { type Daemon, makeDir, run, runName, spawnDaemon, waitReady } from "./process.ts";

export interface NodeNetwork {
  /** `/proc/<pid>/ns/net` of the namespace (held by a sleeping process of the run). */
  readonly netns: string;
  /** The machine's end of the veth pair: where the node and its pods reach the API server. */
  readonly hostAddress: string;
  /** The node's end: its InternalIP, where the kubelet listens. */
  readonly nodeAddress: string;
  /** The pods' subnet (CIDR), routed from the machine through the node. */
  readonly podCidr: string;
  /** The machine's veth interface (unique per run). */
  readonly hostInterface: string;
  /** The pods' bridge inside the node namespace (unique per run). */
  readonly bridge: string;
  /** The CNI network's name, also the prefix of containerd's CNI cache files (unique per run). */
  readonly cniNetwork: string;
  /** `[command, args]` that run `command args` inside the node's namespace. */
  inNode(command: string, args: string[]): [string, string[]];
}

/** The run's interface names: derived from the run name, so that teardown.ts finds them too. */
export function interfaceNames(run: string): { hostInterface: string; bridge: string } {
  const suffix = run.replace(/^vfp-test-/, "").replace(/[^A-Za-z0-9]/g, "").slice(0, 8);
  return { hostInterface: `vfp-${suffix}`, bridge: `vfpbr-${suffix}` };
}

/** A 10.X.Y.0/24 that no address or route of the machine touches yet. */
async function freeSubnet(): Promise<string> {
  const ip = binary("ip");
  const inUse = (await run(ip, ["-4", "-o", "addr"])) + (await run(ip, ["-4", "route"]));
  for (let attempt = 0; attempt < 100; attempt++) {
    const prefix = `10.${200 + Math.floor(Math.random() * 50)}.${Math.floor(Math.random() * 256)}`;
    if (!inUse.includes(`${prefix}.`)) return prefix;
  }
  throw new Error("no free 10.200-249.x.0/24 subnet for the test node");
}

async function start(): Promise<NodeNetwork> {
  const dir = makeDir("netns");
  const ip = binary("ip");
  // The namespace lives as long as this process (and whatever else joins it).
  // Its working directory under the run root is how teardown.ts finds it.
  const holder: Daemon = spawnDaemon(
    "netns",
    binary("unshare"),
    ["--net", "--", binary("sleep"), "infinity"],
    { cwd: dir },
  );
  const netns = `/proc/${holder.pid}/ns/net`;
  const own = Deno.readLinkSync("/proc/self/ns/net");
  await waitReady(holder, () => Promise.resolve(Deno.readLinkSync(netns) !== own));

  const prefix = await freeSubnet();
  const hostAddress = `${prefix}.129`;
  const nodeAddress = `${prefix}.130`;
  const podCidr = `${prefix}.0/25`;
  const { hostInterface, bridge } = interfaceNames(runName());
  const inNode = (command: string, args: string[]): [string, string[]] => [
    binary("nsenter"),
    [`--net=${netns}`, "--", command, ...args],
  ];
  const node = (args: string[]) => run(...inNode(ip, args));

  await run(ip, [
    ...["link", "add", hostInterface, "type", "veth"],
    ...["peer", "name", "eth0", "netns", String(holder.pid)],
  ]);
  await run(ip, ["addr", "add", `${hostAddress}/30`, "dev", hostInterface]);
  await run(ip, ["link", "set", hostInterface, "up"]);
  await node(["link", "set", "lo", "up"]);
  await node(["addr", "add", `${nodeAddress}/30`, "dev", "eth0"]);
  await node(["link", "set", "eth0", "up"]);
  // Replies from the machine to pods go back through the node.
  await run(ip, ["route", "add", podCidr, "via", nodeAddress, "dev", hostInterface]);
  // The node routes between its pods and the machine; a namespace's own setting.
  await run(...inNode("sh", ["-c", "echo 1 > /proc/sys/net/ipv4/ip_forward"]));

  return {
    netns,
    hostAddress,
    nodeAddress,
    podCidr,
    hostInterface,
    bridge,
    cniNetwork: runName(),
    inNode,
  };
}

let shared: Promise<NodeNetwork> | undefined;

/** The node's network of this test run, made on first use. */
export function nodeNetwork(): Promise<NodeNetwork> {
  shared ??= start();
  return shared;
}

/**
 * The CNI configuration of the pods' network: a bridge in the node namespace
 * with host-local addresses (state under the run root), the node as the
 * pods' gateway, no masquerade.
 */
export function cniConfig(network: NodeNetwork, ipamDir: string): string {
  const [base] = network.podCidr.split("/");
  const gateway = base!.replace(/\.0$/, ".1");
  return JSON.stringify(
    {
      cniVersion: "1.0.0",
      name: network.cniNetwork,
      plugins: [{
        type: "bridge",
        bridge: network.bridge,
        isGateway: true,
        ipMasq: false,
        hairpinMode: true,
        ipam: {
          type: "host-local",
          dataDir: ipamDir,
          ranges: [[{ subnet: network.podCidr, gateway }]],
          routes: [{ dst: "0.0.0.0/0" }],
        },
      }],
    },
    null,
    2,
  );
}

export { cniBinDir };
