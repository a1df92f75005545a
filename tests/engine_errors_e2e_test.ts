/**
 * `veryfreshpod run` pointed at something that is not a Docker Engine it can
 * use, as a user would do it: each ends with one line in words naming the
 * cause and the fix, exit code 3 (the engine's), and never a stack trace or
 * the HTTP client's own wording.
 */

import assert from "node:assert/strict";
import { containerd, e2eTest } from "./env/mod.ts";
import { runVeryfreshpod } from "./helpers/veryfreshpod_process.ts";

/**
 * A kubeconfig naming a cluster nobody serves: `run` checks the engine before
 * it talks to Kubernetes, so the engine's line is the one that must come.
 */
async function unusedKubeconfig(): Promise<string> {
  const path = await Deno.makeTempFile({ prefix: "vfp-engine-errors-", suffix: ".yaml" });
  await Deno.writeTextFile(
    path,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:9"}}]
users: [{name: u, user: {}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
  );
  return path;
}

/** Runs `veryfreshpod run` against `dockerHost`; asserts exit code 3 and one stderr line, returned. */
async function runAgainst(dockerHost: string): Promise<string> {
  const kubeconfig = await unusedKubeconfig();
  try {
    const result = await runVeryfreshpod([
      "run",
      "--kubeconfig",
      kubeconfig,
      "--docker-host",
      dockerHost,
    ]);
    const lines = result.stderr.split("\n").filter((line) => line !== "");
    assert.equal(result.code, 3, result.stderr);
    assert.equal(lines.length, 1, `one line expected:\n${result.stderr}`);
    assert.doesNotMatch(result.stderr, /TypeError|SendRequest|Fetch failed|\n\s+at /);
    return lines[0]!;
  } finally {
    await Deno.remove(kubeconfig);
  }
}

e2eTest("--docker-host tcp://127.0.0.1:1: the blocked port is named in words", async () => {
  assert.equal(
    await runAgainst("tcp://127.0.0.1:1"),
    "error: Cannot connect to Docker at tcp://127.0.0.1:1: port 1 is blocked: the HTTP client " +
      "refuses ports that belong to other protocols (as browsers do), and Docker never listens " +
      "there; check the port in --docker-host (Docker's are 2375, and 2376 with TLS)",
  );
});

e2eTest("--docker-host naming containerd's socket says so, and which flags to use", async () => {
  const { socket } = await containerd();
  assert.equal(
    await runAgainst(`unix://${socket}`),
    `error: Cannot connect to the Docker socket "${socket}": this socket speaks gRPC, not the ` +
      "Docker Engine API: it looks like containerd's; use --runtime containerd " +
      `--containerd-socket ${socket}`,
  );
});
