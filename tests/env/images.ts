/**
 * Test images, made without any outside registry. An image is a root file
 * system with a static busybox (and links for a few of its applets) plus a
 * file with random content, imported with `docker import`: every call makes
 * a new image ID, as a real rebuild does, and the image can run commands
 * (`docker run --network none <ref> echo hi`).
 */

import { imageKey, parseReference } from "../../lib/model/image_ref.ts";
import { containerd } from "./containerd.ts";
import { docker } from "./dockerd.ts";
import { busyboxPath } from "./paths.ts";
import { makeDir, run } from "./process.ts";
import { registry } from "./registry.ts";

const applets = ["sh", "true", "false", "echo", "cat", "ls", "sleep", "env"];

function scratchDir(): string {
  return Deno.makeTempDirSync({ dir: makeDir("images") });
}

/**
 * Makes a new image in the test dockerd and tags it `ref`; returns its ID
 * (`sha256:…`). `files` adds files (path in the image → content).
 */
export async function makeImage(
  ref: string,
  files: Record<string, string> = {},
): Promise<string> {
  const engine = await docker();
  const dir = scratchDir();
  try {
    const rootfs = `${dir}/rootfs`;
    Deno.mkdirSync(`${rootfs}/bin`, { recursive: true });
    Deno.copyFileSync(busyboxPath, `${rootfs}/bin/busybox`);
    for (const applet of applets) Deno.symlinkSync("busybox", `${rootfs}/bin/${applet}`);
    Deno.writeTextFileSync(`${rootfs}/build-id`, `${crypto.randomUUID()}\n`);
    for (const [path, content] of Object.entries(files)) {
      const target = `${rootfs}/${path.replace(/^\/+/, "")}`;
      Deno.mkdirSync(target.slice(0, target.lastIndexOf("/")), { recursive: true });
      Deno.writeTextFileSync(target, content);
    }
    await run("tar", ["-C", rootfs, "-cf", `${dir}/rootfs.tar`, "."]);
    return await engine.run([
      ...["import", "--change", "ENV PATH=/bin", "--change", 'CMD ["sh"]'],
      ...[`${dir}/rootfs.tar`, ref],
    ]);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
}

/** The ID of the image `ref` names in the test dockerd. */
export async function imageId(ref: string): Promise<string> {
  return await (await docker()).run(["image", "inspect", "--format", "{{.Id}}", ref]);
}

/**
 * The config digest of the image `ref` names in the test dockerd: what a pod
 * on a containerd node reports as its `imageID`. On the classic store that is
 * the image ID; on the containerd store the ID is the manifest's (or, for a
 * BuildKit build, the index's) digest, so it is read from `docker save`'s
 * manifest.json, which names the config of the platform's image.
 */
export async function configDigest(ref: string): Promise<string> {
  if ((await docker()).store === "classic") return await imageId(ref);
  const tarball = await saveImage(ref);
  try {
    const manifest = JSON.parse(await run("tar", ["-xOf", tarball, "manifest.json"]));
    const config = String(manifest?.[0]?.Config ?? "");
    const hex = config.match(/([0-9a-f]{64})/)?.[1];
    if (!hex) throw new Error(`docker save of ${ref} names no config: ${config}`);
    return `sha256:${hex}`;
  } finally {
    Deno.removeSync(tarball.slice(0, tarball.lastIndexOf("/")), { recursive: true });
  }
}

/**
 * Tags `ref` as `<registry>/<name>` (default: `ref` itself, e.g. `app:v1`)
 * and pushes it to the test registry; returns the registry reference.
 */
export async function pushToRegistry(ref: string, name = ref): Promise<string> {
  const engine = await docker();
  const remote = `${(await registry()).address}/${name}`;
  await engine.run(["tag", ref, remote]);
  await engine.run(["push", remote]);
  return remote;
}

/** Writes `refs` with `docker save` into a new tarball; returns its path. */
export async function saveImage(...refs: string[]): Promise<string> {
  const path = `${scratchDir()}/images.tar`;
  await (await docker()).run(["save", "-o", path, ...refs]);
  return path;
}

/** `docker load` of a tarball made by saveImage. */
export async function loadImage(path: string): Promise<void> {
  await (await docker()).run(["load", "-i", path]);
}

/**
 * Copies `refs` from the test dockerd into the standalone containerd with
 * `docker save` and `ctr images import`, as `k3s ctr images import` does on a
 * node; returns the names containerd gave them (`docker.io/library/app:v1`),
 * each checked to be there. (ctr's own output differs between 1.6 and 2.x.)
 */
export async function importIntoContainerd(...refs: string[]): Promise<string[]> {
  const tarball = await saveImage(...refs);
  try {
    const ctr = await containerd();
    await ctr.ctr(["images", "import", tarball]);
    const names = refs.map((ref) => imageKey(parseReference(ref)) ?? ref);
    const listed = new Set((await ctr.ctr(["images", "ls", "-q"])).split("\n"));
    const missing = names.filter((name) => !listed.has(name));
    if (missing.length > 0) {
      throw new Error(`ctr images import left no ${missing.join(", ")} in the test containerd`);
    }
    return names;
  } finally {
    Deno.removeSync(tarball.slice(0, tarball.lastIndexOf("/")), { recursive: true });
  }
}

/**
 * A new image `ref` (makeImage) imported into the node's containerd
 * (importIntoContainerd); returns what a pod running it reports as its
 * `imageID`, the config digest (configDigest).
 */
export async function makeImageOnNode(
  ref: string,
  files: Record<string, string> = {},
): Promise<string> {
  await makeImage(ref, files);
  await importIntoContainerd(ref);
  return await configDigest(ref);
}
