import assert from "node:assert/strict";
import {
  type ContentStore,
  DockerEngineSource,
  type ImageSource,
  type SourceImage,
} from "./image_source.ts";

const encoder = new TextEncoder();
const d = (c: string) => `sha256:${c.repeat(64)}`;
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const manifest = encoder.encode(JSON.stringify({
  schemaVersion: 2,
  mediaType: MANIFEST,
  config: { mediaType: "application/vnd.oci.image.config.v1+json", digest: d("c"), size: 2 },
  layers: [{ mediaType: "application/vnd.oci.image.layer.v1.tar+gzip", digest: d("1"), size: 3 }],
}));

/** Docker's containerd holding the manifest and config; the layer only when `withLayer`. */
function store(withLayer: boolean): ContentStore {
  const sizes = new Map([[d("c"), 2], ...(withLayer ? [[d("1"), 3] as const] : [])]);
  return {
    target: (name) =>
      Promise.resolve(
        name === "docker.io/library/app:v2"
          ? { mediaType: MANIFEST, digest: d("m"), size: manifest.length }
          : undefined,
      ),
    read: (digest) => Promise.resolve(digest === d("m") ? manifest : undefined),
    size: (digest) => Promise.resolve(sizes.get(digest)),
    chunks: async function* () {
      yield new Uint8Array(0);
    },
  };
}

const saved: SourceImage = {
  target: { mediaType: MANIFEST, digest: d("s"), size: 1 },
  blobs: [],
  close: () => Promise.resolve(),
};
class CountingSave implements ImageSource {
  opened = 0;
  open(): Promise<SourceImage> {
    this.opened++;
    return Promise.resolve(saved);
  }
}

Deno.test("Docker's containerd is read when it holds every blob; the save is never taken", async () => {
  const save = new CountingSave();
  const source = new DockerEngineSource(save, () => Promise.resolve(store(true)));
  const image = await source.open("docker.io/library/app:v2", AbortSignal.timeout(1_000));
  assert.equal(image.target.digest, d("m"));
  assert.deepEqual(image.blobs.map((b) => b.digest), [d("c"), d("1"), d("m")]);
  assert.equal(save.opened, 0);
});

Deno.test("a layer Docker's containerd lacks, an image it does not have, or no containerd: the save", async () => {
  const cases: [ContentStore | undefined, string][] = [
    [store(false), "docker.io/library/app:v2"],
    [store(true), "docker.io/library/other:v1"],
    [undefined, "docker.io/library/app:v2"],
  ];
  for (const [content, name] of cases) {
    const save = new CountingSave();
    const image = await new DockerEngineSource(save, () => Promise.resolve(content)).open(
      name,
      AbortSignal.timeout(1_000),
    );
    assert.equal(image, saved, name);
    assert.equal(save.opened, 1);
  }
});
