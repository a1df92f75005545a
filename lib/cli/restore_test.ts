import assert from "node:assert/strict";
import { main } from "./main.ts";
import { parseNames } from "./restore.ts";

async function run(args: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    env: () => undefined,
    os: "linux",
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
    signal: AbortSignal.abort(),
  });
  return { code, stdout, stderr };
}

Deno.test("parseNames() takes kinds as kubectl names them", () => {
  assert.deepEqual(
    parseNames(["deployment/web", "sts/db", "DaemonSets/agent", "cj/nightly"]).map((n) =>
      `${n.kind} ${n.name}`
    ),
    ["Deployment web", "StatefulSet db", "DaemonSet agent", "CronJob nightly"],
  );
});

Deno.test("restore refuses a bad workload name or selector in one line with exit code 2, before any contact", async () => {
  const cases: Array<[string[], RegExp]> = [
    [["web"], /^error: invalid workload "web": give KIND\/NAME, KIND one of deployment/],
    [["pod/web"], /^error: invalid workload "pod\/web"/],
    [["deployment/"], /^error: invalid workload "deployment\/"/],
    [["-l", "a in (b"], /^error: invalid value "a in \(b" for --selector/],
    [["--to-last=x"], /^error: /],
  ];
  for (const [args, message] of cases) {
    const result = await run(["restore", "--kubeconfig", "/nonexistent", ...args]);
    assert.equal(result.code, 2, `${args.join(" ")}: ${result.stderr}`);
    assert.match(result.stderr, message);
    assert.equal(result.stderr.split("\n").filter((l) => l.startsWith("error")).length, 1);
  }
});

Deno.test("restore --help names its arguments", async () => {
  const result = await run(["restore", "--help"]);
  assert.equal(result.code, 0);
  assert.match(result.stdout, /Usage: veryfreshpod restore \[flags\] \[KIND\/NAME \.\.\.\]/);
  assert.match(result.stdout, /--to-last/);
});
