import assert from "node:assert/strict";
import { main } from "./main.ts";

async function cli(args: string[], env: Record<string, string> = {}) {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    env: (name) => env[name],
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
    signal: AbortSignal.abort(),
  });
  return { code, stdout, stderr };
}

Deno.test("main() answers bad usage with exit code 2 and a pointer to --help", async (t) => {
  const cases: [string[], RegExp][] = [
    [["frobnicate"], /unknown command "frobnicate"/],
    [["run", "--bogus"], /unknown option '--bogus'/],
    [["--bogus"], /unknown option '--bogus'/],
    [["run", "--log-format", "xml"], /invalid value "xml" for --log-format/],
    [["run", "--log-level", "loud"], /invalid value "loud" for --log-level/],
    [["run", "--resync-period", "0"], /invalid value for --resync-period/],
    [["run", "--resync-period", "soon"], /invalid value for --resync-period/],
    [["run", "extra"], /unexpected argument "extra"/],
    [["run", "--kubeconfig"], /argument missing/],
    [["version", "--short"], /unknown option '--short'/],
  ];
  for (const [args, pattern] of cases) {
    await t.step(args.join(" "), async () => {
      const { code, stdout, stderr } = await cli(args);
      assert.equal(code, 2);
      assert.equal(stdout, "");
      assert.match(stderr, pattern);
      assert.match(stderr, /Run "veryfreshpod \w+ --help" for usage\./);
      assert.doesNotMatch(stderr, /at .*\.ts:\d+/, "no stack trace");
    });
  }
});

Deno.test("main() prints help on stdout for every command", async (t) => {
  for (const args of [["--help"], ["help"], ["run", "--help"], ["version", "-h"]]) {
    await t.step(args.join(" "), async () => {
      const { code, stdout, stderr } = await cli(args);
      assert.equal(code, 0);
      assert.equal(stderr, "");
      assert.match(stdout, /Usage: veryfreshpod/);
    });
  }
});

Deno.test("main() prints the version", async () => {
  const { code, stdout } = await cli(["version"]);
  assert.equal(code, 0);
  assert.match(stdout, /^veryfreshpod \d+\.\d+\.\d+\n$/);
});

Deno.test("main() reports a missing kubeconfig in one line with exit code 4", async () => {
  const { code, stderr } = await cli(["run", "--kubeconfig", "/nonexistent/kubeconfig"]);
  assert.equal(code, 4);
  assert.equal(stderr.trim().split("\n").length, 1);
  assert.match(stderr, /^error: Cannot read kubeconfig "\/nonexistent\/kubeconfig": no such file/);
});

Deno.test("main() reports a bad DOCKER_HOST in one line with exit code 2", async () => {
  const { code, stderr } = await cli(["run"], { DOCKER_HOST: "ssh://me@box" });
  assert.equal(code, 2);
  assert.equal(stderr.trim().split("\n").length, 1);
  assert.match(stderr, /DOCKER_HOST/);
});
