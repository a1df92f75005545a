import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { RegistryClient } from "./client.ts";
import type { SourceBlob, SourceImage } from "./image_source.ts";
import { pushImage } from "./push.ts";

const encoder = new TextEncoder();
const INDEX = "application/vnd.oci.image.index.v1+json";
const MANIFEST = "application/vnd.oci.image.manifest.v1+json";
const CONFIG = "application/vnd.oci.image.config.v1+json";
const LAYER = "application/vnd.oci.image.layer.v1.tar+gzip";

function blob(mediaType: string, content: string | Uint8Array): SourceBlob {
  const bytes = typeof content === "string" ? encoder.encode(content) : content;
  const digest = `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
  return {
    mediaType,
    digest,
    size: bytes.length,
    chunks: async function* () {
      yield bytes;
    },
  };
}

const json = (value: unknown) => JSON.stringify(value);
const ref = (b: SourceBlob, extra: Record<string, unknown> = {}) => ({
  mediaType: b.mediaType,
  digest: b.digest,
  size: b.size,
  ...extra,
});

/** A registry that holds `held` and records every request as `METHOD path`. */
function fakeRegistry(held: Set<string>) {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, async (req) => {
    const url = new URL(req.url);
    const path = url.pathname.replace(/^\/v2\/app\//, "");
    seen.push(`${req.method} ${path.startsWith("blobs/uploads/") ? "upload" : path}`);
    await req.body?.cancel();
    if (req.method === "HEAD" && path.startsWith("blobs/")) {
      return new Response(null, { status: held.has(path.slice(6)) ? 200 : 404 });
    }
    if (req.method === "POST") {
      return new Response(null, { status: 202, headers: { location: "/v2/app/blobs/uploads/1" } });
    }
    if (req.method === "PUT" && path.startsWith("blobs/uploads/")) {
      held.add(url.searchParams.get("digest")!);
      return new Response(null, { status: 201 });
    }
    if (req.method === "PUT") return new Response(null, { status: 201 });
    return new Response(null, { status: 404 });
  });
  const { port } = server.addr as Deno.NetAddr;
  const client = new RegistryClient(`127.0.0.1:${port}`, {
    credentials: () => Promise.resolve({ credentials: undefined, source: "none" }),
  });
  return { seen, server, client };
}

const config = blob(CONFIG, "{}");
const base = blob(LAYER, "base layer");
const top = blob(LAYER, "top layer");
const manifest = blob(
  MANIFEST,
  json({ mediaType: MANIFEST, config: ref(config), layers: [ref(base), ref(top)] }),
);

Deno.test("blobs the registry lacks are uploaded, the ones it has only asked for, the tag goes last", async () => {
  const registry = fakeRegistry(new Set([base.digest]));
  try {
    const image: SourceImage = {
      target: ref(manifest) as SourceImage["target"],
      blobs: [config, base, top, manifest],
      close: () => Promise.resolve(),
    };
    const report = await pushImage(registry.client, "app", "v2", image, AbortSignal.timeout(5_000));
    assert.deepEqual(report, {
      digest: manifest.digest,
      written: 2,
      skipped: 1,
      bytes: config.size + top.size,
    });
    assert.deepEqual(registry.seen, [
      `HEAD blobs/${config.digest}`,
      "POST upload",
      "PUT upload",
      `HEAD blobs/${base.digest}`,
      `HEAD blobs/${top.digest}`,
      "POST upload",
      "PUT upload",
      "PUT manifests/v2",
    ]);
  } finally {
    await registry.server.shutdown();
  }
});

Deno.test("an index whose other platforms the engine lacks: its held platform's manifest is pushed", async () => {
  const attestationLayer = blob(LAYER, "in-toto");
  const attestation = blob(
    MANIFEST,
    json({ mediaType: MANIFEST, config: ref(config), layers: [ref(attestationLayer)] }),
  );
  const absent = blob(MANIFEST, json({ mediaType: MANIFEST, note: "arm64, not pulled" }));
  const index = blob(
    INDEX,
    json({
      mediaType: INDEX,
      manifests: [
        ref(absent, { platform: { architecture: "arm64", os: "linux" } }),
        ref(attestation, { annotations: { "vnd.docker.reference.type": "attestation-manifest" } }),
        ref(manifest, { platform: { architecture: "amd64", os: "linux" } }),
      ],
    }),
  );
  const registry = fakeRegistry(new Set());
  try {
    const image: SourceImage = {
      target: ref(index) as SourceImage["target"],
      blobs: [config, base, top, manifest, attestationLayer, attestation, index],
      close: () => Promise.resolve(),
    };
    const report = await pushImage(registry.client, "app", "v2", image, AbortSignal.timeout(5_000));
    assert.equal(report.digest, manifest.digest, "the held platform, not the attestation");
    assert.equal(report.written, 3);
    assert.ok(!registry.seen.some((line) => line.includes(attestationLayer.digest)));
    assert.equal(registry.seen.at(-1), "PUT manifests/v2");
  } finally {
    await registry.server.shutdown();
  }
});
