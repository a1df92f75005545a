import assert from "node:assert/strict";
import { checkSizes, FULL, plannedRowIds, QUICK, type Sizes } from "./sizes.ts";

Deno.test("the full and the quick sizes fit together", () => {
  checkSizes(FULL);
  checkSizes(QUICK);
});

Deno.test("checkSizes() refuses sizes whose scenarios cannot share workloads", () => {
  const bad: Sizes = { ...QUICK, tracked: [0, 50, 200] };
  assert.throws(() => checkSizes(bad), /largest fan-out/);
  assert.throws(() => checkSizes({ ...QUICK, tracked: [0, 100, 100] }), /every fan-out/);
  assert.throws(() => checkSizes({ ...QUICK, requestsFanout: 7 }), /one of the fan-outs/);
});

Deno.test("plannedRowIds() has one row per target of the issue, at the run's sizes", () => {
  assert.deepEqual(plannedRowIds(FULL), [
    "cli.bare",
    "cli.version",
    "cli.help",
    "reaction.floor",
    "reaction",
    "fanout.10",
    "fanout.100",
    "fanout.1000",
    "fanout.floor",
    "ready.0",
    "ready.1000",
    "ready.10000",
    "memory.idle",
    "memory.soak",
    "memory.peak",
    "requests.update",
    "requests.rest",
    "node.floor",
    "node.fresh",
    "node.rollout",
    "bridge.floor",
    "bridge.copy",
    "bridge.save",
    "bridge.rollout",
    "bridge.bytes",
    "registry.floor",
    "registry.rollout",
    "registry.bytes",
    "containers.floor",
    "containers.copy",
    "containers.bytes",
  ]);
  assert.ok(plannedRowIds(QUICK).includes("fanout.100"));
  // Beside the default store, the classic one: its reaction and its largest fan-out.
  const both = plannedRowIds(FULL, ["classic"]);
  assert.deepEqual(both.slice(3, 7), [
    "reaction.floor",
    "reaction",
    "reaction.classic.floor",
    "reaction.classic",
  ]);
  assert.deepEqual(both.slice(7, 12), [
    "fanout.10",
    "fanout.100",
    "fanout.1000",
    "fanout.classic.1000",
    "fanout.floor",
  ]);
  assert.ok(!plannedRowIds(QUICK).includes("fanout.1000"));
});
