import assert from "node:assert/strict";
import { EventWatch } from "./event_watch.ts";

/** A watch stream whose lines are pushed by the test. */
function stream() {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({ start: (c) => controller = c });
  const encoder = new TextEncoder();
  return {
    body,
    event(reason: string, message: string) {
      const line = JSON.stringify({ type: "ADDED", object: { reason, message } });
      controller.enqueue(encoder.encode(line + "\n"));
    },
    end: () => controller.close(),
  };
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

Deno.test("EventWatch resolves at the n-th ImageUpdated Event naming the whole image", async () => {
  const watch = new EventWatch();
  const feed = stream();
  watch.follow(feed.body);
  let at: number | undefined;
  const done = watch.waitFor("app:v1", 2, 5_000).then((time) => at = time);
  feed.event("ImageUpdated", 'Deployment dev/a container "app": app:v0 -> app:v1');
  feed.event("ImageUpdated", 'Deployment dev/b container "app": app:v0 -> app:v10');
  feed.event("RolledOut", "app:v1 rolled out");
  await tick();
  assert.equal(at, undefined, "one of two: app:v10 and other reasons do not count");
  const before = performance.now();
  feed.event("ImageUpdated", "floor: app:v1");
  await done;
  assert.ok(at !== undefined && at >= before, "the arrival time of the second");
  watch.close();
  feed.end();
});

Deno.test("EventWatch fails a waiter when the count is not reached in time, or the watch ends", async () => {
  const slow = new EventWatch();
  const quiet = stream();
  slow.follow(quiet.body);
  await assert.rejects(slow.waitFor("app:v1", 1, 20), /0 of 1 Events naming app:v1 within 0.02 s/);
  slow.close();
  quiet.end();

  const broken = new EventWatch();
  const ending = stream();
  broken.follow(ending.body);
  const waiting = broken.waitFor("app:v1", 1, 5_000);
  ending.end();
  await assert.rejects(waiting, /the watch ended/);
});
