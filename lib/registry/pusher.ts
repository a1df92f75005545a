/**
 * The step before patching for workloads that pull from the cluster's
 * registry: pushes every build their updates wait for (awaitingPush), one at
 * a time, and remembers the digest each got, which the plan then pins the
 * workloads to. Like the bridge's copies, a failed push is retried after a
 * backoff, and meanwhile every call fails at once, so nothing is patched.
 */
import { Backoff } from "../util/backoff.ts";
import { formatBytes } from "../bridge/bridge.ts";
import { errorMessage } from "../util/errors.ts";
import { logger } from "../util/log.ts";
import type { RegistryPush, WorkloadUpdate } from "../model/plan_types.ts";
import type { RegistryClient } from "./client.ts";
import type { ImageSource } from "./image_source.ts";
import { pushImage } from "./push.ts";
import type { PlanRegistry } from "../model/registry_targets.ts";
import type { ClusterRegistry } from "./which.ts";

const log = logger("registry");

/** Thrown when a build could not be pushed: patch nothing. */
export class PushError extends Error {
  override readonly name = "PushError";
}

export interface RegistryPusherOptions {
  readonly now?: () => number;
  readonly backoff?: Backoff;
}

/** What pushing one build needs: the engine image and where it goes. */
type Push = Omit<RegistryPush, "digest">;

export class RegistryPusher {
  readonly registry: ClusterRegistry;
  readonly #client: RegistryClient;
  readonly #source: ImageSource;
  readonly #now: () => number;
  readonly #backoff: Backoff;
  /** `source id` → the digest the registry gave. */
  readonly #digests = new Map<string, string>();
  #retryAt = 0;
  #lastError = "";
  #queue: Promise<unknown> = Promise.resolve();

  constructor(
    registry: ClusterRegistry,
    client: RegistryClient,
    source: ImageSource,
    options: RegistryPusherOptions = {},
  ) {
    this.registry = registry;
    this.#client = client;
    this.#source = source;
    this.#now = options.now ?? Date.now;
    this.#backoff = options.backoff ?? new Backoff(1_000, 30_000);
  }

  /** The registry as the plan sees it, with the digests pushed so far. */
  get planRegistry(): PlanRegistry {
    return {
      host: this.registry.host,
      fromRuntime: this.registry.fromRuntime,
      pushed: (key, id) => this.#digests.get(`${key} ${id}`),
    };
  }

  /**
   * Pushes what `updates` wait for. Throws a PushError (after one warning line
   * naming the registry, the cause and the cluster's help) when a push fails,
   * and without trying while the backoff after a failure lasts.
   */
  ensure(updates: readonly WorkloadUpdate[], signal: AbortSignal): Promise<void> {
    const run = this.#queue.then(() => this.#ensure(updates, signal));
    this.#queue = run.catch(() => {});
    return run;
  }

  async #ensure(updates: readonly WorkloadUpdate[], signal: AbortSignal): Promise<void> {
    const wanted = new Map<string, Push>();
    for (const update of updates) {
      for (const { push } of update.imageUpdates) {
        if (push === undefined || push.digest !== undefined) continue;
        const key = `${push.source} ${push.id}`;
        if (!this.#digests.has(key)) wanted.set(key, push);
      }
    }
    if (wanted.size === 0) return;
    if (this.#now() < this.#retryAt) throw new PushError(`waiting to retry: ${this.#lastError}`);
    for (const [key, push] of wanted) {
      if (signal.aborted) throw new PushError("stopped");
      const where = `${this.registry.host}/${push.repository}:${push.tag}`;
      try {
        const report = await this.#push(push, signal);
        this.#digests.set(key, report.digest);
        log.info(
          "Pushed {image} to {target}@{digest}: {blobs} blobs sent, {skipped} there already, {size}",
          {
            image: push.source,
            target: where,
            digest: report.digest,
            blobs: report.written,
            skipped: report.skipped,
            size: formatBytes(report.bytes),
            bytes: report.bytes,
          },
        );
      } catch (error) {
        const delay = this.#backoff.next();
        this.#retryAt = this.#now() + delay;
        const help = this.registry.help === undefined ? "" : ` (${this.registry.help})`;
        const message = `Cannot push ${push.source} to ${where}: ${errorMessage(error)}${help}`;
        // One warning per cause: the retries that fail the same way are debug lines.
        const level = message === this.#lastError ? "debug" : "warn";
        this.#lastError = message;
        log[level]("{message}; nothing is patched until it is there, retrying in {seconds} s", {
          message,
          seconds: Math.round(delay / 100) / 10,
        });
        throw new PushError(this.#lastError, { cause: error });
      }
    }
    this.#backoff.reset();
    this.#retryAt = 0;
    this.#lastError = "";
  }

  /** Releases the source's connection. */
  close(): void {
    this.#source.close?.();
  }

  async #push(push: Push, signal: AbortSignal) {
    const image = await this.#source.open(push.source, signal);
    try {
      // The tag may have moved since the plan: pushing the newer build under the older ID
      // would pin workloads to the wrong one. The next pass plans the newer one.
      if (image.target.digest !== push.id && image.configDigest !== push.id) {
        throw new Error(`${push.source} is no longer ${push.id}`);
      }
      return await pushImage(this.#client, push.repository, push.tag, image, signal);
    } finally {
      await image.close();
    }
  }
}
