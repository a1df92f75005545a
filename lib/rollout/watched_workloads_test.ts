import assert from "node:assert/strict";
import { kindInfo, toTrackedWorkload } from "../kube/kinds.ts";
import { WorkloadIndex } from "../kube/workload_index.ts";
import type { WorkloadKey } from "../model/workload.ts";
import { decide } from "./verdict.ts";
import { watchedWorkloads } from "./watched_workloads.ts";

const KEY: WorkloadKey = { kind: "Deployment", namespace: "dev", name: "web" };

/** A Deployment as a watch event brings it, whole. */
function event(generation: number, status: Record<string, unknown>) {
  return toTrackedWorkload(kindInfo("Deployment"), {
    metadata: { name: "web", namespace: "dev", resourceVersion: String(generation), generation },
    spec: {
      replicas: 2,
      selector: { matchLabels: { app: "web" } },
      template: { spec: { containers: [{ name: "web", image: "app:v2" }] } },
    },
    status: { observedGeneration: generation, ...status },
  })!;
}

Deno.test("the index's workloads read as the verdict needs them, and each change is told", () => {
  const index = new WorkloadIndex({ now: () => 0 });
  const workloads = watchedWorkloads(index);
  const told: string[] = [];
  workloads.listen((key) => told.push(key.name));
  assert.equal(workloads.get(KEY), undefined);
  index.upsert(event(2, { replicas: 3, updatedReplicas: 1, availableReplicas: 1 }));
  const target = {
    kind: "Deployment" as const,
    generation: 2,
    images: [{ container: "web", image: "app:v2" }],
    rolloutAnnotation: undefined,
  };
  assert.equal(decide(target, workloads.get(KEY)!, [], 0).state, "progressing");
  index.upsert(event(2, { replicas: 2, updatedReplicas: 2, availableReplicas: 2 }));
  assert.deepEqual(decide(target, workloads.get(KEY)!, [], 0), {
    state: "done",
    ready: 2,
    desired: 2,
  });
  assert.deepEqual(workloads.get(KEY)?.spec.selector, { matchLabels: { app: "web" } });
  index.remove(KEY);
  assert.equal(workloads.get(KEY), undefined);
  assert.deepEqual(told, ["web", "web", "web"]);
});
