import assert from "node:assert/strict";
import { deployment, Gate } from "../testing/controller_fakes.ts";
import { FakeClock, settle } from "../testing/fake_clock.ts";
import type { WorkloadUpdate } from "../model/plan_types.ts";
import { captureLogs } from "../testing/log_capture.ts";
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

/** An attempt that applies every update and returns a record that notes itself in `calls`. */
function recordingAttempt(calls: string[]) {
  return (u: WorkloadUpdate): Promise<PatchAttempt> => {
    calls.push(`patch ${u.workload.name}`);
    return Promise.resolve({
      result: "applied",
      record: () => {
        calls.push(`record ${u.workload.name}`);
        return Promise.resolve();
      },
    });
  };
}

Deno.test("PatchQueue records applied patches only once no patch is ready to start", async () => {
  const calls: string[] = [];
  const queue = new PatchQueue(recordingAttempt(calls), new FakeClock(), { concurrency: 2 });
  const replan = () => Promise.resolve(undefined);
  for (const name of ["a", "b", "c", "d"]) queue.submit(update(name), replan);
  await queue.idle();
  assert.deepEqual(calls, [
    "patch a",
    "patch b",
    "patch c",
    "patch d",
    "record a",
    "record b",
    "record c",
    "record d",
  ]);
  assert.equal(queue.unrecorded, 0);
});

Deno.test("PatchQueue: idle() waits for the records, and a record that throws stops nothing", async () => {
  using logs = captureLogs("warning");
  const gate = new Gate();
  let recorded = 0;
  const queue = new PatchQueue(
    (u): Promise<PatchAttempt> =>
      Promise.resolve({
        result: "applied",
        record: async () => {
          await gate.promise;
          if (u.workload.name === "bad") throw new Error("boom");
          recorded++;
        },
      }),
    new FakeClock(),
    { concurrency: 4 },
  );
  const replan = () => Promise.resolve(undefined);
  assert.equal(await queue.apply(update("bad"), replan), "applied");
  assert.equal(await queue.apply(update("good"), replan), "applied");
  let idle = false;
  const idling = queue.idle().then(() => idle = true);
  await settle();
  assert.equal(queue.size, 0, "both updates are through");
  assert.equal(queue.unrecorded, 2);
  assert.equal(idle, false, "idle waits for the records");
  gate.open();
  await idling;
  assert.equal(recorded, 1);
  assert.equal(queue.unrecorded, 0);
  assert.match(logs.lines.join("\n"), /Cannot record an update: boom/);
});

Deno.test("PatchQueue: an applied patch is recorded even when a newer plan replaced it meanwhile", async () => {
  const calls: string[] = [];
  const gate = new Gate();
  const record = recordingAttempt(calls);
  const queue = new PatchQueue(
    async (u) => {
      if (u.imageUpdates[0]!.to === "app:v2") await gate.promise;
      return record(u);
    },
    new FakeClock(),
    { concurrency: 1 },
  );
  const replan = () => Promise.resolve(undefined);
  const older = queue.apply(update("web", "app:v2"), replan);
  await settle();
  const newer = queue.apply(update("web", "app:v3"), replan);
  assert.equal(await older, "superseded");
  gate.open();
  assert.equal(await newer, "applied");
  await queue.idle();
  assert.deepEqual(calls, ["patch web", "patch web", "record web", "record web"]);
});

Deno.test("PatchQueue.close() drops the records not yet started, counts them, and lets one under way finish", async () => {
  const gate = new Gate();
  let started = 0;
  const queue = new PatchQueue(
    (): Promise<PatchAttempt> =>
      Promise.resolve({
        result: "applied",
        record: () => {
          started++;
          return gate.promise;
        },
      }),
    new FakeClock(),
    { concurrency: 1 },
  );
  const replan = () => Promise.resolve(undefined);
  for (const name of ["a", "b", "c"]) queue.submit(update(name), replan);
  await settle();
  assert.equal(started, 1, "one worker: one record under way");
  assert.deepEqual(queue.close(), { updates: [], unrecorded: 2 });
  assert.equal(queue.unrecorded, 1, "the one under way");
  gate.open();
  await settle();
  assert.equal(started, 1, "nothing new starts after close");
  assert.equal(queue.unrecorded, 0);
});
