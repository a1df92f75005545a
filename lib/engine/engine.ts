/**
 * What veryfreshpod needs from a container engine, whichever it is (Docker
 * Engine API or containerd): a snapshot of its tagged images and a stream that
 * says "images changed". Both engines implement this; the controller only
 * sees this interface.
 */
import { imageKey, parseReference } from "../model/image_ref.ts";
import type { ImageSnapshot } from "../model/image_snapshot.ts";

/**
 * One image event as the engine reported it. It triggers a re-read of the
 * snapshot, whose diff is the truth; what it says adds only when a tag was set.
 */
export interface EngineEvent {
  /** The engine's verb: tag, untag, pull, load, import, delete, create, update… */
  readonly action: string;
  /** What the event names (an image ID or a reference), for debug lines. */
  readonly subject: string;
  /**
   * The snapshot key (`domain/path:tag`, as `imageKey` makes it) of the tag
   * the event says was set (Docker `tag` and `pull`, containerd `create` and
   * `update`); undefined otherwise.
   */
  readonly reference?: string | undefined;
  /** When it happened, in milliseconds since the epoch by the engine's clock, when it says. */
  readonly time?: number | undefined;
  /**
   * The image ID `reference` now names, when the event says so with certainty
   * (Docker `tag`); it lets the controller act before it re-reads the list.
   */
  readonly id?: string | undefined;
}

/** A container engine on this node. */
export interface Engine {
  /** Where it is, for log lines: `docker unix:///var/run/docker.sock`. */
  readonly description: string;
  /** Checks that the engine answers; throws a UserError naming the fix. */
  connect(): Promise<void>;
  /** Reads every tagged image now. */
  snapshot(): Promise<ImageSnapshot>;
  /**
   * When each of these image IDs was last tagged, by the engine's own record
   * (Docker: `Metadata.LastTagTime`), in milliseconds since the epoch; IDs it
   * has no record of are left out. Optional: asked only to rank new tags of a
   * repository naming different images that no event has ordered.
   */
  tagTimes?(ids: readonly string[]): Promise<Map<string, number>>;
  /**
   * Image events from now on, until `signal` aborts (then it returns) or the
   * connection breaks (then it throws). Each event only means "re-read the
   * snapshot": event fields differ between engine versions.
   */
  imageEvents(signal: AbortSignal): AsyncIterable<EngineEvent>;
  /** Releases the connection (Docker's connection pool, containerd's gRPC channel). */
  close(): void;
}

/** The snapshot key of a reference with a tag, or undefined (an ID, a digest, no tag, no name). */
export function tagKey(text: string | undefined): string | undefined {
  if (text === undefined) return undefined;
  try {
    const ref = parseReference(text);
    return ref.tag === undefined || ref.digest !== undefined ? undefined : imageKey(ref);
  } catch {
    return undefined;
  }
}
