import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { writeTar } from "../install/tar.ts";
import { indexTar } from "./tar_index.ts";
import { blobChunks, DOCKER_LAYER, DOCKER_MANIFEST, readDockerArchive } from "./docker_archive.ts";
import { StreamDemuxer } from "./docker_exec.ts";

const text = (value: string) => new TextEncoder().encode(value);
const digest = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;

async function withArchive<T>(
  entries: Parameters<typeof writeTar>[0],
  fn: (file: Deno.FsFile) => Promise<T>,
): Promise<T> {
  const path = await Deno.makeTempFile({ prefix: "vfp-archive-test-" });
  try {
    await Deno.writeFile(path, writeTar(entries));
    using file = await Deno.open(path);
    return await fn(file);
  } finally {
    await Deno.remove(path);
  }
}

async function contentOf(file: Deno.FsFile, blob: Parameters<typeof blobChunks>[1]) {
  const parts: number[] = [];
  for await (const chunk of blobChunks(file, blob)) parts.push(...chunk);
  return new Uint8Array(parts);
}

Deno.test("a legacy docker save archive becomes layers, config and a made manifest", async () => {
  const layerA = text("layer a ".repeat(300));
  const layerB = text("layer b");
  const config = text('{"architecture":"amd64","os":"linux","rootfs":{}}');
  const configHex = digest(config).slice(7);
  const long = `${"d".repeat(64)}/${"x".repeat(120)}`; // a PAX path, as Go writes long names
  await withArchive([
    { path: `${"a".repeat(64)}/layer.tar`, type: "file", mode: 0o644, bytes: layerA },
    { path: `${"b".repeat(64)}/layer.tar`, type: "file", mode: 0o644, bytes: layerB },
    // The same layer twice: Docker writes a symlink to the first copy.
    {
      path: `${"c".repeat(64)}/layer.tar`,
      type: "symlink",
      mode: 0o777,
      target: `../${"a".repeat(64)}/layer.tar`,
    },
    { path: long, type: "file", mode: 0o644, bytes: text("ignored") },
    { path: `${configHex}.json`, type: "file", mode: 0o644, bytes: config },
    {
      path: "manifest.json",
      type: "file",
      mode: 0o644,
      bytes: text(JSON.stringify([{
        Config: `${configHex}.json`,
        RepoTags: ["app:v1"],
        Layers: [
          `${"a".repeat(64)}/layer.tar`,
          `${"b".repeat(64)}/layer.tar`,
          `${"c".repeat(64)}/layer.tar`,
        ],
      }])),
    },
  ], async (file) => {
    const members = await indexTar(file);
    assert.ok(members.has(long), [...members.keys()].join(", "));
    const image = await readDockerArchive(file, members);
    assert.equal(image.configDigest, digest(config));
    assert.deepEqual(image.blobs.map((b) => [b.mediaType, b.digest, b.size]), [
      [DOCKER_LAYER, digest(layerA), layerA.length],
      [DOCKER_LAYER, digest(layerB), layerB.length],
      ["application/vnd.docker.container.image.v1+json", digest(config), config.length],
      [DOCKER_MANIFEST, image.target.digest, image.target.size],
    ]);
    const manifestBlob = image.blobs.at(-1)!;
    const manifestBytes = await contentOf(file, manifestBlob);
    assert.equal(digest(manifestBytes), image.target.digest);
    const manifest = JSON.parse(new TextDecoder().decode(manifestBytes));
    assert.deepEqual(manifest.layers.map((l: { digest: string }) => l.digest), [
      digest(layerA),
      digest(layerB),
      digest(layerA),
    ]);
    assert.deepEqual(manifestBlob.labels, {
      "containerd.io/gc.ref.content.config": digest(config),
      "containerd.io/gc.ref.content.l.0": digest(layerA),
      "containerd.io/gc.ref.content.l.1": digest(layerB),
      "containerd.io/gc.ref.content.l.2": digest(layerA),
    });
    assert.deepEqual(await contentOf(file, image.blobs[0]!), layerA);
  });
});

Deno.test("an OCI layout archive keeps Docker's own manifest as the target", async () => {
  const layer = text("gzip pretend");
  const config = text('{"os":"linux"}');
  const manifest = text(JSON.stringify({
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: {
      mediaType: "application/vnd.oci.image.config.v1+json",
      digest: digest(config),
      size: config.length,
    },
    layers: [{
      mediaType: "application/vnd.oci.image.layer.v1.tar+gzip",
      digest: digest(layer),
      size: layer.length,
    }],
  }));
  const blob = (bytes: Uint8Array) => ({
    path: `blobs/sha256/${digest(bytes).slice(7)}`,
    type: "file" as const,
    mode: 0o644,
    bytes,
  });
  const target = {
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    digest: digest(manifest),
    size: manifest.length,
  };
  await withArchive([
    blob(layer),
    blob(config),
    blob(manifest),
    {
      path: "oci-layout",
      type: "file",
      mode: 0o644,
      bytes: text('{"imageLayoutVersion":"1.0.0"}'),
    },
    {
      path: "index.json",
      type: "file",
      mode: 0o644,
      bytes: text(JSON.stringify({ manifests: [target] })),
    },
    { path: "manifest.json", type: "file", mode: 0o644, bytes: text("[]") },
  ], async (file) => {
    const image = await readDockerArchive(file, await indexTar(file));
    assert.deepEqual(image.target, target);
    assert.equal(image.configDigest, digest(config));
    assert.deepEqual(image.blobs.map((b) => b.digest), [
      digest(config),
      digest(layer),
      digest(manifest),
    ]);
    assert.deepEqual(image.blobs[2]!.labels, {
      "containerd.io/gc.ref.content.config": digest(config),
      "containerd.io/gc.ref.content.l.0": digest(layer),
    });
  });
});

Deno.test("an archive without an image says so", async () => {
  await withArchive(
    [{ path: "hello.txt", type: "file", mode: 0o644, bytes: text("hi") }],
    async (file) => {
      await assert.rejects(
        readDockerArchive(file, await indexTar(file)),
        /the archive has neither index.json nor manifest.json/,
      );
    },
  );
});

Deno.test("a corrupt tar header is an error, not a misread", async () => {
  const path = await Deno.makeTempFile({ prefix: "vfp-archive-test-" });
  try {
    const bytes = writeTar([{ path: "a", type: "file", mode: 0o644, bytes: text("x") }]);
    bytes[10] = 0x41; // inside the name: the checksum no longer matches
    await Deno.writeFile(path, bytes);
    using file = await Deno.open(path);
    await assert.rejects(indexTar(file), /bad header checksum/);
  } finally {
    await Deno.remove(path);
  }
});

Deno.test("the exec stream demuxer splits stdout and stderr across chunk boundaries", () => {
  const frame = (stream: number, payload: string) => {
    const body = text(payload);
    const out = new Uint8Array(8 + body.length);
    out[0] = stream;
    new DataView(out.buffer).setUint32(4, body.length);
    out.set(body, 8);
    return out;
  };
  const all = new Uint8Array([
    ...frame(1, "unpacking app"),
    ...frame(2, "ctr: oops"),
    ...frame(1, " done"),
  ]);
  const demuxer = new StreamDemuxer();
  for (let at = 0; at < all.length; at += 5) demuxer.push(all.subarray(at, at + 5));
  assert.equal(demuxer.stdout.text(), "unpacking app done");
  assert.equal(demuxer.stderr.text(), "ctr: oops");
});

Deno.test("the exec stream's frames are passed on as they come, not gathered whole", () => {
  const demuxer = new StreamDemuxer();
  // A header that announces 16 MiB of stdout, then the payload in 64 KiB pieces.
  const size = 16 * 1024 * 1024;
  const header = new Uint8Array(8);
  header[0] = 1;
  new DataView(header.buffer).setUint32(4, size);
  demuxer.push(header.subarray(0, 3));
  assert.equal(demuxer.pendingBytes, 3);
  demuxer.push(header.subarray(3));
  const piece = new Uint8Array(64 * 1024).fill(0x61);
  for (let sent = 0; sent < size; sent += piece.length) {
    demuxer.push(piece);
    assert.equal(demuxer.pendingBytes, 0, `bytes held back after ${sent}`);
  }
  // The next frame, stderr, in the same push as nothing else.
  const message = new TextEncoder().encode("ctr: done");
  const next = new Uint8Array(8 + message.length);
  next[0] = 2;
  new DataView(next.buffer).setUint32(4, message.length);
  next.set(message, 8);
  demuxer.push(next);
  // Only the end of each stream is kept.
  assert.equal(demuxer.stdout.text(), "a".repeat(64 * 1024));
  assert.equal(demuxer.stderr.text(), "ctr: done");
});
