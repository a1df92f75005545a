/**
 * The difference between two image snapshots. Engines report events whose
 * fields differ between versions (and some builds report nothing), so
 * veryfreshpod re-reads the whole image list and acts on what this diff says
 * changed. The one event it acts on before that read is a tag that names its
 * image for certain (`withToldTags`); the read that follows confirms it.
 */
import type {
  ImageChange,
  ImageSnapshot,
  TagChanged,
  TaggedImage,
} from "../model/image_snapshot.ts";
import { splitImageKey } from "../model/image_ref.ts";

/**
 * What changed from `before` to `after`, one change per key, sorted by key
 * (UTF-16 code unit order) so that equal inputs always give equal output,
 * whatever order the engine listed its images in. A change of `fromRegistry`
 * alone is not a change: the image is the same. Keys that are not
 * `repository:tag` cannot match any workload and are left out.
 */
export function diffSnapshots(before: ImageSnapshot, after: ImageSnapshot): ImageChange[] {
  const changes: ImageChange[] = [];
  for (const [key, image] of after) {
    const previous = before.get(key);
    if (previous !== undefined && previous.id === image.id) continue;
    const parts = splitImageKey(key);
    if (parts === undefined) continue;
    const change: TagChanged = {
      kind: previous === undefined ? "added" : "moved",
      key,
      repository: parts.repository,
      tag: parts.tag,
      id: image.id,
      previousId: previous?.id,
      fromRegistry: image.fromRegistry,
    };
    changes.push(image.time === undefined ? change : { ...change, time: image.time });
  }
  for (const [key, image] of before) {
    if (after.has(key)) continue;
    const parts = splitImageKey(key);
    if (parts === undefined) continue;
    changes.push({
      kind: "removed",
      key,
      repository: parts.repository,
      tag: parts.tag,
      previousId: image.id,
    });
  }
  return changes.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
}

/** A tag an engine event said was set, and the image ID it names now. */
export interface ToldTag {
  /** `domain/path:tag`, as `imageKey` makes it. */
  readonly key: string;
  readonly id: string;
}

/**
 * `snapshot` with the tags the events told of, before the list is re-read;
 * undefined when they change nothing. What an event does not say (config
 * digest, the engine's time) is taken from another tag of the same image,
 * else the image is one only this node has (a build, which is what a tag of
 * an unknown image is). "From a registry" holds per repository: it is copied
 * only from a tag of the same repository (an image pulled as `alpine` and
 * tagged `app:dev` cannot be pulled as `app`).
 */
export function withToldTags(
  snapshot: ImageSnapshot,
  told: readonly ToldTag[],
): ImageSnapshot | undefined {
  const news = told.filter(({ key, id }) => snapshot.get(key)?.id !== id);
  if (news.length === 0) return undefined;
  const byId = new Map<string, TaggedImage>();
  const pulled = new Set<string>();
  for (const [key, image] of snapshot) {
    byId.set(image.id, image);
    const repository = splitImageKey(key)?.repository;
    if (image.fromRegistry && repository !== undefined) pulled.add(`${repository}@${image.id}`);
  }
  const after = new Map(snapshot);
  for (const { key, id } of news) {
    const sibling = byId.get(id);
    const fromRegistry = pulled.has(`${splitImageKey(key)?.repository}@${id}`);
    after.set(key, sibling ? { ...sibling, id, fromRegistry } : { id, fromRegistry: false });
  }
  return after;
}
