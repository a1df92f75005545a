import assert from "node:assert/strict";
import { FakeClock, settle } from "../testing/fake_clock.ts";
import { IdleDeadline } from "./idle_deadline.ts";

Deno.test("IdleDeadline expires after a silence of its length, counted from the last touch", async () => {
  const clock = new FakeClock();
  const deadline = new IdleDeadline(clock, 60_000);
  await clock.advance(120_000);
  assert.equal(deadline.expired, false, "not armed: never expires");
  deadline.arm();
  await clock.advance(45_000);
  deadline.touch();
  await clock.advance(45_000);
  assert.equal(deadline.expired, false, "45 s since the touch");
  await clock.advance(15_000);
  await settle();
  assert.equal(deadline.expired, true, "60 s since the touch");
  assert.equal(deadline.signal.aborted, true);
});

Deno.test("IdleDeadline never expires once stopped", async () => {
  const clock = new FakeClock();
  const deadline = new IdleDeadline(clock, 1_000);
  deadline.arm();
  deadline.stop();
  await clock.advance(10_000);
  assert.equal(deadline.expired, false);
});
