/**
 * `deno task bench --quick` once, as a user runs it (its own private test
 * environment): proves that every scenario runs and prints every row. No
 * timing is asserted here; the figures belong to `deno task bench`.
 */
import assert from "node:assert/strict";
import { plannedRowIds, QUICK } from "./sizes.ts";
import { engineSet } from "../env/mod.ts";
import type { Report } from "./table.ts";

const MAIN = new URL("./main.ts", import.meta.url).pathname;

Deno.test("deno task bench --quick measures every row of the table", async () => {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-check", MAIN, "--quick", "--json"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(output.stdout);
  const stderr = new TextDecoder().decode(output.stderr);
  assert.equal(output.code, 0, `the bench exited with ${output.code}:\n${stderr}\n${stdout}`);
  const report: Report = JSON.parse(stdout);
  assert.equal(report.mode, "quick");
  // Today's engines add the classic-store dockerd beside the containerd-store one.
  const otherStores = engineSet() === "today" ? ["classic"] : [];
  assert.deepEqual(report.rows.map((row) => row.id), plannedRowIds(QUICK, otherStores));

  for (const row of report.rows) {
    assert.notEqual(row.verdict, "not measured", `${row.id}: ${row.measured}`);
    const numbers = Object.values(row.values);
    assert.ok(numbers.length > 0, `${row.id} carries no numbers`);
    for (const value of numbers) assert.ok(Number.isFinite(value), `${row.id}: ${value}`);
    assert.ok(row.measured.length > 0 && row.figure.length > 0, row.id);
  }
  // Each figure that has a target shows it beside the measurement.
  const targeted = [
    "reaction",
    ...otherStores.map((store) => `reaction.${store}`),
    "memory.idle",
    "requests.update",
    "requests.rest",
    "node.rollout",
  ];
  for (const id of [...targeted, "cli.version", "cli.help"]) {
    const row = report.rows.find((candidate) => candidate.id === id)!;
    assert.ok(row.target.length > 0 && ["met", "missed"].includes(row.verdict), id);
  }
  // The progress went to stderr, the report alone to stdout.
  assert.match(stderr, /bench +\d+s: done/);
});
