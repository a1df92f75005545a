import assert from "node:assert/strict";
import { ROLLOUT_ANNOTATION, type WorkloadUpdate } from "../model/plan_types.ts";
import { UPDATES_ANNOTATION } from "../model/record.ts";
import { json, withServer } from "../testing/kube_test_server.ts";
import { testClusterConfig } from "../testing/fake_cluster_config.ts";
import { EventRecorder } from "./events.ts";
import { KubeClient } from "./rest.ts";
import { describeChanges, patchBody, shortId, WorkloadPatcher } from "./patcher.ts";

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

Deno.test("attempt() only patches; its record posts one Event per change, stamped with the change's time", async () => {
  const seen: Array<{ method: string; path: string; body: Record<string, unknown> }> = [];
  await withServer(async (request) => {
    const body = await request.json();
    seen.push({ method: request.method, path: new URL(request.url).pathname, body });
    return json({ metadata: { uid: "u-1", resourceVersion: "43" } });
  }, async (server) => {
    const client = await KubeClient.create(testClusterConfig(server, { token: "t" }));
    try {
      const patcher = new WorkloadPatcher(client, new EventRecorder(client, "node-1"), {
        dryRun: false,
      });
      const attempt = await patcher.attempt(update);
      assert.equal(attempt.result, "applied");
      assert.deepEqual(seen.map((r) => r.method), ["PATCH"], "no Event before its record runs");
      const changedAt = Date.now();
      await new Promise((resolve) => setTimeout(resolve, 20));
      assert.ok(attempt.result === "applied" && attempt.record);
      await attempt.record();
      const events = seen.slice(1);
      assert.deepEqual(events.map((r) => [r.method, r.path]), [
        ["POST", "/api/v1/namespaces/dev/events"],
        ["POST", "/api/v1/namespaces/dev/events"],
      ]);
      for (const { body } of events) {
        assert.deepEqual(body.involvedObject, {
          apiVersion: "apps/v1",
          kind: "Deployment",
          name: "web",
          namespace: "dev",
          uid: "u-1",
          resourceVersion: "43",
        });
        assert.ok(Date.parse(body.firstTimestamp as string) <= changedAt, "the change's time");
      }
    } finally {
      client.close();
    }
  });
});
