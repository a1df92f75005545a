import assert from "node:assert/strict";
import { TimeoutError, withTimeout } from "./clock.ts";
import { Gate } from "../testing/controller_fakes.ts";
import { FakeClock, settle } from "../testing/fake_clock.ts";

Deno.test("withTimeout() gives the work's answer when it comes in time", async () => {
  const clock = new FakeClock();
  assert.equal(await withTimeout(clock, 5_000, Promise.resolve(42)), 42);
  assert.deepEqual(clock.pending, [], "no sleeper is left behind");
});

Deno.test("withTimeout() fails with a TimeoutError at the bound, and drops a late failure", async () => {
  const clock = new FakeClock();
  const late = new Gate<void>();
  const work = late.promise.then(() => {
    throw new Error("late");
  });
  const seen: { error?: Error | undefined } = {};
  const waiting = withTimeout(clock, 5_000, work).catch((error) => seen.error = error);
  const failure = (): Error | undefined => seen.error;
  await clock.advance(4_999);
  assert.equal(failure(), undefined);
  await clock.advance(1);
  await waiting;
  const error = failure();
  assert.ok(error instanceof TimeoutError);
  assert.equal(error.message, "no answer within 5 s");
  late.open();
  await settle();
});

Deno.test("FakeClock wakes sleepers in time order, and an aborted sleep at once", async () => {
  const clock = new FakeClock();
  const woke: string[] = [];
  const stop = new AbortController();
  clock.sleep(300).then(() => woke.push("300"));
  clock.sleep(100).then(() => woke.push("100"));
  clock.sleep(1_000, stop.signal).then(() => woke.push("aborted"));
  await clock.advance(200);
  assert.deepEqual(woke, ["100"]);
  stop.abort();
  await settle();
  assert.deepEqual(woke, ["100", "aborted"]);
  await clock.advance(100);
  assert.deepEqual(woke, ["100", "aborted", "300"]);
});
