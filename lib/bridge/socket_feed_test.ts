import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { writeTar } from "../install/tar.ts";
import { fakeDocker, json, versionBody } from "../testing/fake_docker.ts";
import { fakeContainerd } from "../testing/fake_containerd.ts";
import { ContainerdWriter } from "../engine/containerd_writer.ts";
import { SocketFeed } from "./socket_feed.ts";
import { MobySource } from "./moby_source.ts";
import { ctrMajorVersion, importArgs } from "./container_feed.ts";

const text = (value: string) => new TextEncoder().encode(value);
const digest = (bytes: Uint8Array) => `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
const AMD64 = { os: "linux", architecture: "amd64" };
const NAME = "docker.io/library/app:v1";
const signal = new AbortController().signal;

const descriptor = (mediaType: string, bytes: Uint8Array) => ({
  mediaType,
  digest: digest(bytes),
  size: bytes.length,
});

/** A manifest of `config` and `layers`, with its bytes. */
function manifest(config: Uint8Array, layers: Uint8Array[]) {
  const bytes = text(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_MANIFEST,
    config: descriptor("application/vnd.oci.image.config.v1+json", config),
    layers: layers.map((layer) => descriptor("application/vnd.oci.image.layer.v1.tar", layer)),
  }));
  return { bytes, descriptor: descriptor(OCI_MANIFEST, bytes) };
}

/** `GET /info` of a Docker with the containerd image store, its containerd at `socket`. */
function containerdStoreInfo(socket: string) {
  return {
    DriverStatus: [["driver-type", "io.containerd.snapshotter.v1"]],
    Containerd: { Address: socket, Namespaces: { Containers: "moby" } },
  };
}

/** A Docker 25+ save: the blobs (Docker writes them first), then index.json, oci-layout. */
function ociSave(target: { mediaType: string; digest: string; size: number }, blobs: Uint8Array[]) {
  return writeTar([
    ...blobs.map((bytes) => ({
      path: `blobs/sha256/${digest(bytes).slice(7)}`,
      type: "file" as const,
      mode: 0o644,
      bytes,
    })),
    {
      path: "index.json",
      type: "file",
      mode: 0o644,
      bytes: text(JSON.stringify({ schemaVersion: 2, manifests: [target] })),
    },
    { path: "manifest.json", type: "file", mode: 0o644, bytes: text("[]") },
    {
      path: "oci-layout",
      type: "file",
      mode: 0o644,
      bytes: text('{"imageLayoutVersion":"1.0.0"}'),
    },
  ]);
}

/** A Docker before 25 save: `<id>/layer.tar`s, the config, manifest.json. */
function legacySave(config: Uint8Array, layers: Uint8Array[]) {
  const configName = `${digest(config).slice(7)}.json`;
  return writeTar([
    ...layers.map((bytes, i) => ({
      path: `${String(i).repeat(64)}/layer.tar`,
      type: "file" as const,
      mode: 0o644,
      bytes,
    })),
    { path: configName, type: "file", mode: 0o644, bytes: config },
    {
      path: "manifest.json",
      type: "file",
      mode: 0o644,
      bytes: text(JSON.stringify([{
        Config: configName,
        RepoTags: ["app:v1"],
        Layers: layers.map((_, i) => `${String(i).repeat(64)}/layer.tar`),
      }])),
    },
  ]);
}

function configOf(layers: Uint8Array[]): Uint8Array {
  return text(JSON.stringify({
    architecture: "amd64",
    os: "linux",
    rootfs: { type: "layers", diff_ids: layers.map(digest) },
  }));
}

/**
 * A fake Docker (API `api`, `GET /info` answering `info`: the classic store
 * by default) whose save of app:v1 answers `archive`, and a fake containerd
 * node behind the socket feed.
 */
async function setup(
  archive: () => Uint8Array,
  api = "1.47",
  info: unknown = { DriverStatus: [["Backing Filesystem", "extfs"]] },
) {
  const docker = await fakeDocker((_request, path) => {
    if (path === "/version") return json(versionBody(api));
    if (path.endsWith("/info")) return json(info);
    if (path.includes("/images/")) return new Response(archive().slice());
    return json({ message: "no such endpoint" }, 404);
  });
  const node = await fakeContainerd();
  const writer = new ContainerdWriter(node.socket, "k8s.io");
  const feed = new SocketFeed(
    ["node-1"],
    docker.client,
    writer,
    AMD64,
    new MobySource(docker.client),
  );
  return {
    docker,
    node,
    feed,
    saves: () => docker.requests.filter((path) => path.includes("/get")),
    async [Symbol.asyncDispose]() {
      feed.close();
      await node[Symbol.asyncDispose]();
      await docker[Symbol.asyncDispose]();
    },
  };
}

const big = (seed: number, size = 3 << 20) => new Uint8Array(size).fill(seed);

Deno.test("a needed layer that is neither in the save nor on the node fails the copy, naming it", async () => {
  const [base, top] = [text("base layer"), text("top layer")];
  const config = configOf([base, top]);
  const image = manifest(config, [base, top]);
  // Docker's containerd store left the shared base layer out (moby#49473).
  await using t = await setup(() => ociSave(image.descriptor, [top, config, image.bytes]));
  await assert.rejects(
    t.feed.copy({ name: NAME, id: image.descriptor.digest }, signal),
    new RegExp(`neither the save of ${NAME} nor the node has the image's layer ${digest(base)}`),
  );
  assert.deepEqual(t.node.state.images, [], "no image record names a broken image");
});

Deno.test("a layer missing from the save that the node has already is fine, and not sent", async () => {
  const [base, top] = [text("base layer"), text("top layer")];
  const config = configOf([base, top]);
  const image = manifest(config, [base, top]);
  await using t = await setup(() => ociSave(image.descriptor, [top, config, image.bytes]));
  t.node.state.blobs.set(digest(base), { data: base, labels: {} });
  const report = await t.feed.copy({ name: NAME, id: image.descriptor.digest }, signal);
  assert.deepEqual(t.node.state.images.map((i) => [i.name, i.target?.digest]), [
    [NAME, image.descriptor.digest],
  ]);
  assert.equal(report.skipped, 1);
  assert.equal(report.written, 3);
  assert.equal(report.bytes, top.length + config.length + image.bytes.length);
  assert.deepEqual(t.node.state.blobs.get(image.descriptor.digest)?.labels, {
    "containerd.io/gc.ref.content.config": digest(config),
    "containerd.io/gc.ref.content.l.0": digest(base),
    "containerd.io/gc.ref.content.l.1": digest(top),
  });
});

Deno.test("an index may lack other platforms, never the node's", async () => {
  const layer = text("amd64 layer");
  const config = configOf([layer]);
  const amd64 = manifest(config, [layer]);
  const arm64 = manifest(text('{"architecture":"arm64"}'), [text("arm64 layer")]);
  const index = (children: { descriptor: unknown; platform: unknown }[]) => {
    const bytes = text(JSON.stringify({
      schemaVersion: 2,
      mediaType: OCI_INDEX,
      manifests: children.map((child) => ({
        ...(child.descriptor as object),
        platform: child.platform,
      })),
    }));
    return { bytes, descriptor: descriptor(OCI_INDEX, bytes) };
  };
  const both = index([
    { descriptor: amd64.descriptor, platform: AMD64 },
    { descriptor: arm64.descriptor, platform: { os: "linux", architecture: "arm64" } },
  ]);
  // Pulled for amd64 only: arm64's manifest and blobs are not in the save.
  let archive = ociSave(both.descriptor, [layer, config, amd64.bytes, both.bytes]);
  await using t = await setup(() => archive);
  await t.feed.copy({ name: NAME, id: both.descriptor.digest }, signal);
  assert.equal(t.node.state.images[0]?.target?.digest, both.descriptor.digest);
  assert.ok(!t.node.state.blobs.has(arm64.descriptor.digest));

  // The node's platform missing is an error naming it.
  const armOnly = index([
    { descriptor: arm64.descriptor, platform: { os: "linux", architecture: "arm64" } },
  ]);
  archive = ociSave(armOnly.descriptor, [armOnly.bytes]);
  await assert.rejects(
    t.feed.copy({ name: "docker.io/library/app:arm", id: armOnly.descriptor.digest }, signal),
    /has no manifest for the node's platform linux\/amd64/,
  );
  const onlyManifestMissing = index([{ descriptor: amd64.descriptor, platform: AMD64 }]);
  archive = ociSave(onlyManifestMissing.descriptor, [onlyManifestMissing.bytes]);
  t.node.state.blobs.delete(amd64.descriptor.digest);
  await assert.rejects(
    t.feed.copy(
      { name: "docker.io/library/app:x", id: onlyManifestMissing.descriptor.digest },
      signal,
    ),
    new RegExp(`image's manifest ${amd64.descriptor.digest}`),
  );
});

Deno.test("Docker's error appended to a save that failed partway is what the copy reports", async () => {
  const layer = text("layer");
  const config = configOf([layer]);
  const image = manifest(config, [layer]);
  const whole = ociSave(image.descriptor, [layer, config, image.bytes]);
  // The tar up to the first member's end, then Docker's error line (as its save handler writes it).
  const cut = whole.slice(0, 1024);
  const error = text(
    '{"errorDetail":{"message":"content digest sha256:abc: not found"},' +
      '"error":"content digest sha256:abc: not found"}\r\n',
  );
  await using t = await setup(() => new Uint8Array([...cut, ...error]));
  await assert.rejects(
    t.feed.copy({ name: NAME, id: image.descriptor.digest }, signal),
    /Docker stopped the save partway: content digest sha256:abc: not found/,
  );
});

Deno.test("a legacy layer that is not what the config's diff_ids say fails the copy", async () => {
  const layers = [text("one"), text("two")];
  const config = configOf([layers[0]!, text("something else")]);
  await using t = await setup(() => legacySave(config, layers));
  await assert.rejects(
    t.feed.copy({ name: NAME, id: digest(config) }, signal),
    new RegExp(
      `is ${digest(layers[1]!)}, but the config says layer 1 is ${digest(text("something else"))}`,
    ),
  );
  assert.deepEqual(t.node.state.images, []);
});

Deno.test("the save streams to the node: no temporary file, large blobs the node has are not sent", async () => {
  const [base, top] = [big(1), big(2)];
  const config = configOf([base, top]);
  const image = manifest(config, [base, top]);
  await using t = await setup(() => ociSave(image.descriptor, [base, top, config, image.bytes]));
  t.node.state.blobs.set(digest(base), { data: base, labels: {} });
  const makeTempDir = Deno.makeTempDir;
  const makeTempFile = Deno.makeTempFile;
  const refuse = () => Promise.reject(new Error("the copy made a temporary file"));
  Object.assign(Deno, { makeTempDir: refuse, makeTempFile: refuse });
  try {
    const report = await t.feed.copy({ name: NAME, id: image.descriptor.digest }, signal);
    assert.equal(report.bytes, top.length + config.length + image.bytes.length);
  } finally {
    Object.assign(Deno, { makeTempDir, makeTempFile });
  }
  assert.deepEqual(t.node.state.blobs.get(digest(top))?.data.length, top.length);
});

Deno.test("a legacy save sends only the large layer the node lacks, in a second pass", async () => {
  const layers = [big(1), big(2), text("small top")];
  const config = configOf(layers);
  await using t = await setup(() => legacySave(config, layers));
  t.node.state.blobs.set(digest(layers[0]!), { data: layers[0]!, labels: {} });
  const report = await t.feed.copy({ name: NAME, id: digest(config) }, signal);
  assert.equal(t.saves().length, 2);
  const manifestBytes = report.bytes - layers[1]!.length - layers[2]!.length - config.length;
  assert.ok(manifestBytes > 0 && manifestBytes < 2048, String(report.bytes));
  assert.equal(t.node.state.images[0]?.name, NAME);
  // Nothing missing: one pass.
  await t.feed.copy({ name: NAME, id: digest(config) }, signal);
  assert.equal(t.saves().length, 3);
});

Deno.test("a daemon with API 1.48+ is asked to save the node's platform only", async () => {
  const layer = text("layer");
  const config = configOf([layer]);
  const image = manifest(config, [layer]);
  const archive = () => ociSave(image.descriptor, [layer, config, image.bytes]);
  await using newer = await setup(archive, "1.52");
  await newer.feed.copy({ name: NAME, id: image.descriptor.digest }, signal);
  assert.deepEqual(newer.saves(), [
    `/v1.52/images/${encodeURIComponent(NAME)}/get?platform=${
      encodeURIComponent('{"os":"linux","architecture":"amd64"}')
    }`,
  ]);
  await using older = await setup(archive, "1.47");
  await older.feed.copy({ name: NAME, id: image.descriptor.digest }, signal);
  assert.deepEqual(older.saves(), [`/v1.47/images/${encodeURIComponent(NAME)}/get`]);
});

Deno.test("ctr imports the node's platform, and names no import-<date> digest image for a named one", () => {
  const args = importArgs(["--snapshotter=native"], false);
  assert.ok(!args.includes("--all-platforms"));
  assert.deepEqual(importArgs([], true).slice(0, 3), ["images", "import", "--local"]);
  assert.equal(ctrMajorVersion("ctr github.com/containerd/containerd/v2 2.3.7\n"), 2);
  assert.equal(ctrMajorVersion("ctr github.com/containerd/containerd 1.6.20~ds1\n"), 1);
  assert.deepEqual(args, [
    "images",
    "import",
    "--digests",
    "--skip-digest-for-named",
    "--snapshotter=native",
    "-",
  ]);
});

Deno.test("with Docker's containerd store, the blobs the node lacks come from Docker's containerd, not the save", async () => {
  const [base, top] = [big(1), text("changed")];
  const config = configOf([base, top]);
  const image = manifest(config, [base, top]);
  await using moby = await fakeContainerd();
  for (const bytes of [base, top, config, image.bytes]) {
    moby.state.blobs.set(digest(bytes), { data: bytes, labels: {} });
  }
  moby.state.images.push({
    name: NAME,
    labels: {},
    target: { ...image.descriptor, size: String(image.descriptor.size), annotations: {} },
  });
  await using t = await setup(() => new Uint8Array(), "1.52", containerdStoreInfo(moby.socket));
  const { feed, node } = t;
  node.state.blobs.set(digest(base), { data: base, labels: {} });
  const report = await feed.copy({ name: NAME, id: image.descriptor.digest }, signal);
  assert.equal(feed.lastSource, "containerd");
  assert.deepEqual(t.saves(), [], "no save");
  assert.equal(report.bytes, top.length + config.length + image.bytes.length);
  assert.deepEqual({ written: report.written, skipped: report.skipped }, {
    written: 3,
    skipped: 1,
  });
  assert.equal(node.state.images[0]?.target?.digest, image.descriptor.digest);
  assert.ok(moby.state.namespaces.every((namespace) => namespace === "moby"));
  // A blob Docker's containerd lost (moby#49473) and the node lacks: named, nothing recorded.
  const lost = text("lost layer");
  const broken = manifest(configOf([lost]), [lost]);
  for (const bytes of [configOf([lost]), broken.bytes]) {
    moby.state.blobs.set(digest(bytes), { data: bytes, labels: {} });
  }
  moby.state.images.push({
    name: "docker.io/library/app:broken",
    labels: {},
    target: { ...broken.descriptor, size: String(broken.descriptor.size), annotations: {} },
  });
  await assert.rejects(
    feed.copy({ name: "docker.io/library/app:broken", id: broken.descriptor.digest }, signal),
    new RegExp(
      `neither Docker's containerd \\(namespace moby\\) nor the node has the image's layer ${
        digest(lost)
      }`,
    ),
  );
  assert.equal(node.state.images.length, 1);
});

Deno.test("Docker's containerd out of reach: the copy falls back to the save", async () => {
  const layer = text("layer");
  const config = configOf([layer]);
  const image = manifest(config, [layer]);
  await using t = await setup(
    () => ociSave(image.descriptor, [layer, config, image.bytes]),
    "1.47",
    containerdStoreInfo("/nonexistent/containerd.sock"),
  );
  await t.feed.copy({ name: NAME, id: image.descriptor.digest }, signal);
  assert.equal(t.feed.lastSource, "save");
  assert.equal(t.node.state.images[0]?.target?.digest, image.descriptor.digest);
});

Deno.test("a BuildKit index (platform manifest + attestation) reaches the node with the platform's blobs; the attestation's are not needed", async () => {
  const layer = text("buildkit layer");
  const config = configOf([layer]);
  const amd64 = manifest(config, [layer]);
  const attestation = manifest(text('{"attestation":true}'), [text("in-toto statement")]);
  const indexBytes = text(JSON.stringify({
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [
      { ...amd64.descriptor, platform: AMD64 },
      {
        ...attestation.descriptor,
        platform: { os: "unknown", architecture: "unknown" },
        annotations: {
          "vnd.docker.reference.digest": amd64.descriptor.digest,
          "vnd.docker.reference.type": "attestation-manifest",
        },
      },
    ],
  }));
  const index = descriptor(OCI_INDEX, indexBytes);
  // The save holds the attestation manifest but not its blobs.
  await using t = await setup(() =>
    ociSave(index, [layer, config, amd64.bytes, attestation.bytes, indexBytes])
  );
  const report = await t.feed.copy({ name: NAME, id: index.digest }, signal);
  assert.equal(t.node.state.images[0]?.target?.digest, index.digest);
  assert.equal(report.written, 4, JSON.stringify(report)); // layer, config, manifest, index
  assert.ok(await t.feed.has({ name: NAME, id: index.digest }));
  // The kubelet's image ID is the platform manifest's config: has() knows it by that too.
  assert.ok(await t.feed.has({ name: NAME, id: digest(config) }));
});

Deno.test("a node that holds the platform's manifest alone holds Docker's index image by its config digest", async () => {
  const layer = text("layer");
  const config = configOf([layer]);
  const amd64 = manifest(config, [layer]);
  await using t = await setup(() => new Uint8Array());
  t.node.state.blobs.set(amd64.descriptor.digest, { data: amd64.bytes, labels: {} });
  t.node.state.images.push({
    name: NAME,
    labels: {},
    target: { ...amd64.descriptor, size: String(amd64.descriptor.size), annotations: {} },
  });
  const index = "sha256:" + "1".repeat(64);
  assert.equal(await t.feed.has({ name: NAME, id: index }), false);
  assert.ok(await t.feed.has({ name: NAME, id: index, configId: digest(config) }));
});
