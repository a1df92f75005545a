/**
 * Which blobs a node needs to run an image: from its target (a manifest, or
 * an index of manifests), the manifest of the node's platform with its config
 * and layers. Every one of them must reach the node or be there already; only
 * an index's other children (other platforms, attestations) may be absent
 * anywhere. Pure: the JSON of manifests and indexes comes from `read`.
 */
import { hostPlatform, type Platform } from "../engine/config_digest.ts";
import type { Descriptor } from "./docker_archive.ts";
import { INDEX_TYPES, MANIFEST_TYPES } from "./feed.ts";

export type { Descriptor };

/** What a blob is to the image, for messages. */
export type BlobRole = "index" | "manifest" | "config" | "layer";

/** One blob the node needs, with containerd's GC labels (what it references). */
export interface NeededBlob extends Descriptor {
  readonly role: BlobRole;
  readonly labels: Record<string, string>;
}

/** The node's platform, as Kubernetes reports it (`linux`, `amd64`). */
export type { Platform };
export { hostPlatform };

/** The blobs of an image for one platform: children first, the target last. */
export interface ImageGraph {
  readonly target: Descriptor;
  readonly blobs: readonly NeededBlob[];
  /** The config digest of the platform's manifest: the image ID the CRI reports. */
  readonly configDigest: string;
}

/** A blob the image needs that its source does not have (nor the node). */
export class MissingBlobError extends Error {
  override readonly name = "MissingBlobError";
  /** `where` names the source; `nodeToo` says the node lacks it as well. */
  constructor(readonly role: BlobRole, readonly digest: string, where: string, nodeToo = false) {
    super(
      nodeToo
        ? `neither ${where} nor the node has the image's ${role} ${digest}`
        : `${where} lacks the image's ${role} ${digest}`,
    );
  }
}

/** `linux/amd64`, for messages and `ctr --platform`. */
export function platformText(platform: Platform): string {
  return `${platform.os}/${platform.architecture}`;
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null ? value as Record<string, unknown> : {};
}

/** A descriptor of a JSON document, or undefined when it is not one. */
export function descriptorOf(value: unknown): Descriptor | undefined {
  const { mediaType, digest, size } = record(value);
  if (typeof digest !== "string" || !/^sha256:[0-9a-f]{64}$/.test(digest)) return undefined;
  if (typeof size !== "number" || !(size >= 0)) return undefined;
  return { mediaType: typeof mediaType === "string" ? mediaType : "", digest, size };
}

function isIndex(mediaType: string): boolean {
  return INDEX_TYPES.includes(mediaType);
}

function isManifest(mediaType: string): boolean {
  return MANIFEST_TYPES.includes(mediaType);
}

/**
 * The index's children the node runs: those of its platform (a child that
 * names none counts as any platform). Attestation manifests name
 * `unknown/unknown`, so they never match.
 */
function platformChildren(children: readonly unknown[], platform: Platform): Descriptor[] {
  return children.flatMap((child) => {
    const descriptor = descriptorOf(child);
    if (descriptor === undefined) return [];
    const named = record(record(child).platform);
    if (Object.keys(named).length === 0) return [descriptor];
    return named.os === platform.os && named.architecture === platform.architecture
      ? [descriptor]
      : [];
  });
}

/**
 * The graph of the image whose target is `target`, for `platform`. `read`
 * gives the bytes of a manifest or index, or undefined when neither the
 * source nor the node has it; `where` names the source in messages. Throws a
 * MissingBlobError for a needed manifest that is nowhere, an Error for an
 * index without the platform or a document that is not what it claims.
 */
export async function imageGraph(
  target: Descriptor,
  platform: Platform,
  read: (digest: string) => Promise<Uint8Array | undefined>,
  where: string,
): Promise<ImageGraph> {
  const blobs = new Map<string, NeededBlob>();
  let configDigest: string | undefined;
  const json = async (node: Descriptor, role: BlobRole) => {
    const bytes = await read(node.digest);
    if (bytes === undefined) throw new MissingBlobError(role, node.digest, where, true);
    try {
      return record(JSON.parse(new TextDecoder().decode(bytes)));
    } catch {
      throw new Error(`the ${role} ${node.digest} in ${where} is not JSON`);
    }
  };
  const visit = async (node: Descriptor, depth: number): Promise<void> => {
    if (blobs.has(node.digest)) return;
    if (depth > 4) throw new Error(`the image in ${where} nests indexes more than 4 deep`);
    const labels: Record<string, string> = {};
    if (isIndex(node.mediaType)) {
      const body = await json(node, "index");
      const children = Array.isArray(body.manifests) ? body.manifests : [];
      // Every child is referenced, so that GC keeps whichever of them the node gets.
      children.map(descriptorOf).forEach((child, i) => {
        if (child !== undefined) labels[`containerd.io/gc.ref.content.m.${i}`] = child.digest;
      });
      const wanted = platformChildren(children, platform);
      if (wanted.length === 0) {
        throw new Error(
          `the image in ${where} has no manifest for the node's platform ${platformText(platform)}`,
        );
      }
      for (const child of wanted) await visit(child, depth + 1);
      blobs.set(node.digest, { ...node, role: "index", labels });
      return;
    }
    if (!isManifest(node.mediaType)) {
      throw new Error(`the image in ${where} is a ${node.mediaType || "blob"}, not a manifest`);
    }
    const body = await json(node, "manifest");
    const config = descriptorOf(body.config);
    if (config === undefined) throw new Error(`the manifest ${node.digest} names no config`);
    labels["containerd.io/gc.ref.content.config"] = config.digest;
    configDigest ??= config.digest;
    blobs.set(config.digest, { ...config, role: "config", labels: {} });
    const layers = Array.isArray(body.layers) ? body.layers : [];
    for (const [i, value] of layers.entries()) {
      const layer = descriptorOf(value);
      if (layer === undefined) throw new Error(`the manifest ${node.digest} has a bad layer ${i}`);
      labels[`containerd.io/gc.ref.content.l.${i}`] = layer.digest;
      if (!blobs.has(layer.digest)) {
        blobs.set(layer.digest, { ...layer, role: "layer", labels: {} });
      }
    }
    blobs.set(node.digest, { ...node, role: "manifest", labels });
  };
  await visit(target, 0);
  return { target, blobs: [...blobs.values()], configDigest: configDigest! };
}
