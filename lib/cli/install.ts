/**
 * `veryfreshpod install`: deploys veryfreshpod into the cluster it is pointed
 * at, with nothing to fetch: the manifest is embedded, and the image is built
 * from this very executable and imported into the node's Docker Engine or
 * containerd. Says what it does, one line per step, on stdout.
 */
import { ExitCode, UserError } from "../util/errors.ts";
import { DockerEngine } from "../engine/docker.ts";
import type { OperatingSystem } from "../engine/docker_host.ts";
import {
  DEFAULT_CONTAINERD_NAMESPACE,
  DEFAULT_DOCKER_SOCKET,
  DEFAULT_SOCKET,
} from "../engine/sockets.ts";
import { ContainerdWriter } from "../engine/containerd_writer.ts";
import { checkCluster } from "../kube/cluster.ts";
import { loadKubeConfig } from "../kube/config.ts";
import { clientNodeConfig } from "../kube/client_node_config.ts";
import { kubeClient } from "../kube/rest.ts";
import { setupLogging } from "../util/log.ts";
import { describeObject, Installer } from "../install/apply.ts";
import { ensureContainerdImage } from "../install/containerd_image.ts";
import { findDockerSocket } from "../install/docker_socket.ts";
import { ensureImage, inspectImage, ROOTFS_LABEL } from "../install/image.ts";
import { DEFAULT_IMAGE, NO_DOCKER_SOCKET, renderObjects } from "../install/manifest.ts";
import { buildRootfs, type Rootfs } from "../install/rootfs.ts";
import { detectRuntime, type NodeRuntime } from "../install/runtime.ts";
import { plural } from "../util/plural.ts";
import { VERSION } from "../util/version.ts";
import { INSTALL_FLAGS } from "./flag_tables.ts";
import {
  type Command,
  type CommandContext,
  commandHelp,
  type FlagValues,
  kubeFlags,
  loggingFlags,
  parseFlags,
  stringFlag,
} from "./flags.ts";
import { dockerSocketFlag, manifestOptionsFromFlags, runtimeFlag } from "./manifest.ts";

const HELP = commandHelp(
  INSTALL_FLAGS,
  `Deploy veryfreshpod into the cluster: a namespace, a service account with only
the permissions the watch loop needs, and a Deployment that mounts the node's
container engine socket. Safe to run again: unchanged objects stay as they are.

Without --image, the image is built from this executable (the file itself and
the shared libraries it links) and imported as ${DEFAULT_IMAGE} into the
node's Docker Engine, or on a containerd node into its containerd (through
--socket, namespace ${DEFAULT_CONTAINERD_NAMESPACE}, where the kubelet looks): then run install
as root on the node itself (kind, minikube: build an image there and pass --image).

On a containerd node with a Docker Engine beside it (${DEFAULT_DOCKER_SOCKET}, or
--docker-socket), both sockets are mounted: the installed veryfreshpod watches
Docker and copies each build a workload uses into the node's containerd.`,
);

export const installCommand: Command = {
  name: "install",
  help: HELP,
  async run(args, context) {
    const flags = parseFlags(INSTALL_FLAGS, args);
    if (flags.help) {
      context.stdout(HELP + "\n");
      return ExitCode.ok;
    }
    setupLogging(loggingFlags("install", flags));
    if (stringFlag(flags, "image") === undefined) requireLinux(context.os);
    // Bad flag values fail before anything is contacted.
    const dockerSocketAsked = dockerSocketFlag("install", flags);
    const giveSocket = dockerSocketAsked !== undefined && dockerSocketAsked !== NO_DOCKER_SOCKET;
    manifestOptionsFromFlags(
      "install",
      flags,
      runtimeFlag("install", flags) ?? (giveSocket ? "containerd" : "docker"),
      stringFlag(flags, "socket") ?? DEFAULT_SOCKET.docker,
      dockerSocketAsked,
    );
    const dryRun = flags["dry-run"] === true;
    const say = (line: string) => context.stdout(`${line}\n`);
    const config = loadKubeConfig({ ...kubeFlags(flags), env: context.env });
    await using client = await kubeClient(config);
    const kube = clientNodeConfig(config);
    const serverVersion = await checkCluster(client);
    say(
      `Cluster ${client.server} (Kubernetes ${serverVersion})${
        dryRun ? "; dry run: nothing will be changed" : ""
      }`,
    );

    const node = await findRuntime(flags, () => detectRuntime(client));
    say(
      node.detected
        ? `Node "${node.node}" runs ${node.version}: mounting its socket ${node.socket}`
        : `Runtime ${node.runtime} (from --runtime): mounting the socket ${node.socket}`,
    );
    if (node.nodeCount > 1) {
      say(
        `Note: the cluster has ${node.nodeCount} nodes; veryfreshpod watches only the ` +
          "engine of the node its pod runs on",
      );
    }

    const dockerSocket = node.runtime === "containerd"
      ? await findDockerSocket(dockerSocketAsked, { getEnv: context.env, say })
      : dockerSocketAsked;
    let options = manifestOptionsFromFlags(
      "install",
      flags,
      node.runtime,
      node.socket,
      dockerSocket,
    );
    if (stringFlag(flags, "image") === undefined) {
      const rootfsDigest = await buildOwnImage(flags, context, node, dryRun, say);
      options = { ...options, rootfsDigest };
    } else {
      say(`Image ${options.image} (from --image, pulled if not on the node)`);
    }
    const objects = renderObjects(options);

    const installer = new Installer(kube, { dryRun });
    let namespaceIsNew = false;
    for (const object of objects) {
      const outcome = await installer.apply(object, namespaceIsNew && object.kind !== "Namespace");
      if (object.kind === "Namespace" && outcome === "created") namespaceIsNew = true;
      say(`${describeObject(object)} ${outcome}${dryRun ? " (dry run)" : ""}`);
    }
    say(
      dryRun
        ? "Dry run done: nothing was changed"
        : `Installed veryfreshpod ${VERSION} in namespace "${options.namespace}"; follow it with ` +
          `"kubectl -n ${options.namespace} logs -f deployment/veryfreshpod", remove it with ` +
          `"veryfreshpod uninstall"`,
    );
    return ExitCode.ok;
  },
};

/** The node's runtime: from --runtime/--socket when given, else from the Node status. */
async function findRuntime(
  flags: FlagValues,
  detect: () => Promise<NodeRuntime>,
): Promise<NodeRuntime & { detected: boolean }> {
  const runtime = runtimeFlag("install", flags);
  const socket = stringFlag(flags, "socket");
  if (runtime !== undefined) {
    return {
      runtime,
      socket: socket ?? DEFAULT_SOCKET[runtime],
      version: runtime,
      node: "",
      architecture: undefined,
      nodeCount: 1,
      detected: false,
    };
  }
  const found = await detect();
  return { ...found, socket: socket ?? found.socket, detected: true };
}

const OS_NAMES: Partial<Record<OperatingSystem, string>> = { darwin: "macOS", windows: "Windows" };

/**
 * The image is built from files of this machine (the ELF executable, its
 * interpreter and libraries), so only Linux can build it.
 */
function requireLinux(os: OperatingSystem): void {
  if (os === "linux") return;
  throw new UserError(
    `Cannot build veryfreshpod's image on ${OS_NAMES[os] ?? os}: install builds it from a ` +
      "Linux executable and the libraries it links on this machine; pass --image with an " +
      'image of veryfreshpod the node can run, or run install on Linux ("veryfreshpod run" ' +
      "works from here, against Docker Desktop)",
    ExitCode.usage,
  );
}

/** The labels of the image install builds, on both engines. */
const IMAGE_LABELS = {
  "org.opencontainers.image.title": "veryfreshpod",
  "org.opencontainers.image.version": VERSION,
};

/**
 * Builds the image from the executable and imports it into the node's engine,
 * unless the same image is there already; resolves to the digest of its root
 * filesystem.
 */
async function buildOwnImage(
  flags: FlagValues,
  context: CommandContext,
  node: NodeRuntime,
  dryRun: boolean,
  say: (line: string) => void,
): Promise<string> {
  let executable = stringFlag(flags, "executable");
  if (executable === undefined) {
    if (!Deno.build.standalone) {
      throw new UserError(
        "veryfreshpod is running from source, so its executable is Deno itself: run the " +
          "compiled binary (deno task compile), or pass --executable with it, or --image",
        ExitCode.usage,
      );
    }
    executable = Deno.execPath();
  }
  const rootfs = buildRootfs({ executable });
  if (
    rootfs.architecture !== undefined && node.architecture !== undefined &&
    rootfs.architecture !== node.architecture
  ) {
    throw new UserError(
      `The executable "${executable}" is built for ${rootfs.architecture}, but node ` +
        `"${node.node}" is ${node.architecture}: use the veryfreshpod binary for ` +
        `${node.architecture} (--executable), or pass --image`,
      ExitCode.usage,
    );
  }
  const size = `${(rootfs.tar.length / 1024 / 1024).toFixed(1)} MiB`;
  const what = `${DEFAULT_IMAGE} from ${executable} (${
    plural(rootfs.files.length, "file")
  }, ${size})`;
  if (node.runtime === "containerd") {
    await importIntoContainerd(rootfs, node, dryRun, (outcome) => say(`Image ${what}: ${outcome}`));
  } else {
    await importIntoDocker(
      flags,
      context,
      rootfs,
      dryRun,
      (outcome) => say(`Image ${what}: ${outcome}`),
    );
  }
  return rootfs.digest;
}

async function importIntoDocker(
  flags: FlagValues,
  context: CommandContext,
  rootfs: Rootfs,
  dryRun: boolean,
  report: (outcome: string) => void,
): Promise<void> {
  const engine = DockerEngine.create({
    host: stringFlag(flags, "docker-host"),
    getEnv: context.env,
    os: context.os,
  });
  try {
    if (dryRun) {
      const existing = await inspectImage(engine.client, DEFAULT_IMAGE);
      const same = existing?.labels[ROOTFS_LABEL] === rootfs.digest;
      report(`${same ? "unchanged" : "would be imported"} (dry run)`);
      return;
    }
    const { id, imported } = await ensureImage(engine.client, rootfs, DEFAULT_IMAGE, IMAGE_LABELS);
    report(
      `${imported ? "imported into" : "unchanged in"} ${engine.description} (${id.slice(0, 19)})`,
    );
  } finally {
    engine.close();
  }
}

/**
 * Imports into the node's containerd, at the socket the pod will mount: so
 * install must run on the node itself (k3s, a containerd host), as root.
 */
async function importIntoContainerd(
  rootfs: Rootfs,
  node: NodeRuntime,
  dryRun: boolean,
  report: (outcome: string) => void,
): Promise<void> {
  const client = new ContainerdWriter(node.socket, DEFAULT_CONTAINERD_NAMESPACE, {
    socketFlag: "--socket",
  });
  try {
    const { name, digest, imported } = await ensureContainerdImage(client, rootfs, DEFAULT_IMAGE, {
      architecture: rootfs.architecture ?? node.architecture ?? hostArchitecture(),
      labels: IMAGE_LABELS,
      dryRun,
    });
    const where = `containerd at ${node.socket} (namespace ${client.namespace}) as ${name}`;
    if (dryRun) {
      report(`${imported ? "would be imported into" : "unchanged in"} ${where} (dry run)`);
    } else {report(
        `${imported ? "imported into" : "unchanged in"} ${where} (${digest.slice(0, 19)})`,
      );}
  } catch (error) {
    if (!(error instanceof UserError) || !error.message.startsWith("Cannot connect")) throw error;
    throw new UserError(
      `${error.message}; install imports its image through this socket, so run it as root on ` +
        "the node, or pass --image",
      error.exitCode,
      { cause: error },
    );
  } finally {
    client.close();
  }
}

/** This machine's architecture the way Kubernetes and OCI name it. */
function hostArchitecture(): string {
  return { x86_64: "amd64", aarch64: "arm64" }[Deno.build.arch];
}
