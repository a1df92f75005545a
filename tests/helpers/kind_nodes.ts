/**
 * Kind-like node containers for the end-to-end tests and the bench: a node
 * image with the test set's containerd and ctr, and containers of it
 * labelled as kind labels its nodes.
 */
import { allCapabilitiesFlags, docker, engineSet } from "../env/mod.ts";
import { eventually } from "./eventually.ts";
import { DockerClient } from "../../lib/engine/docker_client.ts";
import { parseDockerHost } from "../../lib/engine/docker_host.ts";
import { importImage } from "../../lib/install/image.ts";
import { normalise, resolveClosure } from "../../lib/install/libraries.ts";
import { tarDigest } from "../../lib/install/rootfs.ts";
import { writeTar } from "../../lib/install/tar.ts";
import { binary } from "../env/paths.ts";
import { makeDir, run } from "../env/process.ts";

/**
 * The image of a kind-like node: the Debian containerd and ctr (with the ELF
 * interpreter and libraries they link), put together with the installer's
 * own image code (the closure resolver, the tar writer, the import), as a
 * kind node image holds them.
 */
export async function buildNodeImage(ref: string): Promise<string> {
  const files = new Map<string, Uint8Array>();
  let env: string[] = [];
  for (const executable of [binary("containerd"), binary("ctr")]) {
    const closure = resolveClosure(executable);
    files.set(
      `/usr/bin/${executable.slice(executable.lastIndexOf("/") + 1)}`,
      closure.executable.bytes,
    );
    if (closure.interpreter) {
      files.set(normalise(closure.interpreter.path), closure.interpreter.bytes);
    }
    for (const library of closure.libraries) files.set(normalise(library.path), library.bytes);
    const dirs = closure.libraries.map((lib) => normalise(lib.path).replace(/\/[^/]+$/, ""));
    if (dirs.length > 0) env = [`LD_LIBRARY_PATH=${[...new Set(dirs)].join(":")}`];
  }
  const directories = new Set([
    "/tmp",
    "/etc",
    "/etc/containerd",
    "/run",
    "/run/containerd",
    "/var/lib",
  ]);
  for (const path of files.keys()) {
    for (let dir = path.replace(/\/[^/]+$/, ""); dir !== ""; dir = dir.replace(/\/[^/]+$/, "")) {
      directories.add(dir);
    }
  }
  const tar = writeTar([
    ...[...directories].sort().map((path) => ({ path, type: "directory" as const, mode: 0o755 })),
    ...[...files].map(([path, bytes]) => ({ path, type: "file" as const, mode: 0o755, bytes })),
  ]);
  const client = new DockerClient(parseDockerHost((await docker()).host, "--docker-host"));
  try {
    const rootfs = {
      tar,
      digest: tarDigest(tar),
      entrypoint: "/usr/bin/containerd",
      env,
      architecture: "amd64",
      files: [],
    };
    return await importImage(client, rootfs, ref);
  } finally {
    client.close();
  }
}

/** A (nearly) privileged node container running containerd, labelled as kind labels its nodes. */
export async function startKindNode(
  name: string,
  cluster: string,
  image: string,
): Promise<{ name: string; ctr: (args: string[]) => Promise<string> }> {
  const engine = await docker();
  const dir = makeDir(`kind-node-${name}`);
  Deno.mkdirSync(`${dir}/etc`, { recursive: true });
  Deno.mkdirSync(`${dir}/run`, { recursive: true });
  // The CRI plugin's snapshotter is what the bridge must read back (kind's getSnapshotter);
  // native works on any file system, overlayfs on vfs-backed containers may not. containerd 2.x
  // reads it from config version 3's section (a version 2 file's is not carried over).
  const criSection = engineSet() === "today"
    ? 'version = 3\n[plugins."io.containerd.cri.v1.images"]'
    : 'version = 2\n[plugins."io.containerd.grpc.v1.cri".containerd]';
  Deno.writeTextFileSync(
    `${dir}/etc/config.toml`,
    `${criSection}\n  snapshotter = "native"\n[grpc]\n  address = "/run/containerd/containerd.sock"\n`,
  );
  const role = name.endsWith("control-plane") ? "control-plane" : "worker";
  await engine.run([
    // kind runs its nodes --privileged; here: every capability the engine can give, no seccomp.
    ...["run", "--detach", ...allCapabilitiesFlags()],
    ...["--security-opt", "seccomp=unconfined", "--security-opt", "apparmor=unconfined"],
    ...["--network", "none", "--name", name],
    ...["--label", `io.x-k8s.kind.cluster=${cluster}`, "--label", `io.x-k8s.kind.role=${role}`],
    ...["--volume", `${dir}/etc:/etc/containerd`, "--volume", `${dir}/run:/run/containerd`],
    ...[image, "--config", "/etc/containerd/config.toml"],
  ]);
  const ctr = (args: string[]) =>
    run(binary("ctr"), ["--address", `${dir}/run/containerd.sock`, ...args]);
  await eventually(`containerd in node container ${name}`, async () => {
    await ctr(["version"]);
    return true;
  }, 30_000);
  return { name, ctr };
}
