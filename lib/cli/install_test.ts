import assert from "node:assert/strict";
import type { OperatingSystem } from "../engine/docker_host.ts";
import { main } from "./main.ts";

async function install(args: string[], os: OperatingSystem) {
  let stdout = "";
  let stderr = "";
  const code = await main(["install", ...args], {
    // No kubeconfig anywhere: a run that reached the cluster would fail with exit code 4.
    env: () => undefined,
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    signal: new AbortController().signal,
    os,
  });
  return { code, stdout, stderr };
}

Deno.test("install on macOS says in one line that it builds a Linux image, before any contact", async () => {
  const { code, stdout, stderr } = await install([], "darwin");
  assert.equal(code, 2);
  assert.equal(stdout, "");
  assert.equal(
    stderr,
    "error: Cannot build veryfreshpod's image on macOS: install builds it from a Linux " +
      "executable and the libraries it links on this machine; pass --image with an image of " +
      'veryfreshpod the node can run, or run install on Linux ("veryfreshpod run" works from ' +
      "here, against Docker Desktop)\n",
  );
});

Deno.test("install on macOS with --image goes on to the cluster", async () => {
  const { code, stderr } = await install(["--image", "registry.local/veryfreshpod:1"], "darwin");
  assert.equal(code, 4, stderr);
  assert.doesNotMatch(stderr, /macOS/);
});

Deno.test("install on Linux goes on to the cluster", async () => {
  const { code, stderr } = await install([], "linux");
  assert.equal(code, 4, stderr);
});
