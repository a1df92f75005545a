import assert from "node:assert/strict";
import { main } from "./main.ts";
import { parseManifest, renderManifest } from "../install/manifest.ts";

async function run(args: string[]) {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    env: () => undefined,
    stdout: (text) => (stdout += text),
    stderr: (text) => (stderr += text),
    signal: new AbortController().signal,
    os: "linux",
  });
  return { code, stdout, stderr };
}

Deno.test("veryfreshpod manifest prints the manifest kubectl can apply", async () => {
  const result = await run(["manifest"]);
  assert.equal(result.code, 0, result.stderr);
  assert.equal(result.stdout, renderManifest());
  assert.equal(parseManifest(result.stdout).length, 7);
});

Deno.test("veryfreshpod manifest fills in the runtime, socket, image and namespace", async () => {
  const result = await run([
    ...["manifest", "--runtime", "containerd", "--socket", "/run/k3s/containerd/containerd.sock"],
    ...["--image", "registry.local/vfp:2", "-n", "tools"],
  ]);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /path: \/run\/k3s\/containerd\/containerd\.sock/);
  assert.match(result.stdout, /image: registry\.local\/vfp:2\n\s+imagePullPolicy: IfNotPresent/);
  assert.match(result.stdout, /--runtime=containerd/);
  assert.match(result.stdout, /namespace: tools/);
});

Deno.test("veryfreshpod manifest --docker-socket mounts Docker's socket beside containerd's", async () => {
  const args = ["manifest", "--runtime", "containerd", "--docker-socket", "/srv/docker.sock"];
  const result = await run(args);
  assert.equal(result.code, 0, result.stderr);
  assert.match(result.stdout, /path: \/srv\/docker\.sock\n\s+type: Socket/);
  assert.match(result.stdout, /--bridge=always/);
  const none = await run([...args.slice(0, 3), "--docker-socket", "none"]);
  assert.equal(none.code, 0, none.stderr);
  assert.doesNotMatch(none.stdout, /docker\.sock|--bridge/);
});

Deno.test("veryfreshpod manifest refuses bad values with usage exit code 2", async () => {
  const cases: Array<[string[], RegExp]> = [
    [
      ["--runtime", "cri-o"],
      /invalid value "cri-o" for --runtime: must be one of docker, containerd/,
    ],
    [["--image", "UPPER:1"], /Invalid --image "UPPER:1"/],
    [["--namespace", "a_b"], /Invalid --namespace "a_b"/],
    [["--socket", "relative.sock"], /Invalid engine socket "relative\.sock"/],
    [["--image", ""], /--image, --namespace and --socket need a value/],
    [["--docker-socket", "/d.sock"], /--docker-socket \/d\.sock is for a containerd node/],
    [["--docker-socket", ""], /--docker-socket needs a path, or none/],
    [["extra"], /unexpected argument "extra"/],
  ];
  for (const [args, message] of cases) {
    const result = await run(["manifest", ...args]);
    assert.equal(result.code, 2, args.join(" "));
    assert.match(result.stderr, message);
    assert.equal(result.stdout, "");
  }
});

Deno.test("install, uninstall and manifest show their help", async () => {
  for (const command of ["install", "uninstall", "manifest"]) {
    const result = await run([command, "--help"]);
    assert.equal(result.code, 0);
    assert.match(result.stdout, new RegExp(`Usage: veryfreshpod ${command} \\[flags\\]`));
  }
});

Deno.test("install refuses a bad flag value before contacting anything", async () => {
  const result = await run(["install", "--image", "Bad:Ref", "--kubeconfig", "/nonexistent"]);
  assert.equal(result.code, 2);
  assert.match(result.stderr, /^error: Invalid --image "Bad:Ref"/);
  const runtime = await run(["install", "--runtime", "podman"]);
  assert.equal(runtime.code, 2);
  assert.match(runtime.stderr, /invalid value "podman" for --runtime/);
});
