import assert from "node:assert/strict";
import { cpuSecondsOf, memoryOf, RELEASE_V8_FLAGS } from "./program.ts";

Deno.test("the release binary, the bench and `deno task start` run with the same V8 flags", async () => {
  const compile = await Deno.readTextFile(new URL("../../scripts/compile.ts", import.meta.url));
  assert.ok(
    compile.includes("`--v8-flags=${RELEASE_V8_FLAGS}`"),
    "scripts/compile.ts no longer compiles with RELEASE_V8_FLAGS",
  );
  // The manifest's memory limit is sized from the heap cap.
  assert.match(RELEASE_V8_FLAGS, /--max-old-space-size=\d+/);
  const tasks = JSON.parse(await Deno.readTextFile(new URL("../../deno.json", import.meta.url)))
    .tasks as Record<string, string>;
  assert.ok(
    tasks.start?.includes(`--v8-flags=${RELEASE_V8_FLAGS} `),
    `deno.json's start task must run with --v8-flags=${RELEASE_V8_FLAGS}: ${tasks.start}`,
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
