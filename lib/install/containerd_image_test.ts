import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { ExitCode, UserError } from "../util/errors.ts";
import { ContainerdWriter } from "../engine/containerd_writer.ts";
import { fakeContainerd } from "../testing/fake_containerd.ts";
import {
  buildOciImage,
  containerdImageName,
  ensureContainerdImage,
  OCI_CONFIG,
  OCI_LAYER,
  OCI_MANIFEST,
  type OciImageOptions,
} from "./containerd_image.ts";
import { ROOTFS_LABEL } from "./image.ts";
import { type Rootfs, tarDigest } from "./rootfs.ts";
import { writeTar } from "./tar.ts";

function rootfsOf(bytes: Uint8Array): Rootfs {
  const tar = writeTar([{ path: "/usr/local/bin/veryfreshpod", type: "file", mode: 0o755, bytes }]);
  return {
    tar,
    digest: tarDigest(tar),
    entrypoint: "/usr/local/bin/veryfreshpod",
    env: ["LD_LIBRARY_PATH=/lib/x86_64-linux-gnu"],
    architecture: "amd64",
    files: ["/usr/local/bin/veryfreshpod"],
  };
}

const rootfs = rootfsOf(new TextEncoder().encode("#!ELF, pretend"));
const options: OciImageOptions = {
  architecture: "amd64",
  labels: { "org.opencontainers.image.title": "vfp" },
};

async function sha256(bytes: Uint8Array): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", new Uint8Array(bytes)));
  return `sha256:${Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function parse(bytes: Uint8Array) {
  return JSON.parse(new TextDecoder().decode(bytes));
}

Deno.test("the OCI image is the archive as one uncompressed layer, a config and a manifest", async () => {
  const image = await buildOciImage(rootfs, options);
  const layerDigest = rootfs.digest;
  for (const blob of [image.layer, image.config, image.manifest]) {
    assert.equal(blob.digest, await sha256(blob.bytes), blob.mediaType);
  }
  assert.equal(image.layer.mediaType, OCI_LAYER);
  assert.equal(image.layer.digest, layerDigest);
  assert.equal(image.layer.bytes, rootfs.tar);

  assert.deepEqual(parse(image.config.bytes), {
    architecture: "amd64",
    os: "linux",
    config: {
      Entrypoint: ["/usr/local/bin/veryfreshpod"],
      Env: ["LD_LIBRARY_PATH=/lib/x86_64-linux-gnu"],
      Labels: { "org.opencontainers.image.title": "vfp", [ROOTFS_LABEL]: layerDigest },
    },
    // An uncompressed layer's diff ID is its digest.
    rootfs: { type: "layers", diff_ids: [layerDigest] },
    history: [{ created_by: "veryfreshpod install" }],
  });

  assert.equal(image.manifest.mediaType, OCI_MANIFEST);
  assert.deepEqual(parse(image.manifest.bytes), {
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: { mediaType: OCI_CONFIG, digest: image.config.digest, size: image.config.bytes.length },
    layers: [{ mediaType: OCI_LAYER, digest: layerDigest, size: rootfs.tar.length }],
  });
  assert.deepEqual(image.manifest.labels, {
    "containerd.io/gc.ref.content.config": image.config.digest,
    "containerd.io/gc.ref.content.l.0": layerDigest,
  });
});

Deno.test("the same archive makes the same manifest; another archive or label another", async () => {
  const digest = async (r: Rootfs, o = options) => (await buildOciImage(r, o)).manifest.digest;
  const first = await digest(rootfs);
  assert.equal(await digest(rootfsOf(new TextEncoder().encode("#!ELF, pretend"))), first);
  assert.notEqual(await digest(rootfsOf(new TextEncoder().encode("#!ELF, rebuilt"))), first);
  assert.notEqual(await digest(rootfs, { ...options, labels: { other: "1" } }), first);
  assert.notEqual(await digest(rootfs, { ...options, architecture: "arm64" }), first);
});

Deno.test("a reference becomes the name the kubelet asks containerd for", () => {
  assert.equal(containerdImageName("veryfreshpod:0.1.0"), "docker.io/library/veryfreshpod:0.1.0");
  assert.equal(containerdImageName("team/vfp"), "docker.io/team/vfp:latest");
  assert.equal(containerdImageName("localhost:5000/vfp:1"), "localhost:5000/vfp:1");
  assert.throws(() => containerdImageName(`vfp@sha256:${"a".repeat(64)}`), UserError);
});

Deno.test("an import writes the blobs under a lease, then the image record; a second one nothing", async () => {
  await using fake = await fakeContainerd();
  const client = new ContainerdWriter(fake.socket, "k8s.io");
  try {
    const image = await buildOciImage(rootfs, options);
    const first = await ensureContainerdImage(client, rootfs, "veryfreshpod:1", options);
    const name = "docker.io/library/veryfreshpod:1";
    assert.deepEqual(first, { name, digest: image.manifest.digest, imported: true });

    const lease = fake.state.calls[0]?.match(/lease=(veryfreshpod-\S+)$/)?.[1];
    assert.ok(lease, fake.state.calls.join("\n"));
    assert.deepEqual(fake.state.calls, [
      `Content/Write ${image.layer.digest} lease=${lease}`,
      `Content/Write ${image.config.digest} lease=${lease}`,
      `Content/Write ${image.manifest.digest} lease=${lease}`,
      `Images/Create ${name} lease=-`,
    ]);
    assert.deepEqual(fake.state.leases, new Set(), "the lease is released");
    for (const blob of [image.layer, image.config, image.manifest]) {
      assert.deepEqual(fake.state.blobs.get(blob.digest), {
        data: blob.bytes,
        labels: blob.labels,
      });
    }
    assert.deepEqual(fake.state.images, [{
      name,
      labels: { [ROOTFS_LABEL]: image.layer.digest, "io.cri-containerd.image": "managed" },
      target: {
        mediaType: OCI_MANIFEST,
        digest: image.manifest.digest,
        size: String(image.manifest.bytes.length),
        annotations: {},
      },
    }]);
    assert.ok(fake.state.namespaces.every((namespace) => namespace === "k8s.io"));

    fake.state.calls.length = 0;
    const second = await ensureContainerdImage(client, rootfs, "veryfreshpod:1", options);
    assert.deepEqual(second, { ...first, imported: false });
    assert.deepEqual(fake.state.calls, []);
  } finally {
    client.close();
  }
});

Deno.test("a rebuilt archive replaces the record and writes only the blobs the store lacks", async () => {
  await using fake = await fakeContainerd();
  const client = new ContainerdWriter(fake.socket, "k8s.io");
  try {
    await ensureContainerdImage(client, rootfs, "veryfreshpod:1", options);
    fake.state.calls.length = 0;
    // Same layer, another label: only the config and the manifest are new.
    const relabelled = { ...options, labels: { rebuilt: "yes" } };
    const result = await ensureContainerdImage(client, rootfs, "veryfreshpod:1", relabelled);
    assert.equal(result.imported, true);
    assert.deepEqual(
      fake.state.calls.map((call) => call.replace(/ lease=.*/, "").replace(/sha256:\w+/, "…")),
      [
        "Content/Write …", // the layer: ALREADY_EXISTS, which counts as written
        "Content/Write …",
        "Content/Write …",
        "Images/Create docker.io/library/veryfreshpod:1",
        "Images/Update docker.io/library/veryfreshpod:1",
      ],
    );
    assert.equal(fake.state.images.length, 1);
    assert.equal(fake.state.images[0]?.target?.digest, result.digest);
    assert.equal(fake.state.blobs.size, 5);
  } finally {
    client.close();
  }
});

Deno.test("a blob larger than one message is written in chunks at increasing offsets", async () => {
  await using fake = await fakeContainerd();
  const client = new ContainerdWriter(fake.socket, "k8s.io");
  try {
    const big = new Uint8Array(2.5 * 1024 * 1024).map((_, i) => i % 251);
    const bigRootfs = rootfsOf(big);
    const result = await ensureContainerdImage(client, bigRootfs, "veryfreshpod:big", options);
    assert.equal(result.imported, true);
    const layer = fake.state.blobs.get(bigRootfs.digest);
    assert.deepEqual(layer?.data, bigRootfs.tar);
  } finally {
    client.close();
  }
});

Deno.test("a dry run reads the record and writes nothing", async () => {
  await using fake = await fakeContainerd();
  const client = new ContainerdWriter(fake.socket, "k8s.io");
  try {
    const dry = { ...options, dryRun: true };
    assert.equal((await ensureContainerdImage(client, rootfs, "vfp:1", dry)).imported, true);
    assert.deepEqual([fake.state.calls, fake.state.blobs.size], [[], 0]);
    await ensureContainerdImage(client, rootfs, "vfp:1", options);
    assert.equal((await ensureContainerdImage(client, rootfs, "vfp:1", dry)).imported, false);
  } finally {
    client.close();
  }
});

Deno.test("a failed step is one line naming the call, and the lease is still released", async () => {
  await using fake = await fakeContainerd();
  const client = new ContainerdWriter(fake.socket, "k8s.io");
  try {
    for (const method of ["Content/Write", "Images/Create"]) {
      fake.state.failNext.set(method, grpc.status.INTERNAL);
      await assert.rejects(
        ensureContainerdImage(client, rootfs, "vfp:1", options),
        (error: unknown) => {
          assert.ok(error instanceof UserError);
          assert.equal(error.exitCode, ExitCode.engine);
          assert.equal(
            error.message,
            `the containerd socket "${fake.socket}" failed ${method}: ${method} failed on purpose`,
          );
          return true;
        },
      );
      assert.deepEqual(fake.state.leases, new Set(), method);
    }
  } finally {
    client.close();
  }
});
