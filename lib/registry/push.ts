/**
 * Pushes one image to a registry repository under a tag, sending only the
 * blobs the registry lacks (asked with HEAD first): a rebuild that changed one
 * layer sends that layer, the config and the manifest. Blobs go before the
 * manifests that name them, the tagged manifest last, so the tag never names
 * an incomplete image.
 *
 * An index whose children the engine does not all hold (other platforms of a
 * pulled image) cannot be pushed as it is: the registry refuses an index
 * naming manifests it lacks. The manifest of the platform the engine holds is
 * pushed instead (the first one that is not an attestation).
 */
import { INDEX_TYPES } from "../bridge/feed.ts";
import type { Descriptor } from "../bridge/docker_archive.ts";
import type { RegistryClient } from "./client.ts";
import { isManifest, type SourceBlob, type SourceImage } from "./image_source.ts";

/** What one push did. */
export interface PushReport {
  /** The digest the tag names in the registry now: what workloads are pinned to. */
  readonly digest: string;
  /** Blobs uploaded, and blobs the registry had already (manifests not counted). */
  readonly written: number;
  readonly skipped: number;
  /** Bytes of blob content uploaded. */
  readonly bytes: number;
}

const decoder = new TextDecoder();

async function readAll(blob: SourceBlob): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let length = 0;
  for await (const chunk of blob.chunks()) {
    parts.push(chunk);
    length += chunk.length;
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

interface IndexEntry extends Descriptor {
  readonly annotations?: Record<string, string>;
}

function entries(bytes: Uint8Array, field: "manifests" | "layers"): IndexEntry[] {
  const body = JSON.parse(decoder.decode(bytes)) as Record<string, unknown>;
  const list = body[field];
  return Array.isArray(list) ? list.filter((d) => typeof d?.digest === "string") : [];
}

/** The blobs to send and the target to tag: the image itself, or its one held platform. */
async function pushable(
  image: SourceImage,
): Promise<{ target: Descriptor; blobs: readonly SourceBlob[] }> {
  const byDigest = new Map(image.blobs.map((blob) => [blob.digest, blob]));
  const { target } = image;
  if (!INDEX_TYPES.includes(target.mediaType)) return image;
  const children = entries(await readAll(byDigest.get(target.digest)!), "manifests");
  if (children.every((child) => byDigest.has(child.digest))) return image;
  const held = children.find((child) =>
    byDigest.has(child.digest) && isManifest(child.mediaType) &&
    child.annotations?.["vnd.docker.reference.type"] !== "attestation-manifest"
  );
  if (held === undefined) {
    throw new Error(`the engine holds none of the platforms of ${target.digest}`);
  }
  const manifest = byDigest.get(held.digest)!;
  const body = JSON.parse(decoder.decode(await readAll(manifest))) as { config?: Descriptor };
  const wanted = [
    body.config?.digest,
    ...entries(await readAll(manifest), "layers").map((l) => l.digest),
  ];
  const blobs = wanted.flatMap((digest) => {
    const blob = digest === undefined ? undefined : byDigest.get(digest);
    return blob === undefined ? [] : [blob];
  });
  return { target: held, blobs: [...new Map(blobs.map((b) => [b.digest, b])).values(), manifest] };
}

/** Pushes `image` as `repository:tag` through `client`. */
export async function pushImage(
  client: RegistryClient,
  repository: string,
  tag: string,
  image: SourceImage,
  signal: AbortSignal,
): Promise<PushReport> {
  const { target, blobs } = await pushable(image);
  const before = client.bytesSent;
  let written = 0;
  let skipped = 0;
  let targetBlob: SourceBlob | undefined;
  for (const blob of blobs) {
    signal.throwIfAborted();
    if (blob.digest === target.digest) {
      targetBlob = blob;
    } else if (isManifest(blob.mediaType)) {
      const bytes = await readAll(blob);
      await client.putManifest(
        repository,
        blob.digest,
        { mediaType: blob.mediaType, bytes },
        signal,
      );
    } else if (await client.hasBlob(repository, blob.digest, signal)) {
      skipped++;
    } else {
      await client.uploadBlob(repository, blob, signal);
      written++;
    }
  }
  if (targetBlob === undefined) {
    throw new Error(`the image lacks its own manifest ${target.digest}`);
  }
  const bytes = await readAll(targetBlob);
  const given = await client.putManifest(
    repository,
    tag,
    { mediaType: target.mediaType, bytes },
    signal,
  );
  if (given !== undefined && given !== target.digest) {
    throw new Error(
      `registry ${client.host} stored ${repository}:${tag} as ${given}, not ${target.digest}`,
    );
  }
  return { digest: target.digest, written, skipped, bytes: client.bytesSent - before };
}
