import assert from "node:assert/strict";
import { deployment, Gate } from "../testing/controller_fakes.ts";
import { FakeClock, settle } from "../testing/fake_clock.ts";
import type { WorkloadUpdate } from "../model/plan_types.ts";
import { PatchQueue } from "./patch_queue.ts";
import type { PatchAttempt } from "./patcher.ts";

function update(name: string, to = "app:v2"): WorkloadUpdate {
  return {
    workload: deployment(name, "app:v1").key,
    resourceVersion: "1",
    imageUpdates: [{ container: "app", init: false, from: "app:v1", to }],
    rebuilds: [],
    rolloutAnnotation: undefined,
    warnings: [],
  };
}

Deno.test("PatchQueue runs at most `concurrency` attempts at once", async () => {
  const clock = new FakeClock();
  let running = 0;
  let most = 0;
  const gate = new Gate();
  const queue = new PatchQueue(
    async (): Promise<PatchAttempt> => {
      most = Math.max(most, ++running);
      await gate.promise;
      running--;
      return { result: "applied" };
    },
    clock,
    { concurrency: 4 },
  );
  const results = Array.from({ length: 20 }, (_, i) =>
    queue.apply(update(`w${i}`), () => {
      throw new Error("no conflict expected");
    }));
  await settle();
  assert.equal(most, 4);
  gate.open();
  assert.deepEqual(new Set(await Promise.all(results)), new Set(["applied"]));
  assert.equal(queue.size, 0);
});

Deno.test("PatchQueue: a newer plan supersedes the older one waiting for its retry", async () => {
  const clock = new FakeClock();
  const tried: string[] = [];
  let down = true;
  const queue = new PatchQueue(
    (u): Promise<PatchAttempt> => {
      tried.push(u.imageUpdates[0]!.to);
      return Promise.resolve(down ? { result: "retry", error: "503" } : { result: "applied" });
    },
    clock,
    { concurrency: 2 },
  );
  const replan = () => Promise.resolve(undefined);
  const older = queue.apply(update("web", "app:v2"), replan);
  await settle();
  const newer = queue.apply(update("web", "app:v3"), replan);
  assert.equal(await older, "superseded");
  await settle();
  assert.deepEqual(tried, ["app:v2", "app:v3"], "the newer plan is tried at once, no backoff");
  down = false;
  await clock.advance(10_000);
  assert.equal(await newer, "applied");
  assert.deepEqual(tried, ["app:v2", "app:v3", "app:v3"]);
});
