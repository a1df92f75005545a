import assert from "node:assert/strict";
import type { TrackedWorkload } from "../model/workload.ts";
import { type RestorePlan, ROLLOUT_ANNOTATION, type WorkloadUpdate } from "../model/plan_types.ts";
import { planRestore } from "./restore_plan.ts";
import { parseUpdates, recordUpdates, UPDATES_ANNOTATION } from "../model/record.ts";

const T1 = new Date("2026-12-01T10:00:00Z");
const T2 = new Date("2026-12-01T11:00:00Z");

/** A Deployment with these containers (name -> image), `init-` names being initContainers. */
function web(images: Record<string, string>, annotations: Record<string, string> = {}) {
  return {
    key: { kind: "Deployment" as const, namespace: "dev", name: "web" },
    resourceVersion: "7",
    labels: {},
    annotations,
    templateAnnotations: {},
    containers: Object.entries(images).map(([name, image]) => ({
      name,
      init: name.startsWith("init-"),
      image,
      pullPolicy: "IfNotPresent",
    })),
  } satisfies TrackedWorkload;
}

/** The workload after veryfreshpod moved `container` to `to` at `at`, record included. */
function move(workload: TrackedWorkload, container: string, to: string, at: Date) {
  const from = workload.containers.find((c) => c.name === container)!.image;
  const update: WorkloadUpdate = {
    workload: workload.key,
    resourceVersion: workload.resourceVersion,
    imageUpdates: [{ container, init: false, from, to, id: `id-${to}` }],
    rebuilds: [],
    rolloutAnnotation: undefined,
    updatesRecord: workload.annotations[UPDATES_ANNOTATION],
    warnings: [],
  };
  return {
    ...workload,
    annotations: { ...workload.annotations, [UPDATES_ANNOTATION]: recordUpdates(update, at) },
    containers: workload.containers.map((c) => c.name === container ? { ...c, image: to } : c),
  };
}

/** The plan in one line per container: `app: a -> b` or `app: left alone (why)`. */
function summary(plan: RestorePlan | undefined): string[] {
  if (plan === undefined) return ["nothing"];
  return [
    ...plan.restores.map((r) => `${r.container}: ${r.from} -> ${r.to}`),
    ...plan.leftAlone.map((l) => `${l.container}: left alone (${l.why})`),
  ];
}

Deno.test("planRestore() puts a container back on the image before veryfreshpod's first move", () => {
  const moved = move(move(web({ app: "app:test" }), "app", "app:v1", T1), "app", "app:v2", T2);
  const plan = planRestore(moved, "original");
  assert.deepEqual(summary(plan), ["app: app:v2 -> app:test"]);
  assert.equal(plan!.updatesRecord, null, "its record goes");
  assert.equal(plan!.rolloutAnnotation, undefined, "there was none");
  assert.equal(plan!.resourceVersion, "7");
});

Deno.test("planRestore() with --to-last goes back one move at a time, then says where restore goes", () => {
  const moved = move(move(web({ app: "app:test" }), "app", "app:v1", T1), "app", "app:v2", T2);
  const back = planRestore(moved, "last")!;
  assert.deepEqual(summary(back), ["app: app:v2 -> app:v1"]);
  // The record is the previous move's again, with the original kept.
  assert.deepEqual(parseUpdates(back.updatesRecord!), {
    app: { image: "app:v1", id: "id-app:v1", at: T1.toISOString(), original: "app:test" },
  });
  const after = {
    ...moved,
    annotations: { [UPDATES_ANNOTATION]: back.updatesRecord! },
    containers: [{ ...moved.containers[0]!, image: "app:v1" }],
  };
  assert.deepEqual(summary(planRestore(after, "last")), [
    'app: left alone (no earlier step is recorded (one step back is kept); "veryfreshpod ' +
    'restore" without --to-last goes back to app:test)',
  ]);
  assert.deepEqual(summary(planRestore(after, "original")), ["app: app:v1 -> app:test"]);
});

Deno.test("planRestore() with --to-last after one move is a whole restore", () => {
  const plan = planRestore(move(web({ app: "app:test" }), "app", "app:v1", T1), "last")!;
  assert.deepEqual(summary(plan), ["app: app:v1 -> app:test"]);
  assert.equal(plan.updatesRecord, null);
});

Deno.test("planRestore() leaves a container changed by hand alone, keeps its record, and restores the rest", () => {
  let workload = move(web({ "init-db": "app:test", side: "side:1" }), "init-db", "app:v1", T1);
  workload = move(workload, "side", "side:2", T1);
  workload = {
    ...workload,
    templateAnnotations: {
      [ROLLOUT_ANNOTATION]: JSON.stringify({
        "docker.io/library/app:v1": "sha256:a",
        "docker.io/library/side:2": "sha256:s",
      }),
    },
    containers: workload.containers.map((c) => c.name === "side" ? { ...c, image: "side:9" } : c),
  };
  const plan = planRestore(workload, "original")!;
  assert.deepEqual(summary(plan), [
    "init-db: app:v1 -> app:test",
    "side: left alone (it runs side:9, set by hand since veryfreshpod set side:2; change it " +
    "back yourself if you want to)",
  ]);
  assert.equal(plan.restores[0]!.init, true);
  assert.deepEqual(Object.keys(parseUpdates(plan.updatesRecord!)), ["side"]);
  // Only the restored repository's rebuild key goes.
  assert.deepEqual(JSON.parse(plan.rolloutAnnotation!), { "docker.io/library/side:2": "sha256:s" });
});

Deno.test("planRestore() undoes a rebuild in place by dropping the record and the rollout annotation", () => {
  const update: WorkloadUpdate = {
    workload: web({}).key,
    resourceVersion: "7",
    imageUpdates: [],
    rebuilds: [{ container: "app", init: false, image: "app:dev", previousId: "a", id: "b" }],
    rolloutAnnotation: undefined,
    warnings: [],
  };
  const workload = {
    ...web({ app: "app:dev" }, { [UPDATES_ANNOTATION]: recordUpdates(update, T1) }),
    templateAnnotations: { [ROLLOUT_ANNOTATION]: '{"docker.io/library/app:dev":"b"}' },
  };
  const plan = planRestore(workload, "original")!;
  assert.deepEqual(summary(plan), ["app: app:dev -> app:dev"]);
  assert.equal(plan.updatesRecord, null);
  assert.equal(plan.rolloutAnnotation, null);
  assert.deepEqual(summary(planRestore(workload, "last")), [
    "app: left alone (its last change rebuilt app:dev in place, and that tag names no earlier " +
    "build)",
  ]);
});

Deno.test("planRestore() leaves records that predate the original image, and has nothing for a workload without a record", () => {
  const old = web({ app: "app:v2" }, {
    [UPDATES_ANNOTATION]: JSON.stringify({ app: { image: "app:v2", at: T1.toISOString() } }),
  });
  for (const mode of ["original", "last"] as const) {
    assert.deepEqual(summary(planRestore(old, mode)), [
      "app: left alone (its record predates veryfreshpod keeping the image it replaced; set " +
      "the image yourself)",
    ]);
  }
  assert.deepEqual(summary(planRestore(web({ app: "app:v2" }), "original")), ["nothing"]);
  const gone = move(web({ app: "app:test" }), "app", "app:v1", T1);
  assert.deepEqual(summary(planRestore({ ...gone, containers: [] }, "original")), [
    "app: left alone (it is no longer in the workload)",
  ]);
});
