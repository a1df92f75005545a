/**
 * When each tag change happened. The snapshot diff stays the truth: an event
 * never makes a change, it only says when a change the diff found was made.
 * Two questions need that (see `plan`):
 *
 * - several new tags of one repository naming different images: which was
 *   tagged last? Ranked by `TagChanged.time`, the engine's clock: the event's
 *   time, else the engine's record of the image (Docker's LastTagTime, asked
 *   only then; the list's `Created`; containerd's `updated_at`).
 * - a tag a workload runs now names a new image: was the workload there
 *   first? Compared on veryfreshpod's own clock, against the moment the
 *   workload was first seen running the tag (`TrackedContainer.since`):
 *   `TagChanged.seenAt` is when the tag's event arrived; without one, the
 *   engine's time for it held within what the reads prove (after the previous
 *   read began, before this one ended), so another clock can only move the
 *   answer inside that window.
 */
import type { Engine, EngineEvent } from "../engine/engine.ts";
import type { ImageChange } from "../model/image_snapshot.ts";

/** What an event said about one tag: the engine's time, and when it arrived here. */
export interface TagEvent {
  readonly time: number | undefined;
  readonly arrivedAt: number;
}

/** The last event per tag since the last read that reflects it. */
export class TagEventLog {
  readonly #byKey = new Map<string, TagEvent>();

  /** Notes an event that names a tag (others are ignored); `arrivedAt` on veryfreshpod's clock. */
  record(event: EngineEvent, arrivedAt: number): void {
    if (event.reference === undefined) return;
    this.#byKey.set(event.reference, { time: event.time, arrivedAt });
  }

  get(key: string): TagEvent | undefined {
    return this.#byKey.get(key);
  }

  /** Forgets the events that arrived before `time`: a read begun then reflects them. */
  forgetBefore(time: number): void {
    for (const [key, event] of this.#byKey) {
      if (event.arrivedAt < time) this.#byKey.delete(key);
    }
  }

  get size(): number {
    return this.#byKey.size;
  }
}

/** What `timeChanges` knows of the reads around the changes (veryfreshpod's clock). */
export interface ReadWindow {
  /** When the read that did not show the changes began. */
  readonly previousReadAt: number;
  /** When the read that shows them ended. */
  readonly readEndedAt: number;
}

/**
 * The changes with `time` and `seenAt` filled in from the events, the
 * engine's records and the read window (see the module comment). Asks the
 * engine (`tagTimes`) only when a repository has new tags naming several
 * images and some of them have no event time; a failure there only loses
 * that refinement.
 */
export async function timeChanges(
  changes: readonly ImageChange[],
  events: TagEventLog,
  window: ReadWindow,
  engine?: Pick<Engine, "tagTimes">,
): Promise<ImageChange[]> {
  const untimed = new Set<string>();
  const images = new Map<string, Set<string>>();
  for (const change of changes) {
    if (change.kind === "removed") continue;
    const ids = images.get(change.repository) ?? new Set<string>();
    images.set(change.repository, ids.add(change.id));
    if (events.get(change.key)?.time === undefined) untimed.add(change.id);
  }
  const ambiguous = [...images.values()].some((ids) => ids.size > 1);
  let tagged = new Map<string, number>();
  if (ambiguous && untimed.size > 0 && engine?.tagTimes !== undefined) {
    tagged = await engine.tagTimes([...untimed]).catch(() => new Map<string, number>());
  }
  return changes.map((change): ImageChange => {
    if (change.kind === "removed") return change;
    const event = events.get(change.key);
    const time = event?.time ?? tagged.get(change.id) ?? change.time;
    return { ...change, time, seenAt: event?.arrivedAt ?? clampedSeenAt(time, window) };
  });
}

function clampedSeenAt(time: number | undefined, window: ReadWindow): number {
  if (time === undefined) return window.previousReadAt;
  return Math.min(Math.max(time, window.previousReadAt), window.readEndedAt);
}
