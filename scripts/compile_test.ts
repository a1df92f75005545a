import assert from "node:assert/strict";
import { explainCompileFailure } from "./compile.ts";

const TARGET = "aarch64-unknown-linux-gnu";

Deno.test("a runtime stub that cannot be downloaded is explained in one line", () => {
  const stderr = "\x1b[0m\x1b[32mCompile\x1b[0m main.ts to dist/x\n" +
    "\x1b[32mDownload\x1b[0m https://dl.deno.land/release/v2.9.6/denort-aarch64-unknown-linux-gnu.zip\n" +
    "\x1b[1m\x1b[31merror\x1b[0m: Writing deno compile executable to temporary file 'dist/x.tmp'\n\n" +
    "Caused by:\n    0: Setting up base binary.\n" +
    "    1: error sending request for url (https://dl.deno.land/release/v2.9.6/denort-aarch64-unknown-linux-gnu.zip): client error (Connect): dns error\n";
  const line = explainCompileFailure(TARGET, stderr);
  assert.match(
    line,
    /^deno compile could not download its runtime stub for aarch64-unknown-linux-gnu/,
  );
  assert.match(line, /cannot reach dl\.deno\.land; run `deno task compile` where it can/);
  assert.doesNotMatch(line, /\n/);
});

Deno.test("a DENORT_BIN that does not exist is named", () => {
  const stderr = "error: Writing deno compile executable\n\nCaused by:\n" +
    "    0: Could not find denort at '/nope/denort'\n    1: No such file or directory (os error 2)\n";
  assert.equal(
    explainCompileFailure(TARGET, stderr),
    'DENORT_BIN names "/nope/denort", which does not exist; fix or unset it',
  );
});

Deno.test("any other failure keeps deno's own error line", () => {
  const stderr = '\x1b[31merror\x1b[0m: Module not found "file:///x/main.ts".\n';
  assert.equal(
    explainCompileFailure(TARGET, stderr),
    `deno compile failed for ${TARGET}: Module not found "file:///x/main.ts".`,
  );
});
