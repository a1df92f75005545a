import assert from "node:assert/strict";
import { DockerEngine } from "./docker.ts";
import {
  distributionSources,
  parseStoreInfo,
  sourceName,
  type TargetReader,
} from "./docker_image_store.ts";
import { ImageStoreFacts } from "./docker_image_store.ts";
import type { TaggedImage } from "../model/image_snapshot.ts";
import { fakeContainerd } from "../testing/fake_containerd.ts";
import { fakeDocker, json, versionBody } from "../testing/fake_docker.ts";

const hex = (c: string) => `sha256:${c.repeat(64)}`;

Deno.test("GET /info: the containerd store by its driver type, and Docker's containerd", () => {
  assert.deepEqual(
    parseStoreInfo({ Driver: "overlay2", DriverStatus: [["Backing Filesystem", "extfs"]] }),
    { containerdStore: false, socket: undefined, namespace: "moby" },
  );
  assert.deepEqual(
    parseStoreInfo({
      Driver: "overlayfs",
      DriverStatus: [["driver-type", "io.containerd.snapshotter.v1"]],
      Containerd: {
        Address: "/var/run/docker/containerd/containerd.sock",
        Namespaces: { Containers: "moby", Plugins: "plugins.moby" },
      },
    }),
    {
      containerdStore: true,
      socket: "/var/run/docker/containerd/containerd.sock",
      namespace: "moby",
    },
  );
  // Before API 1.46 the daemon does not name its containerd.
  assert.deepEqual(
    parseStoreInfo({ DriverStatus: [["driver-type", "io.containerd.snapshotter.v1"]] }),
    { containerdStore: true, socket: undefined, namespace: "moby" },
  );
  assert.equal(parseStoreInfo(null).containerdStore, false);
});

Deno.test("distribution sources name registry/path without the port, as containerd keeps them", () => {
  assert.deepEqual(
    distributionSources({
      "containerd.io/distribution.source.docker.io": "library/alpine,team/alpine",
      "containerd.io/distribution.source.127.0.0.1": "vfp/app",
      "containerd.io/gc.ref.content.config": hex("c"),
    }),
    new Set(["docker.io/library/alpine", "docker.io/team/alpine", "127.0.0.1/vfp/app"]),
  );
  assert.equal(sourceName("docker.io/library/alpine:3"), "docker.io/library/alpine");
  assert.equal(sourceName("localhost:5000/app:v1"), "localhost/app");
  assert.equal(sourceName("127.0.0.1:41234/vfp/app:v1"), "127.0.0.1/vfp/app");
});

Deno.test("facts: only new or moved tags are looked up, once per target; the baseline reads nothing", async () => {
  const asked: string[] = [];
  const reader: TargetReader = {
    configId: (target) => {
      asked.push(`config ${target}`);
      return Promise.resolve(target === hex("1") ? hex("c") : undefined);
    },
    sources: (target) => {
      asked.push(`sources ${target}`);
      return Promise.resolve(
        target === hex("2") ? new Set(["docker.io/library/alpine"]) : new Set<string>(),
      );
    },
  };
  const tagged = (id: string): TaggedImage => ({ id, fromRegistry: true });
  const facts = new ImageStoreFacts();
  const baseline = new Map([["docker.io/library/alpine:3", tagged(hex("2"))]]);
  assert.deepEqual(await facts.annotate(baseline, reader), baseline);
  assert.deepEqual(asked, []);

  const after = await facts.annotate(
    new Map([
      ["docker.io/library/alpine:3", tagged(hex("2"))],
      // A build: no distribution source, a config digest of its own.
      ["docker.io/library/app:v2", tagged(hex("1"))],
      // A pulled image tagged under another name: that name cannot be pulled.
      ["docker.io/library/app:dev", tagged(hex("2"))],
      ["docker.io/library/alpine:latest", tagged(hex("2"))],
    ]),
    reader,
  );
  assert.deepEqual(Object.fromEntries(after), {
    "docker.io/library/alpine:3": { id: hex("2"), fromRegistry: true },
    "docker.io/library/app:v2": { id: hex("1"), fromRegistry: false, configId: hex("c") },
    "docker.io/library/app:dev": { id: hex("2"), fromRegistry: false },
    "docker.io/library/alpine:latest": { id: hex("2"), fromRegistry: true },
  });
  assert.deepEqual(asked.sort(), [
    `config ${hex("1")}`,
    `config ${hex("2")}`,
    `sources ${hex("1")}`,
    `sources ${hex("2")}`,
  ]);
});

Deno.test("facts: what nothing can say counts as from a registry (unknown: no warning), not the list's repo digests", async () => {
  const facts = new ImageStoreFacts();
  const silent: TargetReader = {
    sources: () => Promise.reject(new Error("gone")),
  };
  // Docker 29's list gives a repo digest to one tag of an image, built or pulled.
  const listed: TaggedImage = { id: hex("1"), fromRegistry: false };
  const baseline = await facts.annotate(new Map([["docker.io/library/web:v1", listed]]), silent);
  assert.deepEqual(baseline.get("docker.io/library/web:v1"), { ...listed, fromRegistry: true });
  const after = await facts.annotate(new Map([["docker.io/library/app:v1", listed]]), silent);
  assert.deepEqual(after.get("docker.io/library/app:v1"), { ...listed, fromRegistry: true });
});

/** An OCI blob as the content store holds it: its bytes and their digest. */
async function blob(value: unknown): Promise<{ digest: string; data: Uint8Array }> {
  const data = new TextEncoder().encode(JSON.stringify(value));
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", data));
  const digest = `sha256:${Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  return { digest, data };
}

/** A list entry of Docker's containerd store: every tag has a repo digest. */
function listed(id: string, ...tags: string[]) {
  return {
    Id: id,
    RepoTags: tags,
    RepoDigests: tags.map((tag) => `${tag.slice(0, tag.lastIndexOf(":"))}@${id}`),
    Created: 1_700_000_000,
  };
}

Deno.test("DockerEngine on the containerd store: config digests and pulled-or-built from Docker's containerd", async () => {
  await using content = await fakeContainerd();
  const config = await blob({ architecture: "amd64", os: "linux", rootfs: { diff_ids: [] } });
  const manifest = await blob({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { digest: config.digest },
    layers: [],
  });
  const attestation = await blob({ schemaVersion: 2, config: { digest: hex("0") }, layers: [] });
  // What BuildKit makes: an index with the image and an attestation manifest.
  const index = await blob({
    schemaVersion: 2,
    manifests: [
      { digest: manifest.digest, platform: { os: "linux", architecture: "amd64" } },
      { digest: attestation.digest, platform: { os: "unknown", architecture: "unknown" } },
    ],
  });
  const pulled = await blob({ schemaVersion: 2, config: { digest: hex("p") }, layers: [] });
  for (const b of [config, manifest, attestation, index]) {
    content.state.blobs.set(b.digest, { data: b.data, labels: {} });
  }
  content.state.blobs.set(pulled.digest, {
    data: pulled.data,
    labels: { "containerd.io/distribution.source.docker.io": "library/alpine" },
  });
  let images: unknown[] = [];
  await using docker = await fakeDocker((_request, path) => {
    if (path === "/version") return json(versionBody("1.52", "1.40"));
    if (path.endsWith("/info")) {
      return json({
        DriverStatus: [["driver-type", "io.containerd.snapshotter.v1"]],
        Containerd: { Address: content.socket, Namespaces: { Containers: "moby" } },
      });
    }
    if (path.endsWith("/images/json")) return json(images);
    return json({ message: "no such endpoint" }, 404);
  });
  const engine = new DockerEngine(docker.client);
  try {
    await engine.connect();
    assert.equal(await engine.containerdStore(), true);
    images = [listed(pulled.digest, "alpine:3")];
    await engine.snapshot(); // the baseline
    // A reconnect (the controller connects again after a lost event stream): what changed
    // during the outage is still looked up, against the snapshot before it.
    await engine.connect();
    images = [
      listed(pulled.digest, "alpine:3", "alpine:latest", "app:dev"),
      listed(index.digest, "app:v2"),
    ];
    const snapshot = await engine.snapshot();
    assert.deepEqual(snapshot.get("docker.io/library/app:v2"), {
      id: index.digest,
      fromRegistry: false,
      configId: config.digest,
      time: 1_700_000_000_000,
    });
    assert.equal(snapshot.get("docker.io/library/alpine:latest")?.fromRegistry, true);
    assert.equal(snapshot.get("docker.io/library/app:dev")?.fromRegistry, false);
    assert.equal(snapshot.get("docker.io/library/alpine:latest")?.configId, hex("p"));
    assert.ok(content.state.namespaces.every((ns) => ns === "moby"), "Docker's namespace");
  } finally {
    engine.close();
  }
});

Deno.test("DockerEngine on the containerd store without its socket: image inspect's Identity says what was pulled", async () => {
  const built = hex("b");
  const pulled = hex("p");
  let images: unknown[] = [];
  await using docker = await fakeDocker((_request, path) => {
    if (path === "/version") return json(versionBody("1.53", "1.40"));
    if (path.endsWith("/info")) {
      return json({
        DriverStatus: [["driver-type", "io.containerd.snapshotter.v1"]],
        Containerd: { Address: "/nonexistent/containerd.sock", Namespaces: { Containers: "moby" } },
      });
    }
    if (path.endsWith("/images/json")) return json(images);
    if (path === `/v1.53/images/${encodeURIComponent(pulled)}/json`) {
      return json({ Id: pulled, Identity: { Pull: [{ Repository: "docker.io/library/alpine" }] } });
    }
    if (path === `/v1.53/images/${encodeURIComponent(built)}/json`) return json({ Id: built });
    return json({ message: "no such endpoint" }, 404);
  });
  const engine = new DockerEngine(docker.client);
  try {
    await engine.connect();
    await engine.snapshot();
    images = [listed(pulled, "alpine:3", "app:dev"), listed(built, "app:v2")];
    const snapshot = await engine.snapshot();
    assert.equal(snapshot.get("docker.io/library/alpine:3")?.fromRegistry, true);
    assert.equal(snapshot.get("docker.io/library/app:dev")?.fromRegistry, false);
    assert.equal(snapshot.get("docker.io/library/app:v2")?.fromRegistry, false);
    assert.equal(snapshot.get("docker.io/library/app:v2")?.configId, undefined);
  } finally {
    engine.close();
  }
});

Deno.test("DockerEngine on the classic store asks GET /info once and keeps the list's answers", async () => {
  await using docker = await fakeDocker((_request, path) => {
    if (path === "/version") return json(versionBody("1.52", "1.40"));
    if (path.endsWith("/info")) return json({ Driver: "overlay2", DriverStatus: [] });
    return json([{ Id: hex("1"), RepoTags: ["app:v1"], RepoDigests: [] }]);
  });
  const engine = new DockerEngine(docker.client);
  try {
    await engine.connect();
    await engine.snapshot();
    await engine.snapshot();
    assert.equal(await engine.containerdStore(), false);
    assert.equal(docker.requests.filter((p) => p.endsWith("/info")).length, 1);
    assert.deepEqual((await engine.snapshot()).get("docker.io/library/app:v1"), {
      id: hex("1"),
      fromRegistry: false,
    });
  } finally {
    engine.close();
  }
});
