/**
 * containerd instances with all their state under the run root. Two kinds:
 * the standalone one the tests talk to (with the CRI plugin, as on a
 * Kubernetes node, so that image events look like a node's), and a private
 * one for the test dockerd (see dockerd.ts for why it cannot manage its own).
 */

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
  options: { cri: boolean },
): Promise<ContainerdInstance> {
  const dir = makeDir(name);
  const socket = `${dir}/containerd.sock`;
  // Snapshotters that need kernel modules or special file systems only add noise.
  const disabled = ["aufs", "btrfs", "devmapper", "zfs"].map((s) =>
    `io.containerd.snapshotter.v1.${s}`
  );
  if (!options.cri) disabled.push("io.containerd.grpc.v1.cri");
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
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${dir}/cni/bin"
    conf_dir = "${dir}/cni/conf"
`;
  Deno.writeTextFileSync(`${dir}/config.toml`, config);
  // SIGTERM and a moment, so that it can stop the shims of running containers.
  const daemon = spawnDaemon(name, binary("containerd"), ["--config", `${dir}/config.toml`], {
    graceMs: 5_000,
  });
  await waitReady(daemon, async () => {
    await run(binary("ctr"), ["--address", socket, "version"]);
    return true;
  });
  return { daemon, socket };
}

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
    const { socket } = await startContainerd("containerd", { cri: true });
    const namespace = "k8s.io";
    return {
      socket,
      namespace,
      ctr: (args) => run(binary("ctr"), ["--address", socket, "--namespace", namespace, ...args]),
    };
  })();
  return shared;
}
