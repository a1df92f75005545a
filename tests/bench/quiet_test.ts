import assert from "node:assert/strict";
import { type CpuTimes, idleShare, parseCpuTimes, waitQuiet } from "./quiet.ts";

const STAT = "cpu  100 5 50 800 20 3 2 0 0 0\ncpu0 50 2 25 400 10 1 1 0 0 0\nintr 1 2 3\n";

Deno.test("parseCpuTimes() reads the summary line: idle and iowait are idle", () => {
  assert.deepEqual(parseCpuTimes(STAT), { total: 980, idle: 820 });
});

Deno.test("parseCpuTimes() refuses what is not /proc/stat's summary line", () => {
  assert.throws(() => parseCpuTimes("cpu0 1 2 3 4 5\n"), /not the summary line/);
  assert.throws(() => parseCpuTimes("cpu  1 2 x 4 5\n"), /not the summary line/);
  assert.throws(() => parseCpuTimes(""), /not the summary line/);
});

Deno.test("idleShare() is the idle part of the time between two readings", () => {
  assert.equal(idleShare({ total: 0, idle: 0 }, { total: 200, idle: 150 }), 0.75);
  assert.equal(idleShare({ total: 5, idle: 5 }, { total: 5, idle: 5 }), 1);
});

/** A machine busy for `busyWindows` windows of 100 ticks, then idle. */
function machine(busyWindows: number) {
  let at = 0;
  let times: CpuTimes = { total: 0, idle: 0 };
  const windows: number[] = [];
  return {
    windows,
    options: {
      windowMs: 1_000,
      timeoutMs: 5_000,
      read: () => times,
      now: () => at,
      sleep: (ms: number) => {
        at += ms;
        const idle = windows.length < busyWindows ? 20 : 95;
        windows.push(idle);
        times = { total: times.total + 100, idle: times.idle + idle };
        return Promise.resolve();
      },
    },
  };
}

Deno.test("waitQuiet() waits for a whole quiet window", async () => {
  const { windows, options } = machine(3);
  const said: string[] = [];
  assert.equal(await waitQuiet((m) => said.push(m), options), true);
  assert.deepEqual(windows, [20, 20, 20, 95]);
  assert.deepEqual(said, []);
});

Deno.test("waitQuiet() goes on at the timeout and says so", async () => {
  const { windows, options } = machine(100);
  const said: string[] = [];
  assert.equal(await waitQuiet((m) => said.push(m), options), false);
  assert.equal(windows.length, 5);
  assert.deepEqual(said, ["the machine is still busy (20 % idle); measuring anyway"]);
});
