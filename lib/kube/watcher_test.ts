import assert from "node:assert/strict";
import { setupLogging } from "../util/log.ts";
import { apiError, FakeKube, InstantClock, watchRequestError } from "../testing/fake_kube.ts";
import { kindInfo, type KubeObject } from "./kinds.ts";
import { WorkloadWatcher } from "./watcher.ts";
import { ApiConnection } from "./api_connection.ts";
import { KubeNetworkError, KubeStalledError } from "./rest.ts";
import { WorkloadIndex } from "./workload_index.ts";
import type { WorkloadKind } from "../model/workload.ts";

const DEPLOYMENTS = { info: kindInfo("Deployment"), namespace: undefined };
const CRONJOBS = { info: kindInfo("CronJob"), namespace: undefined };

function workload(kind: WorkloadKind, name: string, image: string, resourceVersion: string) {
  const pod = { spec: { containers: [{ name: "app", image }] } };
  return {
    metadata: { name, namespace: "dev", resourceVersion },
    spec: kind === "CronJob" ? { jobTemplate: { spec: { template: pod } } } : { template: pod },
  } satisfies KubeObject;
}

/** The images in the index, by workload name. */
function images(index: WorkloadIndex): Record<string, string> {
  return Object.fromEntries(
    [...index.values()].map((w) => [w.key.name, w.containers.map((c) => c.image).join(",")]),
  );
}

/** Rejects when `promise` does not settle within `ms` of real time. */
async function within<T>(promise: Promise<T>, what: string, ms = 5_000): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what}: not within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/** A watcher over a fake, with its log lines collected; stops everything when disposed. */
function setup(scopes = [DEPLOYMENTS]) {
  const kube = new FakeKube();
  const clock = new InstantClock();
  const index = new WorkloadIndex();
  const watcher = new WorkloadWatcher(kube, index, scopes, {
    clock,
    connection: new ApiConnection(),
  });
  const logs: string[] = [];
  setupLogging({ level: "debug", format: "text", write: (line) => logs.push(line) });
  const stop = new AbortController();
  return {
    kube,
    clock,
    index,
    watcher,
    logs,
    stop,
    start: () => watcher.start(stop.signal),
    [Symbol.dispose]() {
      stop.abort();
      setupLogging({ level: "info", format: "text", write: () => {} });
    },
  };
}

Deno.test("the watcher lists, watches from the list's version and follows the events", async () => {
  using t = setup();
  const started = t.start();
  (await t.kube.next("list")).answer([workload("Deployment", "web", "app:v1", "5")], "10");
  await within(started, "start");
  assert.equal(t.watcher.synced, true);
  assert.deepEqual(images(t.index), { web: "app:v1" });
  assert.ok(t.logs.some((line) => line.includes("DEBUG Listed 1 Deployment\n")), t.logs.join(""));

  const watch = await t.kube.next("watch");
  assert.equal(watch.resourceVersion, "10");
  watch.send("ADDED", workload("Deployment", "api", "api:v1", "11"));
  watch.send("MODIFIED", workload("Deployment", "web", "app:v2", "12"));
  watch.send("BOOKMARK", { metadata: { resourceVersion: "14" } });
  assert.deepEqual(images(t.index), { web: "app:v2", api: "api:v1" });
  watch.send("DELETED", workload("Deployment", "api", "api:v1", "15"));
  assert.deepEqual(images(t.index), { web: "app:v2" });
  watch.end();
  // A watch the server ended after events is started again at once, from the last version.
  assert.equal((await t.kube.next("watch")).resourceVersion, "15");
  assert.deepEqual(t.clock.sleeps, []);
});

Deno.test("a 410 answer to the watch request re-lists instead of retrying the stale version", async () => {
  using t = setup();
  const started = t.start();
  (await t.kube.next("list")).answer([workload("Deployment", "web", "app:v1", "5")], "10");
  await within(started, "start");
  const watch = await t.kube.next("watch");
  watch.send("MODIFIED", workload("Deployment", "web", "app:v2", "11"));
  // The watch request itself is answered 410 Gone (client-node's done callback).
  watch.fail(watchRequestError(410));
  const list = await t.kube.next("list", undefined, 1_000);
  // While the watch was down, web moved on and a new one came.
  list.answer([
    workload("Deployment", "web", "app:v3", "40"),
    workload("Deployment", "db", "db:v1", "41"),
  ], "42");
  assert.equal((await t.kube.next("watch")).resourceVersion, "42");
  assert.deepEqual(images(t.index), { web: "app:v3", db: "db:v1" });
  assert.deepEqual(t.kube.history, [
    "list deployments",
    "watch deployments from 10",
    "list deployments",
    "watch deployments from 42",
  ]);
});

Deno.test("a 410 ERROR event re-lists too", async () => {
  using t = setup();
  const started = t.start();
  (await t.kube.next("list")).answer([], "10");
  await within(started, "start");
  const watch = await t.kube.next("watch");
  watch.send("ERROR", { code: 410, message: "too old resource version: 10 (20)" });
  assert.equal(watch.signal.aborted, true, "the watch is stopped");
  (await t.kube.next("list", undefined, 1_000)).answer([], "30");
  assert.equal((await t.kube.next("watch")).resourceVersion, "30");
});

Deno.test("after a failure, an expiry re-lists at once; expiries in a row back off", async () => {
  using t = setup();
  const started = t.start();
  (await t.kube.next("list")).answer([], "10");
  await within(started, "start");
  // The API server is down for a while: the backoff grows.
  for (let i = 0; i < 3; i++) (await t.kube.next("watch")).fail(new Error("connection refused"));
  const resumed = await t.kube.next("watch");
  assert.equal(t.clock.sleeps.length, 3);
  // Back, with the history compacted: the first expiry lists again without waiting.
  resumed.fail(watchRequestError(410));
  (await t.kube.next("list", undefined, 1_000)).answer([], "50");
  assert.equal(t.clock.sleeps.length, 3, `${t.clock.sleeps}`);
  // A server that expires even the fresh list's version: now it waits.
  (await t.kube.next("watch")).send("ERROR", { code: 410, message: "too old" });
  (await t.kube.next("list", undefined, 1_000)).answer([], "60");
  assert.equal(t.clock.sleeps.length, 4, `${t.clock.sleeps}`);
  // An event in between is progress: the next expiry lists at once again.
  const watch = await t.kube.next("watch");
  watch.send("ADDED", workload("Deployment", "web", "app:v1", "61"));
  watch.send("ERROR", { code: 410, message: "too old" });
  await t.kube.next("list", undefined, 1_000);
  assert.equal(t.clock.sleeps.length, 4, `${t.clock.sleeps}`);
});

Deno.test("ERROR events do not reset the backoff; a good event does", async () => {
  using t = setup();
  const started = t.start();
  (await t.kube.next("list")).answer([], "10");
  await within(started, "start");
  for (let i = 0; i < 3; i++) {
    (await t.kube.next("watch")).send("ERROR", { code: 500, message: "etcd is sad" });
  }
  const watch = await t.kube.next("watch");
  assert.equal(t.clock.sleeps.length, 3);
  const [first = 0, second = 0, third = 0] = t.clock.sleeps;
  // 250, 500, 1000 ms, each ±20%.
  assert.ok(first >= 200 && first <= 300, `${t.clock.sleeps}`);
  assert.ok(second >= 400 && second <= 600, `${t.clock.sleeps}`);
  assert.ok(third >= 800 && third <= 1_200, `${t.clock.sleeps}`);
  // A well-formed event is progress: the next failure waits the shortest delay again.
  watch.send("ADDED", workload("Deployment", "web", "app:v1", "11"));
  watch.send("ERROR", { code: 500, message: "etcd is sad" });
  assert.equal((await t.kube.next("watch")).resourceVersion, "11");
  const last = t.clock.sleeps.at(-1) ?? 0;
  assert.ok(last >= 200 && last <= 300, `${t.clock.sleeps}`);
  // One warning per run of failures; the retries in a run are debug lines.
  const warnings = t.logs.filter((line) => line.includes(" WARN "));
  assert.equal(warnings.length, 2, t.logs.join(""));
  assert.match(warnings[0] ?? "", /Watch of deployments.apps failed: etcd is sad; retrying/);
});

Deno.test("a watch that ends at once without events backs off instead of spinning", async () => {
  using t = setup();
  const started = t.start();
  (await t.kube.next("list")).answer([], "10");
  await within(started, "start");
  for (let i = 0; i < 3; i++) (await t.kube.next("watch")).end();
  await t.kube.next("watch");
  assert.equal(t.clock.sleeps.length, 3, `${t.clock.sleeps}`);
  assert.ok((t.clock.sleeps[2] ?? 0) >= 800, `${t.clock.sleeps}`);
});

Deno.test("a kind that may not be listed does not hold up the start; it is picked up later", async () => {
  using t = setup([DEPLOYMENTS, CRONJOBS]);
  const started = t.start();
  (await t.kube.next("list", "deployments")).answer(
    [workload("Deployment", "web", "app:v1", "5")],
    "10",
  );
  const forbidden = () => apiError(403, 'cronjobs.batch is forbidden: User "vfp" cannot list');
  (await t.kube.next("list", "cronjobs")).fail(forbidden());
  await within(started, "start without cronjobs");
  assert.equal(t.watcher.synced, false);
  assert.deepEqual(images(t.index), { web: "app:v1" });
  // Tried again in the background, quietly, less and less often.
  for (let i = 0; i < 3; i++) (await t.kube.next("list", "cronjobs")).fail(forbidden());
  const granted = await t.kube.next("list", "cronjobs");
  const warnings = t.logs.filter((line) => line.includes(" WARN "));
  assert.equal(warnings.length, 1, t.logs.join(""));
  assert.match(
    warnings[0] ?? "",
    /WARN {2}Kubernetes refused to list cronjobs.batch at cluster scope \(403 Forbidden\): grant the verb "list" on "cronjobs.batch" to veryfreshpod's user or service account; going on without CronJobs; trying again in the background\n$/,
  );
  assert.deepEqual(t.clock.sleeps.length, 4);
  assert.ok((t.clock.sleeps[3] ?? 0) >= 6_400, `slower retries: ${t.clock.sleeps}`);
  // The permission arrives.
  granted.answer([workload("CronJob", "nightly", "job:v1", "7")], "20");
  assert.equal((await t.kube.next("watch", "cronjobs")).resourceVersion, "20");
  assert.equal(t.watcher.synced, true);
  assert.deepEqual(images(t.index), { web: "app:v1", nightly: "job:v1" });
  assert.ok(
    t.logs.some((line) =>
      /INFO {2}Can read cronjobs.batch again: tracking 1 CronJob\n$/.test(line)
    ),
    t.logs.join(""),
  );
});

Deno.test("a kind the server does not serve (404) does not hold up the start either", async () => {
  using t = setup([DEPLOYMENTS, CRONJOBS]);
  const started = t.start();
  (await t.kube.next("list", "deployments")).answer([], "10");
  (await t.kube.next("list", "cronjobs")).fail(
    apiError(404, "the server could not find the requested resource"),
  );
  await within(started, "start without cronjobs");
  assert.match(
    t.logs.find((line) => line.includes(" WARN ")) ?? "",
    /Kubernetes does not serve cronjobs.batch \(the server could not find the requested resource\); going on without CronJobs; trying again/,
  );
});

Deno.test("other failures of the first list still hold up the start, with one warning", async () => {
  using t = setup();
  let settled = false;
  const started = t.start().then(() => settled = true);
  for (let i = 0; i < 3; i++) (await t.kube.next("list")).fail(apiError(500, "etcd is down"));
  const list = await t.kube.next("list");
  assert.equal(settled, false, "a transient failure is waited out");
  list.answer([], "10");
  await within(started, "start");
  assert.equal(t.logs.filter((line) => line.includes(" WARN ")).length, 1, t.logs.join(""));
});

Deno.test("a watch that is refused is reported once, and again after it worked in between", async () => {
  using t = setup();
  const started = t.start();
  (await t.kube.next("list")).answer([], "10");
  await within(started, "start");
  for (let i = 0; i < 3; i++) (await t.kube.next("watch")).fail(watchRequestError(403));
  const watch = await t.kube.next("watch");
  watch.send("ADDED", workload("Deployment", "web", "app:v1", "11"));
  watch.fail(watchRequestError(403));
  await t.kube.next("watch");
  const warnings = t.logs.filter((line) => line.includes(" WARN "));
  assert.equal(warnings.length, 2, t.logs.join(""));
  assert.match(
    warnings[0] ?? "",
    /refused to watch deployments.apps .*; trying again in the background\n$/,
  );
  assert.doesNotMatch(warnings[0] ?? "", /going on without/);
});

Deno.test("refresh() reads one workload into the index, or takes it out when gone", async () => {
  using t = setup();
  const key = { kind: "Deployment" as const, namespace: "dev", name: "web" };
  const refreshed = t.watcher.refresh(key);
  const read = await t.kube.next("read");
  assert.deepEqual(read.key, key);
  read.answer(workload("Deployment", "web", "app:v9", "50"));
  await refreshed;
  assert.deepEqual(images(t.index), { web: "app:v9" });
  const again = t.watcher.refresh(key);
  (await t.kube.next("read")).answer(undefined);
  await again;
  assert.deepEqual(images(t.index), {});
});

Deno.test("a dead connection: one warning, a re-list of every kind that replaces what it knew, one reconnected line", async () => {
  using t = setup([DEPLOYMENTS, CRONJOBS]);
  const started = t.start();
  (await t.kube.next("list", "deployments")).answer(
    [workload("Deployment", "web", "app:v1", "5"), workload("Deployment", "old", "app:v1", "6")],
    "10",
  );
  (await t.kube.next("list", "cronjobs")).answer([], "10");
  await within(started, "start");
  const deployments = await t.kube.next("watch", "deployments");
  const cronjobs = await t.kube.next("watch", "cronjobs");
  // One watch goes silent past the deadline: the other, on the same connection, ends at once.
  deployments.fail(new KubeStalledError(60_000));
  await within(
    new Promise((resolve) => cronjobs.signal.addEventListener("abort", resolve)),
    "abort",
  );
  // The first re-list finds no answer either.
  (await t.kube.next("list", "deployments")).fail(
    new KubeNetworkError("timed out", "ETIMEDOUT"),
  );
  // Meanwhile "old" was deleted and "new" created: the re-list brings both.
  (await t.kube.next("list", "cronjobs")).answer(
    [workload("CronJob", "nightly", "job:v1", "30")],
    "30",
  );
  (await t.kube.next("list", "deployments")).answer(
    [workload("Deployment", "web", "app:v1", "5"), workload("Deployment", "new", "app:v2", "31")],
    "31",
  );
  assert.equal((await t.kube.next("watch", "deployments")).resourceVersion, "31");
  assert.deepEqual(images(t.index), { web: "app:v1", new: "app:v2", nightly: "job:v1" });
  const lines = t.logs.filter((line) => / (WARN|INFO) /.test(line));
  assert.equal(lines.length, 2, t.logs.join(""));
  assert.match(
    lines[0] ?? "",
    /WARN {2}The connection to the Kubernetes API server seems dead \(the watch of deployments.apps: no data for 60 s: the connection seems dead\); listing everything again once it answers\n$/,
  );
  assert.match(
    lines[1] ?? "",
    /INFO {2}Reconnected to the Kubernetes API server: listed again, so nothing that changed meanwhile is missed\n$/,
  );
});
