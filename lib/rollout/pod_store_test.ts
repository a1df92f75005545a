import assert from "node:assert/strict";
import { setupLogging } from "../util/log.ts";
import { FakeKube, InstantClock, watchRequestError } from "../testing/fake_kube.ts";
import type { KubeObject } from "../kube/kinds.ts";
import type { ListWatchSource } from "../kube/watcher.ts";
import { ROLLOUT_ANNOTATION } from "../model/plan_types.ts";
import { type PodScope, PodWatch, slimPod } from "./pod_store.ts";

function rawPod(name: string, labels: Record<string, string>, resourceVersion = "1"): KubeObject {
  return {
    metadata: {
      name,
      namespace: "dev",
      resourceVersion,
      labels,
      annotations: { [ROLLOUT_ANNOTATION]: '{"a":"b"}', "other/annotation": "x".repeat(1000) },
      ownerReferences: [{ kind: "ReplicaSet", name: "web-1" }],
      managedFields: [{ manager: "kubelet" }],
    } as KubeObject["metadata"],
    spec: {
      nodeName: "node-1",
      containers: [{
        name: "web",
        image: "app:v2",
        imagePullPolicy: "Never",
        env: [{ name: "A", value: "1" }],
      }],
      volumes: [{ name: "v", emptyDir: {} }],
    },
    status: {
      phase: "Running",
      podIP: "10.0.0.1",
      conditions: [
        { type: "Initialized", status: "True" },
        { type: "Ready", status: "True", lastProbeTime: null },
      ],
      containerStatuses: [{
        name: "web",
        image: "app:v2",
        imageID: "sha256:1",
        ready: true,
        restartCount: 0,
        started: true,
        state: { running: { startedAt: "2026-11-25T12:00:00Z" } },
      }],
    },
  };
}

function setup(namespaces: (string | undefined)[] = [undefined]) {
  setupLogging({ level: "info", format: "text", write: () => {} });
  const kube = new FakeKube();
  const stop = new AbortController();
  const source = kube as unknown as ListWatchSource<PodScope>;
  const watch = new PodWatch(source, namespaces, stop.signal, { clock: new InstantClock() });
  const told: Array<{ namespace: string | undefined; web: boolean; api: boolean }> = [];
  watch.listen((namespace, concerns) =>
    told.push({
      namespace,
      web: concerns({ matchLabels: { app: "web" } }),
      api: concerns({ matchLabels: { app: "api" } }),
    })
  );
  return {
    kube,
    watch,
    told,
    [Symbol.asyncDispose]: async () => {
      stop.abort();
      await watch.done();
    },
  };
}

Deno.test("the pod watch makes no request until a follow starts it, then one list and one watch", async () => {
  await using t = setup();
  await new Promise((resolve) => setTimeout(resolve, 10));
  assert.deepEqual(t.kube.history, []);
  t.watch.start();
  t.watch.start();
  (await t.kube.next("list", "pods")).answer([rawPod("web-1", { app: "web" })], "10");
  const watch = await t.kube.next("watch", "pods");
  assert.equal(watch.resourceVersion, "10");
  assert.deepEqual(t.kube.history, ["list pods", "watch pods from 10"]);
  assert.deepEqual(t.told, [{ namespace: undefined, web: true, api: true }]);
  assert.deepEqual(
    t.watch.select("dev", { matchLabels: { app: "web" } }).map((p) => p.metadata?.name),
    ["web-1"],
  );
  assert.deepEqual(t.watch.select("dev", { matchLabels: { app: "api" } }), []);
  assert.deepEqual(t.watch.select("other", { matchLabels: { app: "web" } }), []);
});

Deno.test("a pod event concerns the selectors that pick it before or after the change", async () => {
  await using t = setup();
  t.watch.start();
  (await t.kube.next("list", "pods")).answer([rawPod("p", { app: "web" })], "10");
  const watch = await t.kube.next("watch", "pods");
  t.told.length = 0;
  watch.send("MODIFIED", rawPod("p", { app: "web" }, "11"));
  // Relabelled away from web: both the old and the new owner hear of it.
  watch.send("MODIFIED", rawPod("p", { app: "api" }, "12"));
  watch.send("DELETED", rawPod("p", { app: "api" }, "13"));
  watch.send("ADDED", rawPod("q", { app: "other" }, "14"));
  assert.deepEqual(t.told, [
    { namespace: "dev", web: true, api: false },
    { namespace: "dev", web: true, api: true },
    { namespace: "dev", web: false, api: true },
    { namespace: "dev", web: false, api: false },
  ]);
  assert.equal(t.watch.store.size, 1);
});

Deno.test("an expired pod watch re-lists, and the list replaces what was held", async () => {
  await using t = setup(["dev"]);
  t.watch.start();
  const list = await t.kube.next("list", "pods");
  assert.equal(list.scope.namespace, "dev");
  list.answer([rawPod("old", { app: "web" })], "10");
  (await t.kube.next("watch", "pods")).fail(watchRequestError(410));
  (await t.kube.next("list", "pods", 1_000)).answer([rawPod("new", { app: "web" })], "40");
  assert.equal((await t.kube.next("watch", "pods")).resourceVersion, "40");
  assert.deepEqual(
    t.watch.select("dev", { matchLabels: { app: "web" } }).map((p) => p.metadata?.name),
    ["new"],
  );
  assert.deepEqual(t.told.at(-1), { namespace: "dev", web: true, api: true });
});

Deno.test("slimPod() keeps what the verdict and the diagnosis read, and nothing else", () => {
  const slim = slimPod(rawPod("web-1", { app: "web" }));
  assert.deepEqual(slim, {
    metadata: {
      name: "web-1",
      namespace: "dev",
      labels: { app: "web" },
      annotations: { [ROLLOUT_ANNOTATION]: '{"a":"b"}' },
      ownerReferences: [{ kind: "ReplicaSet", name: "web-1" }],
    },
    spec: {
      nodeName: "node-1",
      containers: [{ name: "web", image: "app:v2", imagePullPolicy: "Never" }],
    },
    status: {
      phase: "Running",
      conditions: [{ type: "Ready", status: "True" }],
      containerStatuses: [{
        name: "web",
        image: "app:v2",
        ready: true,
        restartCount: 0,
        state: { running: { startedAt: "2026-11-25T12:00:00Z" } },
        lastState: undefined,
      }],
    },
  });
});
