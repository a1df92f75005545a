/**
 * The workload index (kept by the watch loop) as the rollout follower reads
 * it: each workload's rollout fields as a WorkloadObject, and a word on every
 * change. No request: the watch already brings every status update.
 */
import type { WorkloadIndex } from "../kube/workload_index.ts";
import type { WorkloadKey } from "../model/workload.ts";
import type { WorkloadStates } from "./follower.ts";
import type { WorkloadObject } from "./objects.ts";

/** The index's workloads, for the follower. */
export function watchedWorkloads(index: WorkloadIndex): WorkloadStates {
  return {
    get(key: WorkloadKey): WorkloadObject | undefined {
      const workload = index.get(key);
      if (workload === undefined) return undefined;
      const rollout = workload.rollout;
      return {
        metadata: { name: key.name, namespace: key.namespace, generation: rollout?.generation },
        spec: rollout?.spec ?? {},
        status: rollout?.status ?? {},
      };
    },
    listen: (listener) => index.listen(listener),
  };
}
