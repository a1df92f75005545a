import assert from "node:assert/strict";
import type { TaggedImage } from "../model/image_snapshot.ts";
import { type BlobReader, configDigest, ConfigDigests } from "./config_digest.ts";

const hex = (c: string) => `sha256:${c.repeat(64)}`;
const CONFIG = hex("c");
const MANIFEST = hex("m");
const INDEX = hex("i");
const ARM = hex("a");

function store(blobs: Record<string, unknown>): BlobReader & { reads: string[] } {
  const reads: string[] = [];
  const read = (digest: string) => {
    reads.push(digest);
    const blob = blobs[digest];
    return Promise.resolve(
      blob === undefined ? undefined : new TextEncoder().encode(JSON.stringify(blob)),
    );
  };
  return Object.assign(read, { reads });
}

const blobs = {
  [MANIFEST]: { schemaVersion: 2, config: { digest: CONFIG }, layers: [] },
  [ARM]: { schemaVersion: 2, config: { digest: hex("b") }, layers: [] },
  [INDEX]: {
    schemaVersion: 2,
    manifests: [
      { digest: ARM, platform: { os: "linux", architecture: "arm64" } },
      { digest: MANIFEST, platform: { os: "linux", architecture: "amd64" } },
      { digest: hex("x"), platform: { os: "unknown", architecture: "unknown" } },
    ],
  },
};

Deno.test("configDigest() reads a manifest's config, or this platform's manifest of an index", async () => {
  const amd64 = { os: "linux", architecture: "amd64" };
  assert.equal(await configDigest(store(blobs), MANIFEST, amd64), CONFIG);
  assert.equal(await configDigest(store(blobs), INDEX, amd64), CONFIG);
  assert.equal(
    await configDigest(store(blobs), INDEX, { os: "linux", architecture: "arm64" }),
    hex("b"),
  );
  assert.equal(await configDigest(store(blobs), hex("0"), amd64), undefined, "missing blob");
  assert.equal(
    await configDigest(store({ [MANIFEST]: { what: 1 } }), MANIFEST, amd64),
    undefined,
    "neither manifest nor index",
  );
});

Deno.test("ConfigDigests reads only new or moved tags, once per target, and uses CRI ID refs", async () => {
  const configs = new ConfigDigests();
  const read = store(blobs);
  const image = (id: string): TaggedImage => ({ id, fromRegistry: false });
  const KEY = "docker.io/library/app:v1";

  // The baseline reads nothing.
  const baseline = await configs.annotate(new Map([[KEY, image(hex("0"))]]), [], read);
  assert.equal(baseline.get(KEY)?.configId, undefined);
  assert.deepEqual(read.reads, []);

  // A moved tag is resolved from the store, and kept.
  const moved = await configs.annotate(new Map([[KEY, image(MANIFEST)]]), [], read);
  assert.equal(moved.get(KEY)?.configId, CONFIG);
  const again = await configs.annotate(
    new Map([[KEY, image(MANIFEST)], ["docker.io/library/app:v2", image(MANIFEST)]]),
    [],
    read,
  );
  assert.equal(again.get("docker.io/library/app:v2")?.configId, CONFIG);
  assert.deepEqual(read.reads, [MANIFEST]);

  // The CRI plugin's ID ref answers without a read.
  const other = hex("e");
  const viaRef = await configs.annotate(
    new Map([[KEY, image(other)]]),
    [{ name: hex("f"), target: other }],
    read,
  );
  assert.equal(viaRef.get(KEY)?.configId, hex("f"));
  assert.deepEqual(read.reads, [MANIFEST]);
});
