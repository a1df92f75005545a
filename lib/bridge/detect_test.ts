import assert from "node:assert/strict";
import type { NodeObject } from "../install/runtime.ts";
import { routeNodes } from "./detect.ts";
import { parseImageList, parseSnapshotter } from "./container_feed.ts";
import { holdsConfig } from "./feed.ts";

function node(name: string, runtime: string, kubelet = "v1.34.4"): NodeObject {
  return {
    metadata: { name },
    status: {
      nodeInfo: {
        containerRuntimeVersion: runtime,
        kubeletVersion: kubelet,
        architecture: "amd64",
      } as never,
    },
  };
}

const base = { containers: [], socket: undefined, hostname: "devbox", exists: () => false };

Deno.test("routeNodes(): Docker nodes need no bridge", () => {
  assert.deepEqual(routeNodes({ ...base, nodes: [node("devbox", "docker://24.0.7")] }), []);
});

Deno.test("routeNodes(): kind and minikube node containers are fed through Docker", () => {
  const routes = routeNodes({
    ...base,
    nodes: [
      node("kind-control-plane", "containerd://2.1.1"),
      node("kind-worker", "containerd://2.1.1"),
      node("minikube", "containerd://1.7.23"),
    ],
    containers: [
      { name: "kind-control-plane", labels: { "io.x-k8s.kind.cluster": "kind" } },
      { name: "kind-worker", labels: { "io.x-k8s.kind.cluster": "kind" } },
      { name: "minikube", labels: { "name.minikube.sigs.k8s.io": "minikube" } },
      { name: "kind-external-load-balancer", labels: { "io.x-k8s.kind.cluster": "kind" } },
    ],
  });
  assert.deepEqual(routes.map((r) => [r.node, r.route.kind, "what" in r.route && r.route.what]), [
    ["kind-control-plane", "container", 'kind cluster "kind"'],
    ["kind-worker", "container", 'kind cluster "kind"'],
    ["minikube", "container", 'minikube profile "minikube"'],
  ]);
  // Each node gets the manifest of its own platform from a multi-platform image.
  assert.deepEqual(routes[0]?.platform, { os: "linux", architecture: "amd64" });
});

Deno.test("routeNodes(): a container named like the node but without a node label is not one", () => {
  const routes = routeNodes({
    ...base,
    nodes: [node("web", "containerd://1.7.0")],
    containers: [{ name: "web", labels: {} }],
  });
  assert.equal(routes[0]?.route.kind, "none");
});

Deno.test("routeNodes(): this machine's node uses its runtime's socket when it exists", () => {
  const k3s = routeNodes({
    ...base,
    nodes: [node("devbox", "containerd://1.7.23-k3s2", "v1.31.4+k3s1")],
    exists: (path) => path === "/run/k3s/containerd/containerd.sock",
  });
  assert.deepEqual(k3s[0]?.route, {
    kind: "socket",
    socket: "/run/k3s/containerd/containerd.sock",
  });
  const plain = routeNodes({
    ...base,
    hostname: "devbox.example.org",
    nodes: [node("DevBox", "containerd://1.7.0")],
    exists: (path) => path === "/run/containerd/containerd.sock",
  });
  assert.deepEqual(plain[0]?.route, { kind: "socket", socket: "/run/containerd/containerd.sock" });
  const missing = routeNodes({ ...base, nodes: [node("devbox", "containerd://1.7.0")] });
  assert.deepEqual(missing[0]?.route, {
    kind: "none",
    why: "its containerd socket /run/containerd/containerd.sock is not on this machine",
  });
});

Deno.test("routeNodes(): a socket is never guessed for another machine; --containerd-socket is used", () => {
  const remote = routeNodes({
    ...base,
    nodes: [node("server-7", "containerd://1.7.0")],
    exists: () => true,
  });
  assert.equal(remote[0]?.route.kind, "none");
  const given = routeNodes({
    ...base,
    nodes: [node("server-7", "containerd://1.7.0")],
    socket: "/tmp/c.sock",
  });
  assert.deepEqual(given[0]?.route, { kind: "socket", socket: "/tmp/c.sock" });
});

Deno.test("parseSnapshotter() reads the CRI plugin's snapshotter from a config dump", () => {
  const v2 = `version = 2
root = "/var/lib/containerd"

[plugins]
  [plugins."io.containerd.gc.v1.scheduler"]
    pause_threshold = 0.02
  [plugins."io.containerd.grpc.v1.cri"]
    sandbox_image = "registry.k8s.io/pause:3.10"
    [plugins."io.containerd.grpc.v1.cri".containerd]
      default_runtime_name = "runc"
      snapshotter = "overlayfs"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes]
      snapshotter = "wrong"
`;
  assert.equal(parseSnapshotter(v2), "overlayfs");
  const v3 = `version = 3
[plugins]
  [plugins.'io.containerd.cri.v1.images']
    max_concurrent_downloads = 3
    snapshotter = 'native'
`;
  assert.equal(parseSnapshotter(v3), "native");
  assert.equal(parseSnapshotter("version = 2\n"), undefined);
});

Deno.test("parseImageList() finds the target of one name in a `ctr images ls` table", () => {
  const table = `REF TYPE DIGEST SIZE PLATFORMS LABELS
docker.io/library/app:v1 application/vnd.docker.distribution.manifest.v2+json sha256:${
    "a".repeat(64)
  } 1.9 MiB linux/amd64 io.cri-containerd.image=managed
docker.io/library/app:v10 application/vnd.oci.image.index.v1+json sha256:${
    "b".repeat(64)
  } 2.0 MiB linux/amd64 -
`;
  assert.deepEqual(parseImageList(table, "docker.io/library/app:v10"), {
    mediaType: "application/vnd.oci.image.index.v1+json",
    digest: `sha256:${"b".repeat(64)}`,
  });
  assert.equal(parseImageList(table, "docker.io/library/app:v2"), undefined);
});

Deno.test("holdsConfig(): a manifest by its config, an index by any of its manifests", async () => {
  const manifest = (config: string) =>
    new TextEncoder().encode(JSON.stringify({ config: { digest: config }, layers: [] }));
  const children: Record<string, Uint8Array> = {
    "sha256:arm": manifest("sha256:config-arm"),
    "sha256:amd": manifest("sha256:config-amd"),
  };
  const read = (digest: string) => Promise.resolve(children[digest]);
  const docker = "application/vnd.docker.distribution.manifest.v2+json";
  assert.ok(await holdsConfig(docker, manifest("sha256:x"), "sha256:x", read));
  assert.equal(await holdsConfig(docker, manifest("sha256:x"), "sha256:y", read), false);
  const index = new TextEncoder().encode(JSON.stringify({
    manifests: [
      { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: "sha256:arm" },
      { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: "sha256:amd" },
      { mediaType: "application/vnd.oci.image.manifest.v1+json", digest: "sha256:absent" },
    ],
  }));
  const oci = "application/vnd.oci.image.index.v1+json";
  assert.ok(await holdsConfig(oci, index, "sha256:config-amd", read));
  assert.equal(await holdsConfig(oci, index, "sha256:config-other", read), false);
  assert.equal(await holdsConfig("application/json", index, "sha256:config-amd", read), false);
});
