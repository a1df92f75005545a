/**
 * Wires the streams together and owns their lifecycle:
 *
 *   engine events / periodic re-read -> snapshot diff -> plan -> patches + Events
 *   Kubernetes list+watch             -> workload index ----^
 *
 * Start: connect to the engine and the cluster (failing fast with a clear
 * line), take the baseline snapshot, list every workload. From then on only
 * differences against the last snapshot count, so restarting veryfreshpod
 * never restarts the cluster. A lost engine connection is retried with backoff;
 * the snapshot taken after reconnecting is diffed against the last good one, so
 * nothing tagged meanwhile is missed.
 */
import { Backoff, sleep } from "./backoff.ts";
import type { Engine, ImageSnapshot } from "./engine/engine.ts";
import { errorMessage } from "./errors.ts";
import { plural } from "./plural.ts";
import { logger } from "./log.ts";
import type { Metrics } from "./metrics.ts";
import { plan, planMissedRebuilds, type PlanOptions, type PlanResult } from "./plan.ts";
import type { WorkloadUpdate } from "./plan_types.ts";
import { diffSnapshots, type ImageChange } from "./snapshot.ts";
import { TagEventLog, timeChanges } from "./tag_times.ts";
import { describeWorkload, workloadId } from "./kube/workload.ts";
import type { TrackedWorkload, WorkloadKey } from "./kube/workload.ts";
import type { WorkloadIndex } from "./kube/workload_index.ts";
import type { WorkloadWatcher } from "./kube/watcher.ts";
import type { Replan, WorkloadPatcher } from "./kube/patcher.ts";

const log = logger("controller");

export interface ControllerOptions {
  readonly plan: PlanOptions;
  /** How often the image list is re-read without an event (some builds emit none). */
  readonly resyncMs: number;
  /** How long to gather a burst of events into one change. */
  readonly debounceMs: number;
}

/** The parts the controller drives; real ones in `run`, others in tests. */
export interface ControllerParts {
  readonly engine: Engine;
  readonly index: WorkloadIndex;
  readonly watcher: WorkloadWatcher;
  readonly patcher: WorkloadPatcher;
  readonly metrics: Metrics;
  /**
   * Called with every batch of updates before any is patched (the bridge
   * copies their images to containerd nodes); when it throws, nothing is
   * patched and the same changes are planned again on a later pass.
   */
  readonly beforePatch?: BeforePatch;
}

/** Makes what `updates` need ready; throws to hold them back. */
export type BeforePatch = (
  updates: readonly WorkloadUpdate[],
  snapshot: ImageSnapshot,
) => Promise<void>;

/** Declares the controller's metrics on a registry. */
export function defineControllerMetrics(metrics: Metrics): void {
  metrics.define("veryfreshpod_engine_connected", "gauge", "1 while the engine stream is up");
  metrics.define("veryfreshpod_engine_reconnects_total", "counter", "Engine reconnections");
  metrics.define("veryfreshpod_image_events_total", "counter", "Image events from the engine");
  metrics.define("veryfreshpod_image_changes_total", "counter", "Tag changes seen, by kind");
  metrics.define("veryfreshpod_tracked_workloads", "gauge", "Workloads in the index");
  metrics.define("veryfreshpod_workload_updates_total", "counter", "Updates, by result");
}

export class Controller {
  readonly #parts: ControllerParts;
  readonly #options: ControllerOptions;
  #snapshot: ImageSnapshot = new Map();
  /** When the read that gave `#snapshot` began. */
  #snapshotReadAt = 0;
  /** When the tags named by events were set: orders the changes the next diff finds. */
  readonly #tagEvents = new TagEventLog();
  #engineConnected = false;
  #synced = false;
  #requested = false;
  #running: Promise<void> | undefined;
  #signal: AbortSignal = new AbortController().signal;
  /** Updates the API server could not take yet, by workload: re-planned on every pass. */
  readonly #deferred = new Map<string, { key: WorkloadKey; replan: Replan }>();

  constructor(parts: ControllerParts, options: ControllerOptions) {
    this.#parts = parts;
    this.#options = options;
  }

  /** True once the workloads are listed and the engine stream is up (for /readyz). */
  get ready(): boolean {
    return this.#synced && this.#engineConnected;
  }

  /**
   * Runs until `signal` aborts. Throws (a UserError) only for faults at start:
   * engine or cluster unreachable.
   */
  async run(signal: AbortSignal): Promise<void> {
    const { engine, watcher, index, metrics } = this.#parts;
    this.#signal = signal;
    await engine.connect();
    this.#snapshotReadAt = Date.now();
    this.#snapshot = await engine.snapshot();
    log.info("Watching {engine}: {images}", {
      engine: engine.description,
      images: plural(this.#snapshot.size, "tagged image"),
      count: this.#snapshot.size,
    });
    const { done: watching } = await watcher.start(signal);
    if (signal.aborted) return;
    this.#synced = true;
    metrics.set("veryfreshpod_tracked_workloads", index.size);
    log.info("Tracking {workloads}", {
      workloads: plural(index.size, "workload"),
      count: index.size,
    });

    // The one exception to "only differences count": workloads whose recorded
    // image ID is stale were rebuilt while veryfreshpod was down.
    const missed = this.#logSkipped(
      planMissedRebuilds(index.values(), this.#snapshot, this.#options.plan),
    );
    const catchUp = this.#applyMissed(missed, signal);
    // With a bridge, copying may take long or wait for a node: the event loop starts meanwhile.
    if (this.#parts.beforePatch === undefined) await catchUp;

    const resync = this.#resyncLoop(signal);
    await this.#eventLoop(signal);
    await Promise.all([resync, watching, this.#running, catchUp]);
  }

  /** Applies the missed rebuilds once `beforePatch` lets them through (retried each resync period). */
  async #applyMissed(missed: WorkloadUpdate[], signal: AbortSignal): Promise<void> {
    while (missed.length > 0 && !signal.aborted) {
      if (await this.#beforePatch(missed, this.#snapshot)) {
        await this.#apply(missed, (key) => this.#replanMissed(key), signal);
        return;
      }
      await sleep(this.#options.resyncMs, signal);
    }
  }

  /** Follows the engine's image events; reconnects with backoff when the stream breaks. */
  async #eventLoop(signal: AbortSignal): Promise<void> {
    const { engine, metrics } = this.#parts;
    const backoff = new Backoff(250, 5_000);
    let lost = false;
    while (!signal.aborted) {
      try {
        if (lost) {
          await engine.connect();
          metrics.inc("veryfreshpod_engine_reconnects_total");
          log.info("Reconnected to {engine}", { engine: engine.description });
          // Diff against the last good snapshot: catches what was tagged meanwhile.
          this.request();
        }
        this.#setEngineConnected(true);
        lost = false;
        for await (const event of engine.imageEvents(signal)) {
          metrics.inc("veryfreshpod_image_events_total");
          log.debug("Image event {action} {subject}", { ...event });
          this.#tagEvents.record(event, Date.now());
          backoff.reset();
          this.request();
        }
        if (signal.aborted) break;
        throw new Error("the event stream ended");
      } catch (error) {
        if (signal.aborted) break;
        this.#setEngineConnected(false);
        if (!lost || backoff.attempts === 0) {
          log.warn("Lost the connection to {engine}: {error}; reconnecting", {
            engine: engine.description,
            error: errorMessage(error),
          });
        }
        lost = true;
        await backoff.wait(signal);
      }
    }
    this.#setEngineConnected(false);
  }

  async #resyncLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await sleep(this.#options.resyncMs, signal);
      if (!signal.aborted) this.request();
    }
  }

  /** Asks for a re-read of the image list; bursts collapse into one. */
  request(): void {
    this.#requested = true;
    this.#running ??= this.#drain().finally(() => this.#running = undefined);
  }

  /** Reconciles until no request is pending; one at a time. */
  async #drain(): Promise<void> {
    while (this.#requested) {
      await sleep(this.#options.debounceMs);
      this.#requested = false;
      try {
        await this.#reconcile();
        await this.#retryDeferred();
      } catch (error) {
        log.error("Reconciling failed: {error}", { error: errorMessage(error) });
      }
    }
  }

  async #reconcile(): Promise<void> {
    let after: ImageSnapshot;
    const readAt = Date.now();
    try {
      after = await this.#parts.engine.snapshot();
    } catch (error) {
      // Keep the last good snapshot: the diff after reconnecting covers the gap.
      log.debug("Cannot read the image list: {error}", { error: errorMessage(error) });
      return;
    }
    const window = { previousReadAt: this.#snapshotReadAt, readEndedAt: Date.now() };
    const diff = diffSnapshots(this.#snapshot, after);
    const changes = await timeChanges(diff, this.#tagEvents, window, this.#parts.engine);
    // Held back (images not on the nodes yet): keep the old snapshot, so the next pass retries.
    if (changes.length > 0 && !await this.#act(changes, after, this.#signal)) return;
    this.#snapshot = after;
    this.#snapshotReadAt = readAt;
    this.#tagEvents.forgetBefore(readAt);
  }

  async #act(
    changes: readonly ImageChange[],
    snapshot: ImageSnapshot,
    signal: AbortSignal,
  ): Promise<boolean> {
    const { index, metrics } = this.#parts;
    for (const change of changes) {
      metrics.inc("veryfreshpod_image_changes_total", { kind: change.kind });
      log.debug("Image {key} {kind}", { key: change.key, kind: change.kind });
    }
    const planned = this.#logSkipped(
      plan(changes, index.values(), snapshot, this.#options.plan),
    );
    if (!await this.#beforePatch(planned, snapshot)) return false;
    await this.#apply(planned, async (key) => {
      const fresh = await this.#reread(key);
      if (!fresh) return undefined;
      return this.#logSkipped(plan(changes, [fresh], snapshot, this.#options.plan))[0];
    }, signal);
    return true;
  }

  /** False when `beforePatch` held the updates back (it logs why). */
  async #beforePatch(updates: WorkloadUpdate[], snapshot: ImageSnapshot): Promise<boolean> {
    if (updates.length === 0 || this.#parts.beforePatch === undefined) return true;
    try {
      await this.#parts.beforePatch(updates, snapshot);
      return true;
    } catch (error) {
      log.debug("Updates held back: {error}", { error: errorMessage(error) });
      return false;
    }
  }

  async #replanMissed(key: WorkloadKey): Promise<WorkloadUpdate | undefined> {
    const fresh = await this.#reread(key);
    if (!fresh) return undefined;
    return planMissedRebuilds([fresh], this.#snapshot, this.#options.plan).updates[0];
  }

  /** Re-reads one workload after a conflict; undefined when it is gone. */
  async #reread(key: WorkloadKey): Promise<TrackedWorkload | undefined> {
    await this.#parts.watcher.refresh(key);
    return this.#parts.index.get(key);
  }

  async #apply(updates: WorkloadUpdate[], replan: Replan, signal: AbortSignal): Promise<void> {
    const { index, patcher, metrics } = this.#parts;
    metrics.set("veryfreshpod_tracked_workloads", index.size);
    const results = await patcher.applyAll(updates, replan, signal);
    results.forEach((result, i) => {
      metrics.inc("veryfreshpod_workload_updates_total", { result });
      const key = updates[i]!.workload;
      // Keep what the API server could not take, so that an outage loses nothing.
      if (result === "deferred") this.#deferred.set(workloadId(key), { key, replan });
      else this.#deferred.delete(workloadId(key));
    });
  }

  /** Plans deferred workloads again from their current state and applies what is left. */
  async #retryDeferred(): Promise<void> {
    for (const [id, { key, replan }] of [...this.#deferred]) {
      let update: WorkloadUpdate | undefined;
      try {
        update = await replan(key);
      } catch (error) {
        log.debug("Still cannot re-read {workload}: {error}", {
          workload: describeWorkload(key),
          error: errorMessage(error),
        });
        continue;
      }
      if (update === undefined) this.#deferred.delete(id);
      else await this.#apply([update], replan, this.#signal);
    }
  }

  /** Debug lines for what the plan left alone; returns the updates. */
  #logSkipped(result: PlanResult): WorkloadUpdate[] {
    for (const skip of result.skipped) {
      log.debug("Left alone {where} {container} {image}: {reason}", {
        where: skip.workload ? describeWorkload(skip.workload) : "",
        container: skip.container ?? "",
        image: skip.image ?? "",
        reason: skip.reason,
      });
    }
    return result.updates;
  }

  #setEngineConnected(connected: boolean): void {
    this.#engineConnected = connected;
    this.#parts.metrics.set("veryfreshpod_engine_connected", connected ? 1 : 0);
  }
}
