/**
 * What veryfreshpod needs from a container engine, whichever it is (Docker
 * Engine API or containerd): a snapshot of its tagged images and a stream that
 * says "images changed". Both engines implement this; the controller only
 * sees this interface.
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
}

/**
 * Every tagged image in the engine, keyed by the normalised reference
 * `domain/path:tag` (as `imageKey` in image_ref.ts makes it).
 */
export type ImageSnapshot = ReadonlyMap<string, TaggedImage>;

/** One image event as the engine reported it; used for logging only. */
export interface EngineEvent {
  /** The engine's verb: tag, untag, pull, load, import, delete, create, update… */
  readonly action: string;
  /** What the event names (an image ID or a reference), for debug lines. */
  readonly subject: string;
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
   * Image events from now on, until `signal` aborts (then it returns) or the
   * connection breaks (then it throws). Each event only means "re-read the
   * snapshot": event fields differ between engine versions.
   */
  imageEvents(signal: AbortSignal): AsyncIterable<EngineEvent>;
  /** Releases the connection (Docker's connection pool, containerd's gRPC channel). */
  close(): void;
}
