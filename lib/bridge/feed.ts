/**
 * What the bridge needs from one way of reaching a node's containerd: check
 * whether the node holds an image, and copy one there from Docker. Two
 * implementations: a containerd socket on this host (socket_feed.ts) and a
 * node container in Docker (container_feed.ts).
 */

/** One image to have on the nodes. */
export interface BridgeImage {
  /** The normalised reference, as Docker takes it and as containerd names it (`docker.io/library/app:v2`). */
  readonly name: string;
  /** Docker's image ID for it now. */
  readonly id: string;
  /**
   * Its config digest, when that is not `id` (Docker's containerd store: the
   * ID is the manifest or index digest): what a node that imported the
   * platform's manifest alone holds it by.
   */
  readonly configId?: string | undefined;
}

/** One way to reach the containerd of one or more nodes. */
export interface NodeFeed {
  /** The Kubernetes nodes it feeds. */
  readonly nodes: readonly string[];
  /** How, for the start-up lines: `through the containerd socket /run/k3s/…`. */
  readonly how: string;
  /**
   * True when the node's containerd (namespace `k8s.io`) has `image.name` and
   * it is Docker's image `image.id`: the same target, or a manifest whose
   * config is that ID (or `image.configId`).
   */
  has(image: BridgeImage, signal: AbortSignal): Promise<boolean>;
  /** Copies the image from Docker and names it `image.name` on the node. */
  copy(image: BridgeImage, signal: AbortSignal): Promise<CopyReport>;
  /**
   * The config digest of the image the node holds as `image.name` (of the
   * node's platform, for an index), which is what its pods report as their
   * `imageID`; undefined when the node does not hold it.
   */
  configOf(image: BridgeImage, signal: AbortSignal): Promise<string | undefined>;
  close(): void;
}

/** What one copy sent. */
export interface CopyReport {
  /** Blobs written, and blobs the node had already. */
  readonly written: number;
  readonly skipped: number;
  /** Bytes of blob content sent to the node. */
  readonly bytes: number;
  /** Where the blobs were read: `docker save`, or Docker's containerd. */
  readonly source?: string;
}

/** Manifest media types whose `config.digest` is the image ID the CRI reports. */
export const MANIFEST_TYPES = [
  "application/vnd.docker.distribution.manifest.v2+json",
  "application/vnd.oci.image.manifest.v1+json",
];

/** Index media types: their children are manifests, one per platform. */
export const INDEX_TYPES = [
  "application/vnd.docker.distribution.manifest.list.v2+json",
  "application/vnd.oci.image.index.v1+json",
];

/**
 * True when the manifest, or one of the index's manifests, has `id` as its
 * config: the node holds Docker's image (an image pulled on the node has an
 * index, Docker keeps the one platform's manifest). `read` fetches a child.
 */
export async function holdsConfig(
  mediaType: string,
  bytes: Uint8Array,
  id: string,
  read: (digest: string) => Promise<Uint8Array | undefined>,
): Promise<boolean> {
  if (MANIFEST_TYPES.includes(mediaType)) return manifestHasConfig(bytes, id);
  if (!INDEX_TYPES.includes(mediaType)) return false;
  let children: unknown[] = [];
  try {
    const body = JSON.parse(new TextDecoder().decode(bytes)) as { manifests?: unknown };
    if (Array.isArray(body.manifests)) children = body.manifests.slice(0, 32);
  } catch {
    return false;
  }
  for (const child of children) {
    const { digest, mediaType: childType } = (child ?? {}) as Record<string, unknown>;
    if (typeof digest !== "string" || typeof childType !== "string") continue;
    if (!MANIFEST_TYPES.includes(childType)) continue;
    const manifest = await read(digest);
    if (manifest !== undefined && manifestHasConfig(manifest, id)) return true;
  }
  return false;
}

/** True when a manifest (bytes as stored) has `id` as its config digest. */
export function manifestHasConfig(bytes: Uint8Array, id: string): boolean {
  try {
    const body = JSON.parse(new TextDecoder().decode(bytes)) as { config?: { digest?: unknown } };
    return body.config?.digest === id;
  } catch {
    return false;
  }
}
