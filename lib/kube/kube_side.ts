/**
 * What the controller needs from Kubernetes, behind one small interface (as
 * the engine is behind `Engine`): list and keep watching the workloads, read
 * one again after a conflict, and patch one (a single attempt; the patch
 * queue retries). The real one joins the watcher, its index and the patcher;
 * unit tests pass a fake (controller_test.ts).
 */
import type { WorkloadUpdate } from "../model/plan_types.ts";
import type { PatchAttempt, WorkloadPatcher } from "./patcher.ts";
import type { WorkloadWatcher } from "./watcher.ts";
import type { TrackedWorkload, WorkloadKey } from "../model/workload.ts";
import type { WorkloadIndex } from "./workload_index.ts";

export interface KubeSide {
  /**
   * Lists every workload (resolves once listed, or when `signal` aborts) and
   * keeps them current until `signal` aborts; `done` settles then.
   */
  start(signal: AbortSignal): Promise<{ done: Promise<void> }>;
  /** The workloads as last seen. */
  workloads(): Iterable<TrackedWorkload>;
  /** How many workloads are tracked. */
  readonly size: number;
  /** Reads one workload now; undefined when it is gone; throws when the API server cannot answer. */
  reread(key: WorkloadKey): Promise<TrackedWorkload | undefined>;
  /** One attempt at one update. */
  patch(update: WorkloadUpdate): Promise<PatchAttempt>;
}

/** The real cluster: the watcher keeps the index, the patcher patches. */
export class ClusterSide implements KubeSide {
  readonly #watcher: WorkloadWatcher;
  readonly #index: WorkloadIndex;
  readonly #patcher: WorkloadPatcher;

  constructor(watcher: WorkloadWatcher, index: WorkloadIndex, patcher: WorkloadPatcher) {
    this.#watcher = watcher;
    this.#index = index;
    this.#patcher = patcher;
  }

  start(signal: AbortSignal): Promise<{ done: Promise<void> }> {
    return this.#watcher.start(signal);
  }

  workloads(): Iterable<TrackedWorkload> {
    return this.#index.values();
  }

  get size(): number {
    return this.#index.size;
  }

  async reread(key: WorkloadKey): Promise<TrackedWorkload | undefined> {
    await this.#watcher.refresh(key);
    return this.#index.get(key);
  }

  patch(update: WorkloadUpdate): Promise<PatchAttempt> {
    return this.#patcher.attempt(update);
  }
}
