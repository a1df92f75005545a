/**
 * The current set of tracked workloads, kept by the watcher, read by the
 * controller when it plans. Keyed by kind/namespace/name.
 */
import type { TrackedWorkload, WorkloadKey, WorkloadKind } from "./workload.ts";
import { workloadId } from "./workload.ts";

export class WorkloadIndex {
  readonly #byId = new Map<string, TrackedWorkload>();

  /** Adds or replaces a workload. */
  upsert(workload: TrackedWorkload): void {
    this.#byId.set(workloadId(workload.key), workload);
  }

  /** Forgets a workload. */
  remove(key: WorkloadKey): void {
    this.#byId.delete(workloadId(key));
  }

  get(key: WorkloadKey): TrackedWorkload | undefined {
    return this.#byId.get(workloadId(key));
  }

  /**
   * Makes the entries of one kind (in one namespace, or all) exactly `current`:
   * after a re-list, objects deleted while the watch was down disappear.
   */
  replaceAll(kind: WorkloadKind, namespace: string | undefined, current: TrackedWorkload[]) {
    for (const [id, workload] of this.#byId) {
      const inScope = workload.key.kind === kind &&
        (namespace === undefined || workload.key.namespace === namespace);
      if (inScope) this.#byId.delete(id);
    }
    for (const workload of current) this.upsert(workload);
  }

  values(): IterableIterator<TrackedWorkload> {
    return this.#byId.values();
  }

  get size(): number {
    return this.#byId.size;
  }
}
