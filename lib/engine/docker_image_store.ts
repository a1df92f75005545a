/**
 * What Docker's containerd image store (the default from Docker 29) hides
 * behind its image list, read where it can be:
 *
 * - an image ID there is the manifest or index digest, while a pod on a
 *   containerd node reports the config digest: `status` compares like with
 *   like only if the record holds both, so each new or moved tag gets its
 *   config digest, read from the blobs in Docker's own containerd;
 * - repo digests there are no sign of a pull (every built image has one), so
 *   "no repo digest" no longer means "never came from a registry". What tells them
 *   apart: containerd labels what it pulls or pushes with
 *   `containerd.io/distribution.source.<registry>=<repository,…>`, and a
 *   build, load or import writes no such label on the image's target. Docker
 *   reads the same labels for image inspect's `Identity.Pull` (API 1.53+),
 *   which serves when Docker's containerd socket cannot be opened.
 *
 * Only tags that are new or moved since the previous snapshot are looked up
 * (the baseline acts on nothing); what is learned per target is kept, since
 * content is immutable, until no tag names the target any more.
 */
import { parseReference } from "../model/image_ref.ts";
import { type BlobReader, configDigest } from "./config_digest.ts";
import type { ImageSnapshot, TaggedImage } from "../model/image_snapshot.ts";

/** The snapshotter plugin type Docker names as its `driver-type` when the containerd store is on. */
const CONTAINERD_STORE_DRIVER_TYPE = "io.containerd.snapshotter.v1";
/** The label prefix containerd puts on pulled and pushed content. */
const DISTRIBUTION_SOURCE = "containerd.io/distribution.source.";

/** What `GET /info` says about where Docker keeps its images. */
export interface DockerStoreInfo {
  /** True when the containerd image store is on. */
  readonly containerdStore: boolean;
  /** Docker's containerd socket (`Containerd.Address`, API 1.46+), when it says. */
  readonly socket: string | undefined;
  /** The containerd namespace of Docker's images (`moby` unless configured otherwise). */
  readonly namespace: string;
}

/** Reads the store type and Docker's containerd from a `GET /info` body. */
export function parseStoreInfo(body: unknown): DockerStoreInfo {
  const info = (typeof body === "object" && body !== null ? body : {}) as {
    DriverStatus?: unknown;
    Containerd?: { Address?: unknown; Namespaces?: { Containers?: unknown } } | null;
  };
  const status = Array.isArray(info.DriverStatus) ? info.DriverStatus : [];
  const containerdStore = status.some((pair) =>
    Array.isArray(pair) && pair[0] === "driver-type" && pair[1] === CONTAINERD_STORE_DRIVER_TYPE
  );
  const address = info.Containerd?.Address;
  const namespace = info.Containerd?.Namespaces?.Containers;
  return {
    containerdStore,
    socket: typeof address === "string" && address !== ""
      ? address.replace(/^unix:\/\//, "")
      : undefined,
    namespace: typeof namespace === "string" && namespace !== "" ? namespace : "moby",
  };
}

/**
 * The repositories (`registry/path`, the registry without its port, as
 * containerd keeps it) a blob's labels say it was pulled from or pushed to.
 */
export function distributionSources(labels: Readonly<Record<string, string>>): Set<string> {
  const sources = new Set<string>();
  for (const [key, value] of Object.entries(labels)) {
    if (!key.startsWith(DISTRIBUTION_SOURCE)) continue;
    const registry = key.slice(DISTRIBUTION_SOURCE.length);
    for (const path of value.split(",")) if (path !== "") sources.add(`${registry}/${path}`);
  }
  return sources;
}

/**
 * The tag's repository as a distribution source names it: the registry
 * without its port (`localhost:5000/app` → `localhost/app`). Undefined when
 * the key does not parse.
 */
export function sourceName(key: string): string | undefined {
  try {
    const ref = parseReference(key);
    return `${ref.domain.replace(/:\d+$/, "")}/${ref.path}`;
  } catch {
    return undefined;
  }
}

/** What is known of one target: its config digest, and the repositories it came from. */
export interface TargetFacts {
  readonly configId?: string | undefined;
  /** Undefined when nothing could say (then the list's own answer stands). */
  readonly sources?: ReadonlySet<string> | undefined;
}

/** How facts about a target are learned. */
export interface TargetReader {
  /** The target's config digest, from its manifest or index; undefined when unknown. */
  configId?(target: string): Promise<string | undefined>;
  /** The repositories the target came from (empty: none); undefined when nothing can say. */
  sources(target: string): Promise<ReadonlySet<string> | undefined>;
}

/** A TargetReader over Docker's containerd: blobs and their labels. */
export function contentReader(
  read: BlobReader,
  labels: (digest: string) => Promise<Readonly<Record<string, string>> | undefined>,
): TargetReader {
  return {
    configId: (target) => configDigest(read, target),
    sources: async (target) => {
      const found = await labels(target);
      return found === undefined ? undefined : distributionSources(found);
    },
  };
}

/** Facts per target, learned once for the tags that change. */
export class ImageStoreFacts {
  readonly #known = new Map<string, TargetFacts>();
  #previous: ImageSnapshot | undefined;

  /**
   * `snapshot` with `configId` and `fromRegistry` from what `reader` says of
   * each new or moved tag's target (and of unchanged tags whose target is
   * known already). The first call, the baseline, reads nothing. The list's
   * own answer is not used: this store's repo digests are no sign of a pull
   * (Docker 29 lists one `repo@<ID>` per image, of one of its tags, whether
   * pulled or built), so a tag nothing could say of counts as from a
   * registry: unknown, no warning.
   */
  async annotate(
    snapshot: ImageSnapshot,
    reader: TargetReader,
  ): Promise<Map<string, TaggedImage>> {
    const previous = this.#previous;
    const result = new Map<string, TaggedImage>();
    for (const [key, image] of snapshot) {
      let facts = this.#known.get(image.id);
      if (facts === undefined && previous !== undefined && previous.get(key)?.id !== image.id) {
        facts = await learn(reader, image.id);
        this.#known.set(image.id, facts);
      }
      result.set(key, withFacts(key, image, facts ?? {}));
    }
    // Forget targets no tag names any more: memory stays bounded by the image list.
    const live = new Set([...snapshot.values()].map((i) => i.id));
    for (const target of this.#known.keys()) if (!live.has(target)) this.#known.delete(target);
    this.#previous = result;
    return result;
  }
}

async function learn(reader: TargetReader, target: string): Promise<TargetFacts> {
  const [configId, sources] = await Promise.all([
    reader.configId?.(target).catch(() => undefined),
    reader.sources(target).catch(() => undefined),
  ]);
  return { configId, sources };
}

function withFacts(key: string, image: TaggedImage, facts: TargetFacts): TaggedImage {
  const name = sourceName(key);
  const fromRegistry = facts.sources === undefined || name === undefined
    ? true
    : facts.sources.has(name);
  const configId = facts.configId !== undefined && facts.configId !== image.id
    ? facts.configId
    : image.configId;
  return {
    ...image,
    fromRegistry,
    ...(configId === undefined ? {} : { configId }),
  };
}
