/**
 * The image model: the engine's tagged images as one snapshot (whichever
 * engine read them), and the changes between two snapshots, which the plan
 * decides on. Plain data; the engines fill it (lib/engine/) and the diff
 * makes the changes (lib/loop/snapshot.ts).
 */

/** What is known about one tag in the engine. */
export interface TaggedImage {
  /** The image ID the tag names (Docker: `Id`; containerd: the target digest). */
  readonly id: string;
  /** False when the image has no registry digest: it exists only on this node. */
  readonly fromRegistry: boolean;
  /**
   * The image's config digest when `id` is another digest (containerd: the
   * target is a manifest or index), as a pod's `imageID` shows it; undefined
   * when unknown or equal to `id`.
   */
  readonly configId?: string | undefined;
  /**
   * When the engine says this tag was set, in milliseconds since the epoch by
   * the engine's clock (containerd: the name's `updated_at`; Docker: the
   * image's `Created`, the closest its list says); undefined when it does not
   * say. Ranks new tags of one repository that no event has ordered.
   */
  readonly time?: number | undefined;
}

/**
 * Every tagged image in the engine, keyed by the normalised reference
 * `domain/path:tag` (as `imageKey` in image_ref.ts makes it).
 */
export type ImageSnapshot = ReadonlyMap<string, TaggedImage>;

/**
 * `item` (an image, or a change that records one) with the config digest
 * learned elsewhere (image ID -> config digest: the nodes the bridge copied
 * to), when it had none; `item` itself otherwise.
 */
export function withLearnedConfigId<
  T extends { readonly id?: string | undefined; readonly configId?: string | undefined },
>(item: T, configIds: ReadonlyMap<string, string>): T {
  if (item.configId !== undefined || item.id === undefined) return item;
  const configId = configIds.get(item.id);
  return configId === undefined ? item : { ...item, configId };
}

/** `snapshot` with the config digests learned elsewhere on the images that had none. */
export function withConfigIds(
  snapshot: ImageSnapshot,
  configIds: ReadonlyMap<string, string>,
): ImageSnapshot {
  if (configIds.size === 0) return snapshot;
  const result = new Map<string, TaggedImage>();
  for (const [key, image] of snapshot) result.set(key, withLearnedConfigId(image, configIds));
  return result;
}

/** A tag that appeared (`added`) or now names another image ID (`moved`). */
export interface TagChanged {
  readonly kind: "added" | "moved";
  /** The snapshot key, `repository:tag`. */
  readonly key: string;
  readonly repository: string;
  readonly tag: string;
  /** The image ID the tag names now. */
  readonly id: string;
  /** The image ID it named before; undefined for `added`. */
  readonly previousId: string | undefined;
  /** Copied from the new snapshot entry: false when the image exists only on this node. */
  readonly fromRegistry: boolean;
  /**
   * When the tag was set, in milliseconds since the epoch by the engine's
   * clock: the snapshot entry's time, which `timeChanges` (tag_times.ts)
   * replaces with an event's time when one named the tag. Ranks new tags of
   * one repository; undefined when nothing says.
   */
  readonly time?: number | undefined;
  /**
   * By veryfreshpod's own clock: a moment the change is known to have been
   * made by (filled in by `timeChanges`). A rebuild rolls only workloads seen
   * running the tag before it; undefined means unknown, as if they were.
   */
  readonly seenAt?: number | undefined;
}

/** A tag that is gone. */
export interface TagRemoved {
  readonly kind: "removed";
  readonly key: string;
  readonly repository: string;
  readonly tag: string;
  readonly previousId: string;
}

/** One difference between two snapshots. */
export type ImageChange = TagChanged | TagRemoved;
