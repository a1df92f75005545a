/**
 * The current set of tracked workloads, kept by the watcher, read by the
 * controller when it plans. Keyed by kind/namespace/name.
 */
import { type Clock, realClock } from "../util/clock.ts";
import type { TrackedWorkload, WorkloadKey, WorkloadKind } from "../model/workload.ts";
import { workloadId } from "../model/workload.ts";

/** Told the key of every workload that was added, changed or removed. */
export type IndexListener = (key: WorkloadKey) => void;

export class WorkloadIndex {
  readonly #byId = new Map<string, TrackedWorkload>();
  readonly #clock: Pick<Clock, "now">;
  readonly #listeners = new Set<IndexListener>();

  /** `clock`: the controller's, since the containers' `since` is compared with its times. */
  constructor(clock: Pick<Clock, "now"> = realClock) {
    this.#clock = clock;
  }

  /**
   * Adds or replaces a workload, stamping each container with when it was
   * first seen running its image (kept from the previous entry while the
   * image stays the same): a rebuild rolls only workloads that were there first.
   */
  upsert(workload: TrackedWorkload): void {
    const id = workloadId(workload.key);
    this.#byId.set(id, this.#stamped(workload, this.#byId.get(id)));
    this.#tell(workload.key);
  }

  /** Forgets a workload. */
  remove(key: WorkloadKey): void {
    if (this.#byId.delete(workloadId(key))) this.#tell(key);
  }

  /**
   * Calls `listener` after every change, with the workload's key (the rollout
   * follower reads its state from here); returns the function that stops it.
   */
  listen(listener: IndexListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #tell(key: WorkloadKey): void {
    for (const listener of this.#listeners) listener(key);
  }

  get(key: WorkloadKey): TrackedWorkload | undefined {
    return this.#byId.get(workloadId(key));
  }

  /**
   * Makes the entries of one kind (in one namespace, or all) exactly `current`:
   * after a re-list, objects deleted while the watch was down disappear.
   */
  replaceAll(kind: WorkloadKind, namespace: string | undefined, current: TrackedWorkload[]) {
    const previous = new Map<string, TrackedWorkload>();
    for (const [id, workload] of this.#byId) {
      const inScope = workload.key.kind === kind &&
        (namespace === undefined || workload.key.namespace === namespace);
      if (inScope) {
        previous.set(id, workload);
        this.#byId.delete(id);
      }
    }
    for (const workload of current) {
      const id = workloadId(workload.key);
      this.#byId.set(id, this.#stamped(workload, previous.get(id)));
      previous.delete(id);
    }
    if (this.#listeners.size === 0) return;
    for (const workload of current) this.#tell(workload.key);
    for (const gone of previous.values()) this.#tell(gone.key);
  }

  #stamped(workload: TrackedWorkload, previous: TrackedWorkload | undefined): TrackedWorkload {
    const now = this.#clock.now();
    return {
      ...workload,
      containers: workload.containers.map((container) => {
        const before = previous?.containers.find((c) =>
          c.name === container.name && c.init === container.init && c.image === container.image
        );
        return { ...container, since: before?.since ?? container.since ?? now };
      }),
    };
  }

  values(): IterableIterator<TrackedWorkload> {
    return this.#byId.values();
  }

  get size(): number {
    return this.#byId.size;
  }
}
