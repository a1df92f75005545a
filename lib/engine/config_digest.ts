/**
 * The config digest of a containerd image, which is what a pod on containerd
 * reports as its `imageID` for a local image, while containerd names the
 * image by its target (a manifest or an index). `veryfreshpod status` compares
 * the two like with like only if the record holds both, so each new or moved
 * tag gets its config digest: from the CRI plugin's own ID reference
 * (`sha256:<config>` pointing at the same target) when there is one, else by
 * reading the manifest (and, for an index, this platform's manifest) from the
 * content store. Content is immutable, so what is learned is kept.
 */
import type { ImageSnapshot, TaggedImage } from "../model/image_snapshot.ts";

/** Reads a blob by digest; undefined when the store does not have it. */
export type BlobReader = (digest: string) => Promise<Uint8Array | undefined>;

/** An OCI platform: `linux/amd64`. */
export interface Platform {
  readonly os: string;
  readonly architecture: string;
}

/** The platform of this machine, as image indexes name it. */
export function hostPlatform(): Platform {
  const arch = Deno.build.arch === "aarch64" ? "arm64" : "amd64";
  return { os: "linux", architecture: arch };
}

const ID_REF = /^sha256:[0-9a-f]{64}$/;

/**
 * The config digest of the image whose target is `target`; undefined when the
 * blobs are missing or are neither a manifest nor an index.
 */
export async function configDigest(
  read: BlobReader,
  target: string,
  platform: Platform = hostPlatform(),
): Promise<string | undefined> {
  let digest = target;
  // An index may point at another index; two levels are as deep as images go.
  for (let depth = 0; depth < 3; depth++) {
    const blob = await read(digest);
    if (blob === undefined) return undefined;
    let json: {
      config?: { digest?: unknown };
      manifests?: Array<{ digest?: unknown; platform?: { os?: unknown; architecture?: unknown } }>;
    };
    try {
      json = JSON.parse(new TextDecoder().decode(blob));
    } catch {
      return undefined;
    }
    if (typeof json.config?.digest === "string") return json.config.digest;
    if (!Array.isArray(json.manifests)) return undefined;
    const match = json.manifests.find((m) =>
      m.platform?.os === platform.os && m.platform?.architecture === platform.architecture
    ) ?? (json.manifests.length === 1 ? json.manifests[0] : undefined);
    if (typeof match?.digest !== "string") {
      return undefined;
    }
    digest = match.digest;
  }
  return undefined;
}

/** Config digests by target, learned once per target. */
export class ConfigDigests {
  readonly #known = new Map<string, string>();
  #previous: ImageSnapshot | undefined;

  /**
   * `snapshot` with `configId` filled in. `names` are every image name with
   * its target (the CRI plugin's ID references among them). Only tags that
   * are new or moved since the last call are read from the store: the first
   * call (the baseline, which acts on nothing) reads nothing.
   */
  async annotate(
    snapshot: ReadonlyMap<string, TaggedImage>,
    names: Iterable<{ name: string; target: string }>,
    read: BlobReader,
  ): Promise<Map<string, TaggedImage>> {
    for (const { name, target } of names) {
      if (ID_REF.test(name) && name !== target) this.#known.set(target, name);
    }
    const previous = this.#previous;
    const result = new Map<string, TaggedImage>();
    for (const [key, image] of snapshot) {
      let configId = this.#known.get(image.id);
      if (configId === undefined && previous !== undefined && previous.get(key)?.id !== image.id) {
        configId = await configDigest(read, image.id).catch(() => undefined);
        if (configId !== undefined) this.#known.set(image.id, configId);
      }
      result.set(key, configId && configId !== image.id ? { ...image, configId } : image);
    }
    // Forget targets no tag names any more: memory stays bounded by the image list.
    const live = new Set([...snapshot.values()].map((i) => i.id));
    for (const target of this.#known.keys()) if (!live.has(target)) this.#known.delete(target);
    this.#previous = result;
    return result;
  }
}
