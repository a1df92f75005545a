import assert from "node:assert/strict";
import type { RestorePlan } from "../model/plan_types.ts";
import { restoreBody } from "./restore_patch.ts";

const AT = new Date("2026-12-01T12:00:00Z");

Deno.test("restoreBody() sets the changed images, removes the record and rollout annotation, and marks the restore", () => {
  const plan: RestorePlan = {
    workload: { kind: "CronJob", namespace: "dev", name: "nightly" },
    resourceVersion: "9",
    restores: [
      { container: "job", init: false, from: "app:v2", to: "app:test" },
      { container: "init-db", init: true, from: "db:v3", to: "db:v1" },
      { container: "side", init: false, from: "side:dev", to: "side:dev" },
    ],
    leftAlone: [],
    updatesRecord: null,
    rolloutAnnotation: null,
  };
  assert.deepEqual(restoreBody(plan, AT), {
    apiVersion: "batch/v1",
    kind: "CronJob",
    metadata: {
      name: "nightly",
      namespace: "dev",
      resourceVersion: "9",
      annotations: {
        "veryfreshpod.io/updates": null,
        "veryfreshpod.io/restored-at": "2026-12-01T12:00:00.000Z",
      },
    },
    spec: {
      jobTemplate: {
        spec: {
          template: {
            metadata: { annotations: { "veryfreshpod.io/image-ids": null } },
            spec: {
              containers: [{ name: "job", image: "app:test" }],
              initContainers: [{ name: "init-db", image: "db:v1" }],
            },
          },
        },
      },
    },
  });
});

Deno.test("restoreBody() leaves the rollout annotation alone when the plan does, and keeps a record", () => {
  const body = restoreBody({
    workload: { kind: "Deployment", namespace: "dev", name: "web" },
    resourceVersion: "3",
    restores: [{ container: "app", init: false, from: "app:v2", to: "app:v1" }],
    leftAlone: [],
    updatesRecord: '{"app":{"image":"app:v1","at":"t"}}',
    rolloutAnnotation: undefined,
  }, AT) as { metadata: { annotations: object }; spec: object };
  assert.deepEqual(body.spec, {
    template: { spec: { containers: [{ name: "app", image: "app:v1" }] } },
  });
  assert.deepEqual(body.metadata.annotations, {
    "veryfreshpod.io/updates": '{"app":{"image":"app:v1","at":"t"}}',
    "veryfreshpod.io/restored-at": "2026-12-01T12:00:00.000Z",
  });
});
