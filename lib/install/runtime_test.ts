import assert from "node:assert/strict";
import type { NodeObject } from "./runtime.ts";
import { UserError } from "../util/errors.ts";
import { nodeRuntime, runtimeOfNodes } from "./runtime.ts";

function node(
  name: string,
  runtime: string,
  kubelet = "v1.34.4",
  architecture = "amd64",
): NodeObject {
  return {
    metadata: { name },
    status: {
      nodeInfo: {
        containerRuntimeVersion: runtime,
        kubeletVersion: kubelet,
        architecture,
      } as NonNullable<NonNullable<NodeObject["status"]>["nodeInfo"]>,
    },
  };
}

Deno.test("a Docker node mounts the Docker socket", () => {
  assert.deepEqual(nodeRuntime(node("minikube", "docker://24.0.7")), {
    runtime: "docker",
    socket: "/var/run/docker.sock",
    version: "docker://24.0.7",
    node: "minikube",
    architecture: "amd64",
  });
});

Deno.test("a containerd node mounts containerd's socket, and k3s's own path on k3s", () => {
  assert.equal(
    nodeRuntime(node("kind", "containerd://1.7.13")).socket,
    "/run/containerd/containerd.sock",
  );
  const k3s = nodeRuntime(node("k3s", "containerd://1.7.11-k3s2", "v1.29.1+k3s2", "arm64"));
  assert.equal(k3s.runtime, "containerd");
  assert.equal(k3s.socket, "/run/k3s/containerd/containerd.sock");
  assert.equal(k3s.architecture, "arm64");
});

Deno.test("an unsupported or unreported runtime is a one-line error naming the fix", () => {
  for (const [runtime, shown] of [["cri-o://1.29.1", "cri-o://1.29.1"], ["", "(none reported)"]]) {
    assert.throws(() => nodeRuntime(node("n1", runtime!)), (error: unknown) => {
      assert.ok(error instanceof UserError);
      assert.equal(
        error.message,
        `Node "n1" runs the container runtime "${shown}", which veryfreshpod cannot watch (it ` +
          "supports docker and containerd); pass --runtime and --socket if the node has one of those",
      );
      return true;
    });
  }
});

Deno.test("several nodes must agree on the runtime", () => {
  const agreed = runtimeOfNodes([node("a", "docker://24.0.7"), node("b", "docker://24.0.9")]);
  assert.equal(agreed.runtime, "docker");
  assert.equal(agreed.nodeCount, 2);
  assert.throws(
    () => runtimeOfNodes([node("a", "docker://24.0.7"), node("b", "containerd://1.7.0")]),
    /^UserError: Nodes "a" \(docker:\/\/24\.0\.7\) and "b" \(containerd:\/\/1\.7\.0\) run different/,
  );
});

Deno.test("a cluster without nodes asks for --runtime", () => {
  assert.throws(
    () => runtimeOfNodes([]),
    /has no nodes .*pass --runtime docker or --runtime containerd/,
  );
});
