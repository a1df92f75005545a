import assert from "node:assert/strict";
import {
  CompileError,
  explainCompileFailure,
  releaseVersion,
  stageSources,
  TARGETS,
} from "./compile.ts";

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

Deno.test("releaseVersion() takes the tag's version, with or without the v", () => {
  assert.equal(releaseVersion("v1.2.3", "0.1.0"), "1.2.3");
  assert.equal(releaseVersion("2.0.0-rc.1", "0.1.0"), "2.0.0-rc.1");
  assert.equal(releaseVersion(undefined, "0.1.0"), "0.1.0");
});

Deno.test("releaseVersion() rejects what is not a version, naming where it came from", () => {
  assert.throws(
    () => releaseVersion("main", "0.1.0"),
    new CompileError('invalid --version "main": use a version like 1.2.3 or v1.2.3'),
  );
  assert.throws(
    () => releaseVersion("v1.2", "0.1.0"),
    /^Error: invalid --version "v1.2"/,
  );
  assert.throws(
    () => releaseVersion(undefined, 7),
    /^Error: invalid deno.json's version "7"/,
  );
});

Deno.test("the staged sources run and report the embedded version", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vfp-test-stage-" });
  try {
    const entry = await stageSources("9.8.7-rc.1", dir);
    const result = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--allow-all", "--no-check", entry, "version"],
      cwd: dir,
      stdout: "piped",
      stderr: "inherit",
    }).output();
    assert.equal(new TextDecoder().decode(result.stdout), "veryfreshpod 9.8.7-rc.1\n");
    // The checkout itself is unchanged.
    const config = JSON.parse(await Deno.readTextFile(new URL("../deno.json", import.meta.url)));
    assert.notEqual(config.version, "9.8.7-rc.1");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a release carries Linux and macOS for x86_64 and aarch64", () => {
  assert.deepEqual([...TARGETS].sort(), [
    "aarch64-apple-darwin",
    "aarch64-unknown-linux-gnu",
    "x86_64-apple-darwin",
    "x86_64-unknown-linux-gnu",
  ]);
});
