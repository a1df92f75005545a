/**
 * The large image the bridge, registry and node-container rows rebuild: a
 * layer of random bytes (incompressible, like a real payload) on a busybox
 * base, and on top of it a 5-byte file that each build changes.
 */
import { docker, makeImage } from "../env/mod.ts";
import { type ImageSource, isManifest } from "../../lib/registry/image_source.ts";

/** Writes `mib` MiB of random bytes to `path`. */
export async function randomFile(path: string, mib: number): Promise<void> {
  using file = await Deno.open(path, { write: true, create: true, truncate: true });
  const chunk = new Uint8Array(1 << 20);
  for (let i = 0; i < mib; i++) {
    for (let at = 0; at < chunk.length; at += 65_536) {
      crypto.getRandomValues(chunk.subarray(at, at + 65_536));
    }
    await file.write(chunk);
  }
}

/** Builds of `repository` on a `mib` MiB base, each with a new 5-byte top layer. */
export interface LargeImage {
  /** `docker build` of the next tag (`v0`, `v1`, …); the tag and when the build returned. */
  build(): Promise<[string, number]>;
  /** Removes the build context. */
  remove(): Promise<void>;
}

/** Builds the base (`<repository>-base:v1`); `cmd`, when given, becomes the image's CMD. */
export async function largeImage(
  repository: string,
  mib: number,
  cmd?: string[],
): Promise<LargeImage> {
  const engine = await docker();
  const dir = await Deno.makeTempDir({ prefix: `vfp-bench-${repository}-` });
  await makeImage(`${repository}-busybox:base`);
  await randomFile(`${dir}/payload`, mib);
  await Deno.writeTextFile(
    `${dir}/Dockerfile`,
    `FROM ${repository}-busybox:base\nCOPY payload /payload\n`,
  );
  await engine.run(["build", "--quiet", "--tag", `${repository}-base:v1`, dir]);
  await Deno.remove(`${dir}/payload`);
  await Deno.writeTextFile(
    `${dir}/Dockerfile`,
    `FROM ${repository}-base:v1\nCOPY stamp /stamp\n` +
      (cmd ? `CMD ${JSON.stringify(cmd)}\n` : ""),
  );
  let count = 0;
  return {
    async build() {
      const tag = `v${count++}`;
      await Deno.writeTextFile(`${dir}/stamp`, crypto.randomUUID().slice(0, 5));
      await engine.run(["build", "--quiet", "--tag", `${repository}:${tag}`, dir]);
      return [tag, performance.now()];
    },
    remove: () => Deno.remove(dir, { recursive: true }).catch(() => {}),
  };
}

/** The layer and config blobs of image `name` (what a push or a copy may send): digest → size. */
export async function blobSizes(source: ImageSource, name: string): Promise<Map<string, number>> {
  const image = await source.open(name, AbortSignal.timeout(300_000));
  try {
    return new Map(
      image.blobs.filter((b) => !isManifest(b.mediaType)).map((b) => [b.digest, b.size]),
    );
  } finally {
    await image.close();
  }
}
