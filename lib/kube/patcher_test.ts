import assert from "node:assert/strict";
import { ROLLOUT_ANNOTATION, type WorkloadUpdate } from "../model/plan_types.ts";
import { UPDATES_ANNOTATION } from "../model/record.ts";
import { describeChanges, patchBody, shortId } from "./patcher.ts";

const update: WorkloadUpdate = {
  workload: { kind: "Deployment", namespace: "dev", name: "web" },
  resourceVersion: "42",
  imageUpdates: [
    { container: "app", init: false, from: "myimage:test", to: "myimage:fixed" },
    { container: "migrate", init: true, from: "myimage:test", to: "myimage:fixed" },
  ],
  rebuilds: [],
  rolloutAnnotation: undefined,
  warnings: [],
};

Deno.test("patchBody() patches containers and initContainers by name with a resourceVersion precondition", () => {
  const at = new Date("2026-11-25T12:00:00Z");
  const record = {
    image: "myimage:fixed",
    at: "2026-11-25T12:00:00.000Z",
    previous: { image: "myimage:test" },
    original: "myimage:test",
  };
  assert.deepEqual(patchBody(update, at), {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: {
      name: "web",
      namespace: "dev",
      resourceVersion: "42",
      annotations: { [UPDATES_ANNOTATION]: JSON.stringify({ app: record, migrate: record }) },
    },
    spec: {
      template: {
        spec: {
          containers: [{ name: "app", image: "myimage:fixed" }],
          initContainers: [{ name: "migrate", image: "myimage:fixed" }],
        },
      },
    },
  });
});

Deno.test("patchBody() puts a CronJob's rollout annotation under its job template", () => {
  const body = patchBody({
    ...update,
    workload: { kind: "CronJob", namespace: "dev", name: "nightly" },
    imageUpdates: [],
    rebuilds: [{
      container: "job",
      init: false,
      image: "myimage:dev",
      previousId: "sha256:aaa",
      id: "sha256:bbb",
    }],
    rolloutAnnotation: '{"docker.io/library/myimage:dev":"sha256:bbb"}',
  });
  assert.equal(body.apiVersion, "batch/v1");
  assert.deepEqual(body.spec, {
    jobTemplate: {
      spec: {
        template: {
          metadata: {
            annotations: { [ROLLOUT_ANNOTATION]: '{"docker.io/library/myimage:dev":"sha256:bbb"}' },
          },
        },
      },
    },
  });
});

Deno.test("describeChanges() gives one event per changed container naming old and new image", () => {
  const events = describeChanges({ ...update, warnings: ["may be reverted by Helm"] });
  assert.deepEqual(events.map((e) => [e.reason, e.type, e.message]), [
    [
      "ImageUpdated",
      "Warning",
      'container "app" image myimage:test -> myimage:fixed; may be reverted by Helm',
    ],
    [
      "ImageUpdated",
      "Warning",
      'initContainer "migrate" image myimage:test -> myimage:fixed; may be reverted by Helm',
    ],
  ]);
});

Deno.test("describeChanges() names the old and new image ID of a rebuild", () => {
  const [event] = describeChanges({
    ...update,
    imageUpdates: [],
    rebuilds: [{
      container: "app",
      init: false,
      image: "myimage:dev",
      previousId: "sha256:0123456789abcdef",
      id: "sha256:fedcba9876543210",
    }],
  });
  assert.equal(event?.reason, "ImageRebuilt");
  assert.equal(event?.type, "Normal");
  assert.match(
    event?.message ?? "",
    /myimage:dev was rebuilt \(sha256:0123456789ab -> sha256:fedcba987654\)/,
  );
});

Deno.test("shortId() shortens IDs and says unknown for none", () => {
  assert.equal(shortId("sha256:0123456789abcdef"), "sha256:0123456789ab");
  assert.equal(shortId(undefined), "unknown");
});
