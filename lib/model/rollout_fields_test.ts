import assert from "node:assert/strict";
import { rolloutFields, selectorMatches } from "./rollout_fields.ts";

Deno.test("selectorMatches() follows Kubernetes' rules for each operator", async (t) => {
  const labels = { app: "web", tier: "front" };
  const cases: Array<[string, Parameters<typeof selectorMatches>[0], boolean]> = [
    ["matchLabels, all equal", { matchLabels: { app: "web" } }, true],
    ["matchLabels, one differs", { matchLabels: { app: "web", tier: "back" } }, false],
    ["In", { matchExpressions: [{ key: "tier", operator: "In", values: ["a", "front"] }] }, true],
    [
      "In, label absent",
      { matchExpressions: [{ key: "x", operator: "In", values: ["a"] }] },
      false,
    ],
    ["NotIn", { matchExpressions: [{ key: "tier", operator: "NotIn", values: ["front"] }] }, false],
    ["NotIn, label absent", {
      matchExpressions: [{ key: "x", operator: "NotIn", values: ["a"] }],
    }, true],
    ["Exists", { matchExpressions: [{ key: "app", operator: "Exists" }] }, true],
    ["DoesNotExist", { matchExpressions: [{ key: "app", operator: "DoesNotExist" }] }, false],
    ["an unknown operator selects nothing", {
      matchExpressions: [{ key: "app", operator: "Gt", values: ["1"] }],
    }, false],
    ["an empty selector selects nothing (never every pod)", {}, false],
    ["no selector selects nothing", undefined, false],
  ];
  for (const [name, selector, expected] of cases) {
    await t.step(name, () => assert.equal(selectorMatches(selector, labels), expected));
  }
});

Deno.test("rolloutFields() keeps the counters, the revisions and failure conditions only", () => {
  const fields = rolloutFields("StatefulSet", {
    metadata: { generation: 3 },
    spec: {
      replicas: 2,
      selector: { matchExpressions: [{ key: "app", operator: "In", values: ["db"] }] },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 1, maxUnavailable: 1 } },
      template: { spec: { containers: [] } },
    },
    status: {
      observedGeneration: 3,
      readyReplicas: 1,
      updateRevision: "db-2",
      currentRevision: "db-1",
      collisionCount: 0,
      conditions: [{ type: "Progressing", status: "True", reason: "NewReplicaSetAvailable" }],
    },
  });
  assert.deepEqual(fields, {
    generation: 3,
    spec: {
      replicas: 2,
      selector: { matchExpressions: [{ key: "app", operator: "In", values: ["db"] }] },
      updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 1 } },
    },
    status: {
      observedGeneration: 3,
      readyReplicas: 1,
      updateRevision: "db-2",
      currentRevision: "db-1",
    },
  });
  assert.deepEqual(rolloutFields("CronJob", { spec: {} }), {
    generation: undefined,
    spec: {},
    status: {},
  });
  assert.deepEqual(
    rolloutFields("CronJob", {
      spec: {
        schedule: "0 3 1 1 *",
        timeZone: "Europe/Berlin",
        jobTemplate: { spec: { template: { metadata: { labels: { app: "job" } } } } },
      },
    })?.spec,
    { schedule: "0 3 1 1 *", timeZone: "Europe/Berlin", jobPodLabels: { app: "job" } },
  );
  assert.deepEqual(
    rolloutFields("Deployment", {
      spec: {
        paused: true,
        minReadySeconds: 40,
        strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 0, maxUnavailable: 1 } },
      },
    })?.spec,
    {
      paused: true,
      minReadySeconds: 40,
      strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 0 } },
    },
  );
});
