/**
 * The controller's part in "when did it happen" (issue 7): the tags' events
 * reach the plan through the pass that reads them. The rules themselves are
 * tested in plan_test.ts and tag_times_test.ts.
 */
import assert from "node:assert/strict";
import { Controller, defineControllerMetrics } from "./controller.ts";
import { deployment, FakeEngine, FakeKubeSide, Gate, key } from "../testing/controller_fakes.ts";
import type { EngineEvent } from "../engine/engine.ts";
import { FakeClock, settle } from "../testing/fake_clock.ts";
import type { TrackedWorkload } from "../model/workload.ts";
import { Metrics } from "../util/metrics.ts";

/** A fake engine whose events name the tag set and the engine's time, as Docker's do. */
class TimedEngine extends FakeEngine {
  readonly #pending: EngineEvent[] = [];
  #wake = () => {};

  /** `docker tag <id> <reference>` at `time` on the engine's clock. */
  tagAt(reference: string, id: string, time: number): void {
    this.tag(reference, id);
    this.#pending.push({ action: "tag", subject: reference, reference: key(reference), time });
    this.#wake();
  }

  override async *imageEvents(signal: AbortSignal): AsyncGenerator<EngineEvent> {
    const aborted = new Promise<void>((resolve) =>
      signal.addEventListener("abort", () => resolve(), { once: true })
    );
    while (!signal.aborted) {
      const event = this.#pending.shift();
      if (event !== undefined) yield event;
      else await Promise.race([new Promise<void>((resolve) => this.#wake = resolve), aborted]);
    }
  }
}

async function started(workloads: (clock: FakeClock) => TrackedWorkload[]) {
  const clock = new FakeClock();
  const engine = new TimedEngine();
  engine.tag("app:v1", "sha256:1");
  const kube = new FakeKubeSide(workloads(clock));
  const metrics = new Metrics();
  defineControllerMetrics(metrics);
  const controller = new Controller({ engine, kube, metrics, clock }, {
    plan: { namespaces: [], excludeNamespaces: [] },
    resyncMs: 3_600_000,
  });
  const stop = new AbortController();
  let ended = false;
  const running = controller.run(stop.signal).finally(() => ended = true);
  await settle();
  return {
    clock,
    engine,
    kube,
    async [Symbol.asyncDispose]() {
      stop.abort();
      for (let step = 0; step < 100 && !ended; step++) await clock.advance(1_000);
      await running;
    },
  };
}

Deno.test("tags read in one pass: the one the events say came last wins, not the name", async () => {
  await using c = await started(() => [deployment("web", "app:v1")]);
  // The first event starts a pass; its read waits until both tags are made.
  c.engine.gate = new Gate();
  c.engine.tagAt("app:v10", "sha256:10", 1_000);
  await settle();
  c.engine.tagAt("app:v9", "sha256:9", 2_000);
  await settle();
  const gate = c.engine.gate;
  c.engine.gate = undefined;
  gate.open();
  await settle(20);
  // By name alone v10 would win; the events say v9 was tagged last.
  assert.deepEqual(c.kube.images(), { web: "app:v9" });
  assert.equal(c.kube.applied.length, 1, "one update, in one pass");
});

Deno.test("a new tag rolls a workload on it only when the workload was seen before the tag's event", async () => {
  const seen = (name: string, since: number): TrackedWorkload => {
    const workload = deployment(name, "app:dev");
    return { ...workload, containers: workload.containers.map((c) => ({ ...c, since })) };
  };
  await using c = await started((clock) => [
    seen("before", clock.now() - 1_000),
    // Applied right after the build: first seen 0.2 s after the tag's event.
    seen("after", clock.now() + 300),
  ]);
  await c.clock.advance(100);
  c.engine.tagAt("app:dev", "sha256:d", 5);
  await settle(20);
  assert.deepEqual(
    c.kube.applied.map((u) => `${u.workload.name}: ${u.rebuilds.map((r) => r.id).join()}`),
    ["before: sha256:d"],
  );
});
