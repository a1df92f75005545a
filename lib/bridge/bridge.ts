/**
 * The bridge from Docker builds to containerd nodes: makes the images that
 * workloads are about to run present on every node before anything is
 * patched. It remembers what each node holds, copies one image at a time,
 * and after a failed copy waits (exponential backoff) before it tries again;
 * meanwhile every call fails at once, so the controller patches nothing.
 */
import { Backoff } from "../util/backoff.ts";
import { errorMessage } from "../util/errors.ts";
import { imageKey, parseReference } from "../model/image_ref.ts";
import { logger } from "../util/log.ts";
import { type ImageSnapshot, withLearnedConfigId } from "../model/image_snapshot.ts";
import type { TrackedWorkload } from "../model/workload.ts";
import type { WorkloadUpdate } from "../model/plan_types.ts";
import type { BridgeImage, NodeFeed } from "./feed.ts";

const log = logger("bridge");

/** Thrown when an image could not be made present on every node: patch nothing. */
export class BridgeError extends Error {
  override readonly name = "BridgeError";
}

/** Options of ImageBridge. */
export interface ImageBridgeOptions {
  /** Milliseconds now; injectable for tests. */
  readonly now?: () => number;
  /** Delays between failed attempts. */
  readonly backoff?: Backoff;
  /**
   * Whether Docker's image IDs may be other digests than the config's (its
   * containerd image store): then the nodes are asked for the config digest
   * of an image whose engine could not say. Always, unless told otherwise.
   */
  readonly idsMayNotBeConfigs?: () => Promise<boolean>;
}

/** Config digests learned from the nodes are kept for this many image IDs. */
const LEARNED_CONFIG_IDS = 1_000;

function normalised(reference: string): string | undefined {
  try {
    return imageKey(parseReference(reference));
  } catch {
    return undefined;
  }
}

/** The image to bring: Docker's ID, and its config digest when that differs. */
function bridgeImage(
  name: string,
  tagged: { readonly id: string; readonly configId?: string | undefined },
): BridgeImage {
  return tagged.configId === undefined || tagged.configId === tagged.id
    ? { name, id: tagged.id }
    : { name, id: tagged.id, configId: tagged.configId };
}

/**
 * The images `updates` make workloads run: each new tag and each rebuilt
 * tag, with the ID Docker has for it now.
 */
export function imagesOfUpdates(
  updates: readonly WorkloadUpdate[],
  snapshot: ImageSnapshot,
): BridgeImage[] {
  const images = new Map<string, BridgeImage>();
  for (const update of updates) {
    for (const change of update.imageUpdates) {
      const name = normalised(change.to);
      const tagged = name === undefined ? undefined : snapshot.get(name);
      if (name !== undefined && tagged !== undefined) images.set(name, bridgeImage(name, tagged));
    }
    for (const rebuild of update.rebuilds) {
      const name = normalised(rebuild.image);
      if (name === undefined) continue;
      const tagged = snapshot.get(name);
      const configId = tagged?.id === rebuild.id ? tagged.configId : undefined;
      images.set(name, bridgeImage(name, { id: rebuild.id, configId }));
    }
  }
  return [...images.values()];
}

/**
 * Every image a tracked workload references that Docker has: what the
 * nodes should hold even before any build, so that the first `kubectl apply`
 * after a `docker build` finds its image.
 */
export function imagesInUse(
  workloads: Iterable<TrackedWorkload>,
  snapshot: ImageSnapshot,
): BridgeImage[] {
  const images = new Map<string, BridgeImage>();
  for (const workload of workloads) {
    for (const container of workload.containers) {
      const name = normalised(container.image);
      const tagged = name === undefined ? undefined : snapshot.get(name);
      if (name !== undefined && tagged !== undefined) images.set(name, bridgeImage(name, tagged));
    }
  }
  return [...images.values()];
}

export class ImageBridge {
  readonly feeds: readonly NodeFeed[];
  readonly #now: () => number;
  readonly #backoff: Backoff;
  /** Per feed: image name -> the ID the node is known to hold under it. */
  readonly #held: Map<string, string>[];
  #retryAt = 0;
  #lastError = "";
  #queue: Promise<unknown> = Promise.resolve();
  readonly #sweepFailures = new Map<string, { backoff: Backoff; retryAt: number }>();
  readonly #idsMayNotBeConfigs: () => Promise<boolean>;
  /**
   * Docker's image ID -> the config digest the nodes hold it by, for images
   * whose engine could not say (Docker's containerd store when its own
   * containerd is out of reach: veryfreshpod in a pod, Docker Desktop).
   */
  readonly #configIds = new Map<string, string>();

  constructor(feeds: readonly NodeFeed[], options: ImageBridgeOptions = {}) {
    this.feeds = feeds;
    this.#now = options.now ?? Date.now;
    this.#backoff = options.backoff ?? new Backoff(1_000, 30_000);
    this.#held = feeds.map(() => new Map());
    this.#idsMayNotBeConfigs = options.idsMayNotBeConfigs ?? (() => Promise.resolve(true));
  }

  /**
   * Makes every image present on every node, one copy at a time. Throws a
   * BridgeError (after one warning line naming the node and the cause) when
   * a copy fails, and without trying while the backoff after a failure lasts.
   * Resolves with the config digests the nodes told of images that came
   * without one (image ID -> config digest, only where the two differ): what
   * a pod of the image reports, for the record `status` compares with.
   */
  ensure(images: readonly BridgeImage[], signal: AbortSignal): Promise<Map<string, string>> {
    const run = this.#queue.then(async () => {
      await this.#ensure(images.map((image) => this.#withLearned(image)), signal);
      return this.#learnedFor(images);
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  /** `image` with the config digest a node told, when its engine told none. */
  #withLearned(image: BridgeImage): BridgeImage {
    return withLearnedConfigId(image, this.#configIds);
  }

  #learnedFor(images: readonly BridgeImage[]): Map<string, string> {
    const learned = new Map<string, string>();
    for (const image of images) {
      const configId = image.configId === undefined ? this.#configIds.get(image.id) : undefined;
      if (configId !== undefined && configId !== image.id) learned.set(image.id, configId);
    }
    return learned;
  }

  /** Asks the node that now holds `image` for its config digest, when nobody said it. */
  async #learnConfigId(image: BridgeImage, feed: NodeFeed, signal: AbortSignal): Promise<void> {
    if (image.configId !== undefined || this.#configIds.has(image.id)) return;
    if (!await this.#idsMayNotBeConfigs().catch(() => true)) return;
    const configId = await feed.configOf(image, signal).catch((error) => {
      log.debug("Cannot read the config digest of {image} on node {node}: {error}", {
        image: image.name,
        node: feed.nodes.join(", "),
        error: errorMessage(error),
      });
      return undefined;
    });
    if (configId === undefined) return;
    this.#configIds.set(image.id, configId);
    if (this.#configIds.size > LEARNED_CONFIG_IDS) {
      this.#configIds.delete(this.#configIds.keys().next().value!);
    }
  }

  async #ensure(images: readonly BridgeImage[], signal: AbortSignal): Promise<void> {
    const missing = images.flatMap((image) =>
      this.feeds.map((feed, i) => ({ image, feed, held: this.#held[i]! }))
    ).filter(({ image, held }) => held.get(image.name) !== image.id);
    if (missing.length === 0) return;
    if (this.#now() < this.#retryAt) {
      throw new BridgeError(`waiting to retry: ${this.#lastError}`);
    }
    for (const { image, feed, held } of missing) {
      if (signal.aborted) throw new BridgeError("stopped");
      try {
        await this.#bring(image, feed, held, signal);
      } catch (error) {
        const delay = this.#backoff.next();
        this.#retryAt = this.#now() + delay;
        this.#lastError = `Cannot copy ${image.name} to node ${feed.nodes.join(", ")}: ${
          errorMessage(error)
        }`;
        log.warn("{message}; nothing is patched until it is there, retrying in {seconds} s", {
          message: this.#lastError,
          seconds: Math.round(delay / 100) / 10,
        });
        throw new BridgeError(this.#lastError, { cause: error });
      }
    }
    this.#backoff.reset();
    this.#retryAt = 0;
  }

  /**
   * Best effort, for images workloads use (not ones about to be patched in):
   * a failure is logged and that image waits its own backoff; nothing throws.
   */
  sweep(images: readonly BridgeImage[], signal: AbortSignal): Promise<void> {
    const run = this.#queue.then(async () => {
      for (const image of images) {
        for (const [i, feed] of this.feeds.entries()) {
          const held = this.#held[i]!;
          const key = `${i} ${image.name} ${image.id}`;
          const failed = this.#sweepFailures.get(key);
          if (held.get(image.name) === image.id || signal.aborted) continue;
          if (failed !== undefined && this.#now() < failed.retryAt) continue;
          try {
            await this.#bring(this.#withLearned(image), feed, held, signal);
            this.#sweepFailures.delete(key);
          } catch (error) {
            const backoff = failed?.backoff ?? new Backoff(this.#backoff.initialMs, 300_000);
            this.#sweepFailures.set(key, { backoff, retryAt: this.#now() + backoff.next() });
            log.warn("Cannot copy {image}, which a workload uses, to node {node}: {error}", {
              image: image.name,
              node: feed.nodes.join(", "),
              error: errorMessage(error),
            });
          }
        }
      }
    });
    this.#queue = run.catch(() => {});
    return run;
  }

  async #bring(
    image: BridgeImage,
    feed: NodeFeed,
    held: Map<string, string>,
    signal: AbortSignal,
  ): Promise<void> {
    const node = feed.nodes.join(", ");
    held.delete(image.name);
    if (await feed.has(image, signal)) {
      held.set(image.name, image.id);
      log.debug("Node {node} has {image} already", { node, image: image.name });
      await this.#learnConfigId(image, feed, signal);
      return;
    }
    const report = await feed.copy(image, signal);
    held.set(image.name, image.id);
    await this.#learnConfigId(image, feed, signal);
    log.info(
      "Copied {image} to node {node}: {blobs} blobs written, {skipped} there already, {size}",
      {
        image: image.name,
        node,
        blobs: report.written,
        skipped: report.skipped,
        size: formatBytes(report.bytes),
        // For JSON logs (the bench reads them): exact bytes, and where the blobs were read.
        bytes: report.bytes,
        ...(report.source === undefined ? {} : { source: report.source }),
      },
    );
  }

  close(): void {
    for (const feed of this.feeds) feed.close();
  }
}

/** `1.9 MiB`, `312 KiB`, `580 B`. */
export function formatBytes(bytes: number): string {
  if (bytes >= 1 << 20) return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
  if (bytes >= 1 << 10) return `${Math.round(bytes / (1 << 10))} KiB`;
  return `${bytes} B`;
}
