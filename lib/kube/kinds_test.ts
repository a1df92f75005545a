import assert from "node:assert/strict";
import {
  collectionPath,
  kindInfo,
  type KubeObject,
  listAll,
  slimObject,
  toTrackedWorkload,
  WORKLOAD_KINDS,
} from "./kinds.ts";
import { WorkloadIndex } from "./workload_index.ts";

const podSpec = {
  initContainers: [{ name: "init", image: "myimage:test" }],
  containers: [{ name: "app", image: "myimage:test", imagePullPolicy: "IfNotPresent" }],
};

Deno.test("toTrackedWorkload() finds the pod template of every kind", async (t) => {
  for (const info of WORKLOAD_KINDS) {
    await t.step(info.kind, () => {
      let spec: Record<string, unknown> = { spec: podSpec, metadata: { annotations: { a: "1" } } };
      for (const step of [...info.templatePath].reverse()) spec = { [step]: spec };
      const tracked = toTrackedWorkload(info, {
        metadata: { name: "w", namespace: "dev", resourceVersion: "7", labels: { l: "x" } },
        spec,
      });
      assert.deepEqual(tracked, {
        key: { kind: info.kind, namespace: "dev", name: "w" },
        resourceVersion: "7",
        labels: { l: "x" },
        annotations: {},
        templateAnnotations: { a: "1" },
        containers: [
          { name: "init", init: true, image: "myimage:test", pullPolicy: undefined },
          { name: "app", init: false, image: "myimage:test", pullPolicy: "IfNotPresent" },
        ],
        // The rollout follower reads these (a CronJob's: its schedule, for its next Job).
        rollout: { generation: undefined, spec: {}, status: {} },
      });
    });
  }
});

Deno.test("toTrackedWorkload() never throws on odd objects", async (t) => {
  const info = kindInfo("Deployment");
  const cases: Record<string, unknown> = {
    "no metadata": {},
    "no namespace": { metadata: { name: "x" } },
    "no template": { metadata: { name: "x", namespace: "y" }, spec: {} },
    "template not an object": { metadata: { name: "x", namespace: "y" }, spec: { template: 3 } },
  };
  for (const [name, object] of Object.entries(cases)) {
    await t.step(name, () => assert.equal(toTrackedWorkload(info, object as never), undefined));
  }
  await t.step("containers without a name or image are left out", () => {
    const tracked = toTrackedWorkload(info, {
      metadata: { name: "x", namespace: "y" },
      spec: { template: { spec: { containers: [{ name: "a" }, { image: "b" }, null, 5] } } },
    });
    assert.deepEqual(tracked?.containers, []);
  });
});

Deno.test("collectionPath() watches one namespace or all", () => {
  assert.equal(collectionPath(kindInfo("CronJob"), undefined), "/apis/batch/v1/cronjobs");
  assert.equal(
    collectionPath(kindInfo("StatefulSet"), "dev"),
    "/apis/apps/v1/namespaces/dev/statefulsets",
  );
});

Deno.test("WorkloadIndex.replaceAll() drops what a re-list no longer has, in its scope only", () => {
  const index = new WorkloadIndex();
  const make = (kind: "Deployment" | "CronJob", namespace: string, name: string) => ({
    key: { kind, namespace, name },
    resourceVersion: "1",
    labels: {},
    annotations: {},
    templateAnnotations: {},
    containers: [],
  });
  index.upsert(make("Deployment", "a", "gone"));
  index.upsert(make("Deployment", "b", "other-namespace"));
  index.upsert(make("CronJob", "a", "other-kind"));
  index.replaceAll("Deployment", "a", [make("Deployment", "a", "new")]);
  assert.deepEqual([...index.values()].map((w) => w.key.name).sort(), [
    "new",
    "other-kind",
    "other-namespace",
  ]);
  index.replaceAll("Deployment", undefined, []);
  assert.deepEqual([...index.values()].map((w) => w.key.name), ["other-kind"]);
});

const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

/** A whole object of `kind` as the API server sends it, with what is never read. */
function fullObject(templatePath: readonly string[], name: string): KubeObject {
  let spec: Record<string, unknown> = {
    metadata: { labels: { app: name }, annotations: { "veryfreshpod.io/image-ids": "{}" } },
    spec: {
      initContainers: [{ name: "init", image: "app:v1", command: ["true"] }],
      containers: [{
        name: "app",
        image: "app:v1",
        imagePullPolicy: "IfNotPresent",
        env: [{ name: "A", value: "1" }],
        resources: { limits: { memory: "1Gi" } },
      }],
      volumes: [{ name: "v", emptyDir: {} }],
    },
  };
  for (const step of [...templatePath].reverse()) spec = { [step]: spec };
  return {
    metadata: {
      name,
      namespace: "dev",
      uid: `uid-${name}`,
      resourceVersion: "42",
      generation: 4,
      labels: { "app.kubernetes.io/managed-by": "Helm" },
      annotations: {
        [LAST_APPLIED]: "{...a copy of the object...}",
        "meta.helm.sh/release-name": "r",
      },
      managedFields: [{ manager: "kubectl" }],
    } as KubeObject["metadata"],
    spec: {
      ...spec,
      replicas: 3,
      selector: { matchLabels: { app: name } },
      revisionHistoryLimit: 10,
    },
    status: {
      observedGeneration: 4,
      replicas: 3,
      updatedReplicas: 2,
      collisionCount: 1,
      conditions: [
        { type: "Available", status: "True", message: "Deployment has minimum availability." },
        {
          type: "Progressing",
          status: "False",
          reason: "ProgressDeadlineExceeded",
          lastUpdateTime: "2026-11-25T00:00:00Z",
        },
      ],
    },
  } as KubeObject;
}

Deno.test("slimObject() keeps what toTrackedWorkload reads, not status or copies", async (t) => {
  for (const info of WORKLOAD_KINDS) {
    await t.step(info.kind, () => {
      const full = fullObject(info.templatePath, "web");
      const slim = slimObject(info.templatePath, full);
      assert.deepEqual(
        { ...toTrackedWorkload(info, slim), rollout: undefined },
        { ...toTrackedWorkload(info, full), rollout: undefined },
      );
      const text = JSON.stringify(slim);
      for (const dropped of ["managedFields", "status", LAST_APPLIED, "volumes", "replicas"]) {
        assert.ok(!text.includes(dropped), `${dropped} is kept: ${text}`);
      }
    });
  }
});

Deno.test("slimObject() with the kind keeps the rollout fields and only those", async (t) => {
  for (const info of WORKLOAD_KINDS) {
    await t.step(info.kind, () => {
      const full = fullObject(info.templatePath, "web");
      const slim = slimObject(info.templatePath, full, info.kind);
      assert.deepEqual(toTrackedWorkload(info, slim), toTrackedWorkload(info, full));
      const text = JSON.stringify(slim);
      const dropped = ["managedFields", LAST_APPLIED, "volumes", "revisionHistoryLimit"];
      dropped.push("collisionCount", "Available", "lastUpdateTime");
      for (const word of dropped) assert.ok(!text.includes(word), `${word} is kept: ${text}`);
      if (info.kind === "CronJob") {
        assert.deepEqual(toTrackedWorkload(info, slim)?.rollout, {
          generation: 4,
          spec: { jobPodLabels: { app: "web" } },
          status: {},
        });
        assert.ok(!text.includes("status"), text);
        return;
      }
      assert.deepEqual(toTrackedWorkload(info, slim)?.rollout, {
        generation: 4,
        spec: { replicas: 3, selector: { matchLabels: { app: "web" } } },
        status: {
          observedGeneration: 4,
          replicas: 3,
          updatedReplicas: 2,
          conditions: [{
            type: "Progressing",
            status: "False",
            reason: "ProgressDeadlineExceeded",
            message: undefined,
          }],
        },
      });
    });
  }
});

Deno.test("toTrackedWorkload() keeps no copy of kubectl's last-applied configuration", () => {
  const info = kindInfo("Deployment");
  const tracked = toTrackedWorkload(info, fullObject(info.templatePath, "web"));
  assert.deepEqual(tracked?.annotations, { "meta.helm.sh/release-name": "r" });
});

Deno.test("listAll() reads every page with the continue token, at the first page's version", async () => {
  const info = kindInfo("CronJob");
  const asked: (string | undefined)[] = [];
  const pages = [
    {
      metadata: { resourceVersion: "10", continue: "t1" },
      items: [fullObject(info.templatePath, "a")],
    },
    { metadata: { resourceVersion: "10", continue: "t2" }, items: [] },
    {
      metadata: { resourceVersion: "10", continue: "" },
      items: [fullObject(info.templatePath, "b")],
    },
  ];
  const list = await listAll((object) => slimObject(info.templatePath, object), (token) => {
    asked.push(token);
    return Promise.resolve(pages[asked.length - 1]!);
  });
  assert.deepEqual(asked, [undefined, "t1", "t2"]);
  assert.equal(list.metadata?.resourceVersion, "10");
  assert.deepEqual(list.items.map((item) => toTrackedWorkload(info, item)?.key.name), ["a", "b"]);
  assert.ok(!JSON.stringify(list.items).includes("status"));
});
