import assert from "node:assert/strict";
import { WorkloadIndex } from "./workload_index.ts";
import type { TrackedContainer, TrackedWorkload } from "../model/workload.ts";

function workload(name: string, images: string[], kind = "Deployment" as const): TrackedWorkload {
  return {
    key: { kind, namespace: "default", name },
    resourceVersion: "1",
    labels: {},
    annotations: {},
    templateAnnotations: {},
    containers: images.map((image, i): TrackedContainer => ({
      name: `c${i}`,
      init: false,
      image,
      pullPolicy: undefined,
    })),
  };
}

const since = (index: WorkloadIndex, name: string) =>
  index.get({ kind: "Deployment", namespace: "default", name })?.containers.map((c) => c.since);

Deno.test("the index stamps each container with when it was first seen running its image", () => {
  let now = 100;
  const index = new WorkloadIndex({ now: () => now });
  index.upsert(workload("web", ["app:v1", "db:v1"]));
  assert.deepEqual(since(index, "web"), [100, 100]);
  now = 200;
  // Another resourceVersion, same images: the stamps stay.
  index.upsert({ ...workload("web", ["app:v1", "db:v1"]), resourceVersion: "2" });
  assert.deepEqual(since(index, "web"), [100, 100]);
  // One container moves to another image: only its stamp is new.
  now = 300;
  index.upsert(workload("web", ["app:v2", "db:v1"]));
  assert.deepEqual(since(index, "web"), [300, 100]);
  // A re-list keeps the stamps of what it still finds; a new workload gets now.
  now = 400;
  index.replaceAll("Deployment", undefined, [
    workload("web", ["app:v2", "db:v1"]),
    workload("new", ["app:v2"]),
  ]);
  assert.deepEqual(since(index, "web"), [300, 100]);
  assert.deepEqual(since(index, "new"), [400]);
  // Removed and added again: seen anew.
  index.remove({ kind: "Deployment", namespace: "default", name: "new" });
  now = 500;
  index.upsert(workload("new", ["app:v2"]));
  assert.deepEqual(since(index, "new"), [500]);
});

Deno.test("listeners are told every workload that was added, changed or removed", () => {
  const index = new WorkloadIndex({ now: () => 0 });
  const told: string[] = [];
  const stop = index.listen((key) => told.push(key.name));
  index.upsert(workload("web", ["app:v1"]));
  index.upsert(workload("web", ["app:v2"]));
  index.remove({ kind: "Deployment", namespace: "default", name: "web" });
  // Removing what is not there changes nothing.
  index.remove({ kind: "Deployment", namespace: "default", name: "web" });
  assert.deepEqual(told, ["web", "web", "web"]);
  told.length = 0;
  index.upsert(workload("old", ["app:v1"]));
  told.length = 0;
  // A re-list: the listed ones and the one that went while the watch was down.
  index.replaceAll("Deployment", undefined, [workload("a", ["x:1"]), workload("b", ["y:1"])]);
  assert.deepEqual(told.sort(), ["a", "b", "old"]);
  stop();
  index.upsert(workload("c", ["z:1"]));
  assert.deepEqual(told.sort(), ["a", "b", "old"]);
});
