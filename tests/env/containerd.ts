/**
 * containerd instances with all their state under the run root. Two kinds:
 * the standalone one the tests talk to, which is also the test node's runtime
 * (with the CRI plugin, in the node's network namespace, configured the way a
 * kubelet needs it; see node.ts), and a private one for the test dockerd (see
 * dockerd.ts for why it cannot manage its own).
 */

import { cniBinDir, cniConfig, nodeNetwork } from "./network.ts";
import { binary } from "./paths.ts";
import { type Daemon, makeDir, run, spawnDaemon, waitReady } from "./process.ts";

export interface ContainerdInstance {
  readonly daemon: Daemon;
  /** The gRPC socket path (no `unix://`). */
  readonly socket: string;
}

/** Starts containerd with a config of its own under `<root>/<name>`. */
export async function startContainerd(
  name: string,
  options: { cri: boolean; node?: boolean },
): Promise<ContainerdInstance> {
  const dir = makeDir(name);
  const socket = `${dir}/containerd.sock`;
  // Snapshotters that need kernel modules or special file systems only add noise.
  const disabled = ["aufs", "btrfs", "devmapper", "zfs"].map((s) =>
    `io.containerd.snapshotter.v1.${s}`
  );
  if (!options.cri) disabled.push("io.containerd.grpc.v1.cri");
  const network = options.node ? await nodeNetwork() : undefined;
  let cni = `
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${dir}/cni/bin"
    conf_dir = "${dir}/cni/conf"`;
  if (network) {
    Deno.mkdirSync(`${dir}/cni/conf`, { recursive: true });
    Deno.writeTextFileSync(
      `${dir}/cni/conf/10-${network.cniNetwork}.conflist`,
      cniConfig(network, `${dir}/cni/ipam`),
    );
    // What a kubelet needs here (FACTS.md, "A real node"): a local sandbox image
    // (no registry is reachable), no oom_score_adj below ours (we lack
    // CAP_SYS_RESOURCE), pod network namespaces under the state dir, cgroupfs.
    cni = `
  sandbox_image = "${PAUSE_IMAGE}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${cniBinDir}"
    conf_dir = "${dir}/cni/conf"`;
  }
  const config = `
version = 2
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ${JSON.stringify(disabled)}

[grpc]
  address = "${socket}"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"

[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"${cni}
`;
  Deno.writeTextFileSync(`${dir}/config.toml`, config);
  // SIGTERM and a moment, so that it can stop the shims of running containers.
  const [command, args] = network
    ? network.inNode(binary("containerd"), ["--config", `${dir}/config.toml`])
    : [binary("containerd"), ["--config", `${dir}/config.toml`]];
  const daemon = spawnDaemon(name, command, args, { graceMs: 5_000 });
  await waitReady(daemon, async () => {
    await run(binary("ctr"), ["--address", socket, "version"]);
    return true;
  });
  return { daemon, socket };
}

/** The node's sandbox ("pause") image, imported by node.ts before the kubelet starts. */
export const PAUSE_IMAGE = "vfp.test/pause:1";

export interface Containerd {
  /** The gRPC socket path (no `unix://`). */
  readonly socket: string;
  /** The namespace the tests use: Kubernetes' own, `k8s.io`. */
  readonly namespace: string;
  /** Runs `ctr` against this containerd in `namespace`; returns stdout, throws with stderr. */
  ctr(args: string[]): Promise<string>;
}

let shared: Promise<Containerd> | undefined;

/** The standalone containerd of this test run, started on first use. */
export function containerd(): Promise<Containerd> {
  shared ??= (async () => {
    const { socket } = await startContainerd("containerd", { cri: true, node: true });
    const namespace = "k8s.io";
    return {
      socket,
      namespace,
      ctr: (args) => run(binary("ctr"), ["--address", socket, "--namespace", namespace, ...args]),
    };
  })();
  return shared;
}
