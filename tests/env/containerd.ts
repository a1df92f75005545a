/**
 * containerd instances with all their state under the run root. Two kinds:
 * the standalone one the tests talk to, which is also the test node's runtime
 * (with the CRI plugin, in the node's network namespace, configured the way a
 * kubelet needs it; see node.ts), and a private one for the test dockerd (see
 * dockerd.ts for why it cannot manage its own).
 */

import { cniBinDir, cniConfig, type NodeNetwork, nodeNetwork } from "./network.ts";
import { enginePath, engineSet } from "./engines.ts";
import { binary } from "./paths.ts";
import { type Daemon, makeDir, run, spawnDaemon, waitReady } from "./process.ts";

export interface ContainerdInstance {
  readonly daemon: Daemon;
  /** The gRPC socket path (no `unix://`). */
  readonly socket: string;
}

/** What the test containerd's config says beyond its paths (see startContainerd). */
interface ConfigInput {
  readonly dir: string;
  readonly socket: string;
  readonly cri: boolean;
  /** The node's CNI configuration directory; absent for a containerd that runs no pods. */
  readonly cniConfDir?: string;
  /** Where containerd 2.x puts its shims' sockets: a short path (see startContainerd). */
  readonly shimSocketDir: string;
  /** The CRI's registry hosts directory (`hosts.toml` per host), as kind's nodes have one. */
  readonly registryConfigDir?: string;
}

/** The CRI's `config_path` line under `section`, when the node has a registry hosts directory. */
function registryConfigPath(section: string, dir: string | undefined, indent: string): string {
  return dir === undefined
    ? ""
    : `\n${indent}[plugins."${section}".registry]\n${indent}  config_path = "${dir}"`;
}

// Snapshotters that need kernel modules or special file systems only add noise.
const unusedSnapshotters = ["aufs", "btrfs", "devmapper", "zfs"].map((s) =>
  `io.containerd.snapshotter.v1.${s}`
);

/**
 * A containerd 1.6 config (version 2). For the node, what a kubelet needs here
 * (FACTS.md, "A real node"): a local sandbox image (no registry is reachable),
 * no oom_score_adj below ours (we lack CAP_SYS_RESOURCE), pod network
 * namespaces under the state dir, cgroupfs.
 */
function configVersion2({ dir, socket, cri, cniConfDir, registryConfigDir }: ConfigInput): string {
  const disabled = [...unusedSnapshotters, ...(cri ? [] : ["io.containerd.grpc.v1.cri"])];
  const node = cniConfDir
    ? `
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
        # runc's state, by default in the machine-wide /run/containerd/runc.
        Root = "${dir}/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${cniBinDir}"
    conf_dir = "${cniConfDir}"${
      registryConfigPath("io.containerd.grpc.v1.cri", registryConfigDir, "  ")
    }`
    : `
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "${dir}/cni/bin"
    conf_dir = "${dir}/cni/conf"`;
  return `
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
  stream_server_port = "0"${node}
`;
}

/**
 * A containerd 2.x config (version 3): the CRI settings moved to the
 * `io.containerd.cri.v1.runtime` and `.images` plugins, the sandbox image is a
 * pinned image, and the shims' sockets would go to /run/containerd/s unless
 * told otherwise. NRI is off: nothing here plugs into it, and its socket
 * would be machine-wide (/var/run/nri). `imports` is empty, or containerd 2.3
 * would also read the machine's /etc/containerd/conf.d. (2.3 reads version 3
 * and says it migrated it to its version 4.)
 */
function configVersion3(
  { dir, socket, cri, cniConfDir, shimSocketDir, registryConfigDir }: ConfigInput,
): string {
  const criPlugins = [
    "io.containerd.grpc.v1.cri",
    "io.containerd.cri.v1.runtime",
    "io.containerd.cri.v1.images",
    "io.containerd.podsandbox.controller.v1.podsandbox",
  ];
  const disabled = [...unusedSnapshotters, ...(cri ? [] : criPlugins)];
  const node = cniConfDir
    ? `
[plugins."io.containerd.cri.v1.images"]
  snapshotter = "overlayfs"
  [plugins."io.containerd.cri.v1.images".pinned_images]
    sandbox = "${PAUSE_IMAGE}"${
      registryConfigPath("io.containerd.cri.v1.images", registryConfigDir, "  ")
    }

[plugins."io.containerd.cri.v1.runtime"]
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  [plugins."io.containerd.cri.v1.runtime".containerd]
    default_runtime_name = "runc"
    [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.cri.v1.runtime".containerd.runtimes.runc.options]
        SystemdCgroup = false
        # runc's state, by default in the machine-wide /run/containerd/runc.
        Root = "${dir}/runc"
  [plugins."io.containerd.cri.v1.runtime".cni]
    bin_dirs = ["${cniBinDir}"]
    conf_dir = "${cniConfDir}"
`
    : cri
    ? `
[plugins."io.containerd.cri.v1.runtime".cni]
  bin_dirs = ["${dir}/cni/bin"]
  conf_dir = "${dir}/cni/conf"
`
    : "";
  const criServer = cri
    ? `
[plugins."io.containerd.grpc.v1.cri"]
  disable_tcp_service = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
`
    : "";
  return `
version = 3
root = "${dir}/root"
state = "${dir}/state"
disabled_plugins = ${JSON.stringify(disabled)}
imports = []

[grpc]
  address = "${socket}"

[debug]
  address = ""

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = "${dir}/opt"

[plugins."io.containerd.nri.v1.nri"]
  disable = true

[plugins."io.containerd.shim.v1.manager"]
  socket_dir = "${shimSocketDir}"
${criServer}${node}`;
}

let shimSocketDirs = 0;

/** Starts containerd with a config of its own under `<root>/<name>`. */
export async function startContainerd(
  name: string,
  options: {
    cri: boolean;
    node?: boolean;
    /** Another node's network than the first's (second_node.ts). */
    network?: NodeNetwork;
    registryConfigDir?: string;
  },
): Promise<ContainerdInstance> {
  const dir = makeDir(name);
  const socket = `${dir}/containerd.sock`;
  const network = options.network ?? (options.node ? await nodeNetwork() : undefined);
  let cniConfDir: string | undefined;
  if (network) {
    cniConfDir = `${dir}/cni/conf`;
    Deno.mkdirSync(cniConfDir, { recursive: true });
    Deno.writeTextFileSync(
      `${cniConfDir}/10-${network.cniNetwork}.conflist`,
      cniConfig(network, `${dir}/cni/ipam`),
    );
  }
  // A shim's socket is named by a 64-digit hash: under `<root>/<name>/` it could pass the
  // 107 bytes a unix socket path may have.
  const shimSocketDir = makeDir(`s${++shimSocketDirs}`);
  const input = {
    dir,
    socket,
    cri: options.cri,
    shimSocketDir,
    ...(cniConfDir ? { cniConfDir } : {}),
    ...(options.registryConfigDir ? { registryConfigDir: options.registryConfigDir } : {}),
  };
  // containerd 1.6 is the compatibility set's; today's is 2.x.
  const config = engineSet() === "compat" ? configVersion2(input) : configVersion3(input);
  Deno.writeTextFileSync(`${dir}/config.toml`, config);
  // SIGTERM and a moment, so that it can stop the shims of running containers.
  const [command, args] = network
    ? network.inNode(binary("containerd"), ["--config", `${dir}/config.toml`])
    : [binary("containerd"), ["--config", `${dir}/config.toml`]];
  // It finds the shim, and the shim runc, through the PATH.
  const daemon = spawnDaemon(name, command, args, {
    graceMs: 5_000,
    env: { PATH: enginePath() },
  });
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
