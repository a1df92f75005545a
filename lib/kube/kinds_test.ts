import assert from "node:assert/strict";
import { collectionPath, kindInfo, toTrackedWorkload, WORKLOAD_KINDS } from "./kinds.ts";
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
