import assert from "node:assert/strict";
import { cpuSecondsOf, memoryOf, RELEASE_V8_FLAGS } from "./program.ts";

Deno.test("the bench runs veryfreshpod with the release binary's V8 flags", async () => {
  const compile = await Deno.readTextFile(new URL("../../scripts/compile.ts", import.meta.url));
  assert.ok(
    compile.includes(`"--v8-flags=${RELEASE_V8_FLAGS}"`),
    `scripts/compile.ts no longer compiles with ${RELEASE_V8_FLAGS}: update RELEASE_V8_FLAGS`,
  );
});

Deno.test("memoryOf() reads resident and peak memory of a process in MiB", () => {
  const memory = memoryOf(Deno.pid);
  assert.ok(memory.rssMiB > 1 && memory.peakMiB >= memory.rssMiB, JSON.stringify(memory));
});

Deno.test("cpuSecondsOf() reads the CPU time a process has used, and it grows with work", () => {
  const before = cpuSecondsOf(Deno.pid);
  const until = performance.now() + 150;
  let spins = 0;
  while (performance.now() < until) spins++;
  const after = cpuSecondsOf(Deno.pid);
  assert.ok(spins > 0 && after - before >= 0.05, `${before} s, then ${after} s`);
});
