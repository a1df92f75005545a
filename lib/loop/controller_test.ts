import assert from "node:assert/strict";
import {
  type BeforePatch,
  Controller,
  type ControllerOptions,
  defineControllerMetrics,
} from "./controller.ts";
import {
  deployment,
  FakeEngine,
  FakeKubeSide,
  Gate,
  type PatchAnswer,
} from "../testing/controller_fakes.ts";
import { FakeClock, settle } from "../testing/fake_clock.ts";
import type { TrackedWorkload } from "../model/workload.ts";
import { captureLogs } from "../testing/log_capture.ts";
import { Metrics } from "../util/metrics.ts";

const HOUR = 3_600_000;

interface Setup {
  readonly workloads?: TrackedWorkload[];
  /** Tags in the engine at start: reference → image ID. */
  readonly images?: Record<string, string>;
  readonly options?: Partial<ControllerOptions>;
  readonly answer?: PatchAnswer;
  /** Sides kept from an earlier run (a restart). */
  readonly engine?: FakeEngine;
  readonly kube?: FakeKubeSide;
  readonly clock?: FakeClock;
  readonly beforePatch?: BeforePatch;
}

/** A running controller on fakes; disposing stops it and waits for its end. */
async function started(setup: Setup = {}) {
  const clock = setup.clock ?? new FakeClock();
  const engine = setup.engine ?? new FakeEngine();
  const streamsBefore = engine.streams.length;
  if (setup.engine === undefined) {
    for (const [reference, id] of Object.entries(setup.images ?? { "app:v1": "sha256:1" })) {
      engine.tag(reference, id);
    }
  }
  const kube = setup.kube ?? new FakeKubeSide(setup.workloads ?? [deployment("web", "app:v1")]);
  kube.now = () => clock.now();
  if (setup.answer) kube.answer = setup.answer;
  const metrics = new Metrics();
  defineControllerMetrics(metrics);
  const parts = { engine, kube, metrics, clock };
  const controller = new Controller(
    setup.beforePatch ? { ...parts, beforePatch: setup.beforePatch } : parts,
    {
      plan: { namespaces: [], excludeNamespaces: [] },
      // Long, so that only what a test does causes a pass.
      resyncMs: HOUR,
      ...setup.options,
    },
  );
  const stop = new AbortController();
  let ended = false;
  const running = controller.run(stop.signal).finally(() => ended = true);
  await settle();
  assert.equal(engine.streams.length, streamsBefore + 1, "the controller follows the event stream");
  return {
    clock,
    engine,
    kube,
    metrics,
    controller,
    stop,
    running,
    get ended() {
      return ended;
    },
    /** Stops the controller and lets time pass until it has ended (a bounded number of steps). */
    async stopped(): Promise<void> {
      stop.abort();
      for (let step = 0; step < 100 && !ended; step++) await clock.advance(1_000);
      assert.ok(ended, "the controller ended after the signal");
      await running;
    },
    async [Symbol.asyncDispose]() {
      if (!ended) await this.stopped();
    },
  };
}

Deno.test("the first event is acted on at once, without waiting for a burst", async () => {
  await using c = await started();
  c.engine.tag("app:v2", "sha256:2");
  c.engine.stream.send("tag");
  // No time passes at all.
  await settle();
  assert.deepEqual(c.kube.images(), { web: "app:v2" });
  assert.equal(c.engine.snapshots, 2, "the start's read and one pass");
});

Deno.test("a tag event that names its image is acted on before the list is re-read", async () => {
  await using c = await started();
  c.engine.gate = new Gate();
  c.engine.tag("app:v2", "sha256:2");
  c.engine.stream.sendTag("app:v2", "sha256:2");
  await settle();
  assert.deepEqual(c.kube.images(), { web: "app:v2" }, "patched while the read is under way");
  assert.equal(c.engine.snapshots, 2, "the pass's read was asked for");
  c.engine.gate.open();
  await settle();
  assert.equal(c.kube.attempts.length, 1, "the read confirms it: no second patch");
  assert.equal(c.metrics.get("veryfreshpod_image_changes_total", { kind: "added" }), 1);
});

Deno.test("a tag event that comes while the pass reads is acted on at once; the list is read again", async () => {
  await using c = await started();
  const gate = new Gate();
  c.engine.gate = gate;
  // A BuildKit build on Docker's containerd store: `create` first, whose pass reads the list…
  c.engine.stream.send("create", "sha256:2");
  await settle();
  assert.equal(c.engine.snapshots, 2, "the create's pass is reading");
  // …and its `tag` comes while that read is under way (a slow list, as that store's is).
  c.engine.tag("app:v2", "sha256:2");
  c.engine.stream.sendTag("app:v2", "sha256:2");
  await settle();
  assert.deepEqual(c.kube.images(), { web: "app:v2" }, "patched while the read is under way");
  c.engine.gate = undefined;
  gate.open();
  await settle();
  assert.equal(c.engine.snapshots, 3, "the read that may predate the tag is read again");
  assert.equal(c.kube.attempts.length, 1, "which confirms it: no second patch");
  assert.equal(c.metrics.get("veryfreshpod_image_changes_total", { kind: "added" }), 1);
});

Deno.test("a tag that an untag follows in the same burst waits for the read", async () => {
  await using c = await started();
  const gate = new Gate();
  c.engine.gate = gate;
  // The first event's pass is held in its read; the burst gathers behind it.
  c.engine.stream.send("pull");
  await settle();
  c.engine.stream.sendTag("app:v2", "sha256:2");
  c.engine.stream.send("untag");
  await settle();
  c.engine.gate = undefined;
  gate.open();
  await settle();
  assert.deepEqual(c.kube.images(), { web: "app:v1" }, "v2 never existed for the read");
  assert.equal(c.kube.attempts.length, 0);
});

Deno.test("a burst that arrives while a pass runs is gathered into one follow-up pass", async () => {
  await using c = await started();
  c.engine.gate = new Gate();
  c.engine.tag("app:v2", "sha256:2");
  c.engine.stream.send("tag");
  await settle();
  assert.equal(c.engine.snapshots, 2, "the first event started a pass at once");
  for (let i = 0; i < 5; i++) c.engine.stream.send("tag");
  c.engine.tag("app:v3", "sha256:3");
  await settle();
  assert.equal(c.engine.snapshots, 2, "no second read while the first runs");
  const gate = c.engine.gate;
  c.engine.gate = undefined;
  gate.open();
  await settle();
  assert.equal(c.engine.snapshots, 3, "five events during the pass: one more pass");
  assert.deepEqual(c.kube.images(), { web: "app:v3" });
});

Deno.test("a change held back before patching is retried and counted once", async () => {
  using _logs = captureLogs("info");
  let holds = 1;
  await using c = await started({
    beforePatch: () => {
      if (holds-- > 0) throw new Error("the node does not have the image yet");
      return Promise.resolve();
    },
  });
  c.engine.tag("app:v2", "sha256:2");
  // With a bridge the images must reach the nodes first: even a tag event that names its
  // image waits for the pass's read and the bridge.
  c.engine.stream.sendTag("app:v2", "sha256:2");
  await settle();
  assert.deepEqual(c.kube.images(), { web: "app:v1" }, "held back: nothing patched");
  c.engine.stream.sendTag("app:v2", "sha256:2");
  await settle();
  assert.deepEqual(c.kube.images(), { web: "app:v2" }, "the next pass applies it");
  assert.equal(c.metrics.get("veryfreshpod_image_changes_total", { kind: "added" }), 1);
});

Deno.test("updates the API server cannot take are deferred, retried off the pass, then applied", async () => {
  using logs = captureLogs("info");
  let down = true;
  await using c = await started({
    workloads: [deployment("web", "app:v1"), deployment("db", "db:v1")],
    images: { "app:v1": "sha256:1", "db:v1": "sha256:d1" },
    answer: (update, apply) =>
      down && update.workload.name === "web"
        ? { result: "retry", error: "connect ECONNREFUSED" }
        : apply(),
  });
  c.engine.tag("app:v2", "sha256:2");
  c.engine.stream.send("tag");
  await settle();
  assert.equal(c.kube.attempts.length, 1);
  // The retries back off (250 ms doubling to 8 s): six attempts within a minute.
  for (let s = 0; s < 60; s++) await c.clock.advance(1_000);
  const deferred = logs.lines.filter((line) =>
    /WARN +Cannot update Deployment dev\/web yet/.test(line)
  );
  assert.equal(deferred.length, 1, logs.lines.join(""));
  assert.equal(c.metrics.get("veryfreshpod_workload_updates_total", { result: "deferred" }), 1);

  // A newer change of another workload goes through at once, not behind the retries.
  c.engine.tag("db:v2", "sha256:d2");
  c.engine.stream.send("tag");
  await settle();
  assert.equal(c.kube.images().db, "db:v2");
  assert.equal(c.kube.images().web, "app:v1");

  down = false;
  for (let s = 0; s < 10 && c.kube.images().web !== "app:v2"; s++) await c.clock.advance(1_000);
  assert.equal(c.kube.images().web, "app:v2");
  assert.equal(c.metrics.get("veryfreshpod_workload_updates_total", { result: "applied" }), 2);
});

Deno.test("a newer plan for a workload replaces an older one still waiting for its retry", async () => {
  let down = true;
  await using c = await started({
    answer: (_update, apply) => down ? { result: "retry", error: "503" } : apply(),
  });
  c.engine.tag("app:v2", "sha256:2");
  c.engine.stream.send("tag");
  await settle();
  await c.clock.advance(1_000);
  c.engine.tag("app:v3", "sha256:3");
  c.engine.stream.send("tag");
  await settle();
  down = false;
  await c.clock.advance(10_000);
  assert.deepEqual(c.kube.applied.map((u) => u.imageUpdates[0]!.to), ["app:v3"]);
  assert.deepEqual(c.kube.images(), { web: "app:v3" });
});

Deno.test("conflicts are read again and planned again, concurrently", async () => {
  const names = Array.from({ length: 8 }, (_, i) => `w${i}`);
  await using c = await started({ workloads: names.map((name) => deployment(name, "app:v1")) });
  // Another writer changed every workload since it was listed.
  for (const name of names) c.kube.touch(name);
  c.kube.rereadGate = new Gate();
  c.engine.tag("app:v2", "sha256:2");
  c.engine.stream.send("tag");
  await settle();
  assert.ok(c.kube.rereads > 1, `re-reads run side by side (${c.kube.rereads} under way)`);
  c.kube.rereadGate.open();
  await settle();
  assert.deepEqual(new Set(Object.values(c.kube.images())), new Set(["app:v2"]));
  assert.equal(c.kube.applied.length, names.length);
});

Deno.test("after a lost event stream it reconnects and acts on what changed meanwhile", async () => {
  using logs = captureLogs("info");
  await using c = await started();
  c.engine.stream.fail();
  await settle();
  assert.equal(c.metrics.get("veryfreshpod_engine_connected"), 0);
  assert.equal(c.controller.ready, false);
  // Tagged while the stream is down, with no event ever sent for it.
  c.engine.tag("app:v2", "sha256:2");
  await c.clock.advance(1_000);
  assert.equal(c.engine.streams.length, 2, "a new stream after the backoff");
  assert.deepEqual(c.kube.images(), { web: "app:v2" }, "the diff after reconnecting");
  assert.equal(c.metrics.get("veryfreshpod_engine_connected"), 1);
  assert.equal(logs.lines.filter((line) => /WARN +Lost the connection/.test(line)).length, 1);
  assert.equal(logs.lines.filter((line) => /INFO +Reconnected/.test(line)).length, 1);
});

Deno.test("garbage on the event stream does not reset the reconnect backoff", async () => {
  using logs = captureLogs("info");
  await using c = await started();
  const waits: number[] = [];
  for (let i = 0; i < 5; i++) {
    c.engine.stream.garbage();
    c.engine.stream.end();
    await settle();
    const wait = c.clock.pending.filter((ms) => ms < HOUR)[0];
    assert.ok(wait !== undefined, "a reconnect backoff is pending");
    waits.push(wait);
    await c.clock.advance(wait);
  }
  // 250 ms doubling, ±20%: each wait longer than the one before.
  for (let i = 1; i < waits.length; i++) {
    assert.ok(waits[i]! > waits[i - 1]!, `waits grow: ${waits.join(", ")}`);
  }
  assert.equal(logs.lines.filter((line) => /WARN/.test(line)).length, 1, logs.lines.join(""));
  assert.equal(
    logs.lines.filter((line) => /Reconnected/.test(line)).length,
    1,
    logs.lines.join(""),
  );

  // A well-formed event proves the stream healthy: the next loss starts from 250 ms again.
  c.engine.stream.send("tag");
  c.engine.stream.end();
  await settle();
  const wait = c.clock.pending.filter((ms) => ms < HOUR)[0]!;
  assert.ok(wait <= 300, `backoff reset after a good event (${wait})`);
});

Deno.test("a hung engine is marked down once when a re-read times out, and up when it answers", async () => {
  using logs = captureLogs("info");
  await using c = await started({ options: { resyncMs: 3_000, readTimeoutMs: 5_000 } });
  assert.equal(c.controller.ready, true);
  const hung = new Gate();
  c.engine.gate = hung;
  // 60 s stopped: twenty resync periods.
  for (let s = 0; s < 60; s++) await c.clock.advance(1_000);
  assert.equal(c.controller.ready, false);
  assert.equal(c.metrics.get("veryfreshpod_engine_connected"), 0);
  const down = logs.lines.filter((line) => /does not answer/.test(line));
  assert.equal(down.length, 1, logs.lines.join(""));
  assert.match(down[0]!, /WARN +fake engine does not answer: no image list within 5 s/);
  assert.equal(c.engine.snapshots, 2, "the hung read is waited for, not asked again and again");

  c.engine.gate = undefined;
  c.engine.tag("app:v2", "sha256:2");
  hung.open();
  await settle();
  assert.equal(c.controller.ready, true);
  assert.equal(c.metrics.get("veryfreshpod_engine_connected"), 1);
  assert.equal(logs.lines.filter((line) => /INFO +fake engine answers again/.test(line)).length, 1);
  await c.clock.advance(3_000);
  assert.deepEqual(c.kube.images(), { web: "app:v2" });
});

Deno.test("on the stop signal, a fan-out already planned is applied before the controller ends", async () => {
  using logs = captureLogs("info");
  const names = Array.from({ length: 100 }, (_, i) => `w${i}`);
  // Each patch takes 1 s: 100 of them, 16 at a time, take 7 s.
  const slow: { clock?: FakeClock } = {};
  await using c = await started({
    workloads: names.map((name) => deployment(name, "app:v1")),
    answer: async (_update, apply) => {
      await slow.clock!.sleep(1_000);
      return apply();
    },
  });
  slow.clock = c.clock;
  c.engine.tag("app:v2", "sha256:2");
  c.engine.stream.send("tag");
  await settle();
  c.stop.abort();
  await c.clock.advance(2_000);
  assert.equal(c.ended, false, "still applying");
  await c.stopped();
  assert.deepEqual(new Set(Object.values(c.kube.images())), new Set(["app:v2"]));
  assert.ok(logs.lines.some((line) => /Stopping: applying 100 planned updates first/.test(line)));
  assert.ok(!logs.lines.some((line) => /not applied/.test(line)), logs.lines.join(""));
});

Deno.test("on the stop signal, what cannot be applied within the bound is logged and left", async () => {
  using logs = captureLogs("info");
  await using c = await started({
    workloads: [deployment("web", "app:v1"), deployment("api", "app:v1")],
    options: { shutdownMs: 20_000 },
    answer: (update, apply) =>
      update.workload.name === "web" ? { result: "retry", error: "503" } : apply(),
  });
  c.engine.tag("app:v2", "sha256:2");
  c.engine.stream.send("tag");
  await settle();
  c.stop.abort();
  await c.clock.advance(19_000);
  assert.equal(c.ended, false, "within the bound it keeps trying");
  await c.clock.advance(1_000);
  await settle();
  assert.equal(c.ended, true, "ended at the bound");
  assert.deepEqual(c.kube.images(), { web: "app:v1", api: "app:v2" });
  const left = logs.lines.filter((line) => /not applied/.test(line));
  assert.equal(left.length, 1);
  assert.match(left[0]!, /WARN +Stopped with 1 planned update not applied: Deployment dev\/web/);
});

Deno.test("on the stop signal, applied updates are recorded within the bound; records left are said", async () => {
  using logs = captureLogs("info");
  const names = Array.from({ length: 40 }, (_, i) => `w${i}`);
  const recorded: string[] = [];
  const slow: { clock?: FakeClock } = {};
  // Each record (its Events) takes 5 s: 40, 16 at a time, would take 15 s.
  await using c = await started({
    workloads: names.map((name) => deployment(name, "app:v1")),
    options: { shutdownMs: 7_000 },
    answer: (update, apply) => {
      const attempt = apply();
      if (attempt.result !== "applied") return attempt;
      return {
        result: "applied",
        record: async () => {
          await slow.clock!.sleep(5_000);
          recorded.push(update.workload.name);
        },
      };
    },
  });
  slow.clock = c.clock;
  c.engine.tag("app:v2", "sha256:2");
  c.engine.stream.send("tag");
  await settle();
  assert.deepEqual(new Set(Object.values(c.kube.images())), new Set(["app:v2"]), "all applied");
  c.stop.abort();
  await c.clock.advance(6_000);
  assert.equal(recorded.length, 16);
  assert.equal(c.ended, false, "still recording");
  await c.clock.advance(1_000);
  await settle();
  assert.equal(c.ended, true, "ended at the bound");
  assert.ok(
    logs.lines.some((line) => /Stopping: recording the Events of 40 updates first/.test(line)),
    logs.lines.join(""),
  );
  assert.ok(
    logs.lines.some((line) =>
      /WARN +Stopped with the Events of 8 updates not recorded \(the updates are applied\)/.test(
        line,
      )
    ),
    logs.lines.join(""),
  );
  assert.ok(!logs.lines.some((line) => /not applied/.test(line)));
});

Deno.test("a restart completes a fan-out that a stop past its bound cut short", async () => {
  const names = Array.from({ length: 10 }, (_, i) => `w${i}`);
  let down = true;
  const first = await started({
    workloads: [...names.map((name) => deployment(name, "app:v1")), deployment("db", "db:v1")],
    images: { "app:v1": "sha256:1", "db:v1": "sha256:d1" },
    options: { shutdownMs: 1_000 },
    // The API server stops taking patches halfway through the fan-out.
    answer: (update, apply) =>
      down && Number(update.workload.name.slice(1)) >= 5
        ? { result: "retry", error: "EOF" }
        : apply(),
  });
  first.engine.tag("app:v2", "sha256:2");
  first.engine.tag("app:v3", "sha256:3");
  first.engine.stream.send("tag");
  await settle();
  await first.stopped();
  const lagging = names.filter((name) => first.kube.images()[name] === "app:v1");
  assert.equal(lagging.length, 5, JSON.stringify(first.kube.images()));

  down = false;
  await using second = await started({
    engine: first.engine,
    kube: first.kube,
    clock: first.clock,
  });
  await settle();
  const target = first.kube.images().w0;
  assert.match(target!, /^app:v[23]$/);
  for (const name of names) assert.equal(second.kube.images()[name], target, name);
  assert.equal(second.kube.images().db, "db:v1");
});

Deno.test("a plain restart changes nothing, though newer tags exist", async () => {
  await using c = await started({
    workloads: [deployment("web", "app:v1"), deployment("api", "app:v1")],
    images: { "app:v1": "sha256:1", "app:v2": "sha256:2" },
  });
  await c.clock.advance(10_000);
  assert.equal(c.kube.attempts.length, 0);
  assert.deepEqual(c.kube.images(), { web: "app:v1", api: "app:v1" });
});

Deno.test("through the registry: nothing is patched before the push lands, then the pinned digest", async () => {
  using _logs = captureLogs("info");
  const pushed = new Map<string, string>();
  let pushes = 0;
  let failing = true;
  const registry = {
    host: "localhost:5001",
    fromRuntime: "kind-registry:5000",
    pushed: (key: string, id: string) => pushed.get(`${key} ${id}`),
  };
  await using c = await started({
    workloads: [deployment("web", "localhost:5001/app:v1")],
    options: { plan: { namespaces: [], excludeNamespaces: [], registry } },
    beforePatch: (updates) => {
      for (const update of updates) {
        for (const { push } of update.imageUpdates) {
          if (push === undefined || push.digest !== undefined) continue;
          pushes++;
          if (failing) throw new Error("registry unreachable");
          pushed.set(`${push.source} ${push.id}`, `sha256:${"d".repeat(64)}`);
        }
      }
      return Promise.resolve();
    },
  });
  c.engine.tag("app:v2", "sha256:2");
  c.engine.stream.send("tag");
  await settle();
  assert.equal(pushes, 1);
  assert.deepEqual(c.kube.images(), { web: "localhost:5001/app:v1" }, "held back: nothing patched");
  assert.equal(c.kube.attempts.length, 0);
  failing = false;
  c.engine.stream.send("tag");
  await settle();
  assert.deepEqual(c.kube.images(), { web: `kind-registry:5000/app:v2@sha256:${"d".repeat(64)}` });
  assert.equal(c.kube.attempts.length, 1);
});

Deno.test("config digests beforePatch learned (the bridge asked the nodes) go into the record", async () => {
  // Docker's containerd store out of reach: the engine knows the index digest only.
  await using c = await started({
    beforePatch: (updates) => {
      assert.equal(updates[0]?.imageUpdates[0]?.configId, undefined, "the engine could not say");
      return Promise.resolve(new Map([["sha256:index2", "sha256:config2"]]));
    },
  });
  c.engine.tag("app:v2", "sha256:index2");
  c.engine.stream.send("tag");
  await settle();
  assert.deepEqual(c.kube.images(), { web: "app:v2" });
  const [update] = c.kube.applied;
  assert.equal(update?.imageUpdates[0]?.id, "sha256:index2");
  assert.equal(update?.imageUpdates[0]?.configId, "sha256:config2");
});
