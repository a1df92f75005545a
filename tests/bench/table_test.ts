import assert from "node:assert/strict";
import {
  formatConditions,
  formatCount,
  formatMiB,
  formatMs,
  formatTable,
  type Row,
  verdictOf,
} from "./table.ts";

function row(overrides: Partial<Row>): Row {
  return {
    id: "x",
    figure: "figure",
    measured: "1 ms",
    target: "≤ 2 ms",
    verdict: "met",
    values: {},
    ...overrides,
  };
}

Deno.test("verdictOf() is met only when every check holds", () => {
  assert.equal(verdictOf(true, true), "met");
  assert.equal(verdictOf(true, false), "missed");
  assert.equal(verdictOf(false), "missed");
  assert.equal(verdictOf(), "no target");
});

Deno.test("formatMs() keeps a decimal below 10 ms and turns to seconds at 1 s", () => {
  assert.equal(formatMs(0.84), "0.8 ms");
  assert.equal(formatMs(9.96), "10.0 ms");
  assert.equal(formatMs(12.4), "12 ms");
  assert.equal(formatMs(999.4), "999 ms");
  assert.equal(formatMs(1432), "1.43 s");
  assert.equal(formatMs(NaN), "NaN");
});

Deno.test("formatMiB() and formatCount() round and separate thousands", () => {
  assert.equal(formatMiB(133.6), "134 MiB");
  assert.equal(formatCount(10000), "10,000");
  assert.equal(formatCount(0), "0");
});

Deno.test("formatTable() aligns every column and marks a missing target", () => {
  const table = formatTable([
    row({ figure: "fan-out, 1,000 workloads", measured: "1.20 s", target: "≤ 2 s" }),
    row({ figure: "idle", measured: "98 MiB", target: "", verdict: "no target" }),
  ]);
  assert.equal(
    table,
    [
      "| figure                   | measured | target | verdict   |",
      "| ------------------------ | -------- | ------ | --------- |",
      "| fan-out, 1,000 workloads | 1.20 s   | ≤ 2 s  | met       |",
      "| idle                     | 98 MiB   | —      | no target |",
    ].join("\n"),
  );
});

Deno.test("formatTable() escapes pipes and newlines so a cell cannot break the table", () => {
  const table = formatTable([row({ measured: "a | b\nc" })]);
  const last = table.split("\n").at(-1)!;
  assert.match(last, /a \\\| b c/);
  assert.equal(table.split("\n").length, 3);
});

Deno.test("formatConditions() names the mode, the machine and its load", () => {
  const line = formatConditions({
    mode: "full",
    startedAt: "2026-11-25T20:00:00.000Z",
    seconds: 312,
    machine: { cpus: 2, deno: "2.9.6", load: [0.42, 1.5] },
    rows: [],
  });
  assert.equal(
    line,
    "full run, 312 s; 2 CPUs, load average 0.4 at start, 1.5 at the end; deno 2.9.6",
  );
});
