/**
 * An image from a `docker save` archive (`GET /images/{name}/get`) as the
 * content blobs containerd stores and the descriptor its image record points
 * at. Two layouts exist:
 *
 * - Docker before 25 writes `manifest.json` (config and layer paths; a layer
 *   is `<id>/layer.tar`, uncompressed, possibly a symlink to an equal one).
 *   There is no registry manifest, so one is made: a Docker schema 2
 *   manifest of the config and the uncompressed layers, as `ctr images
 *   import` makes one (without recompressing the layers: a node reads them as
 *   they are). The config is Docker's image ID, so the kubelet reports the
 *   same ID as `docker images`.
 * - Docker 25 and later write an OCI layout (`oci-layout`, `index.json`,
 *   `blobs/sha256/…`): the index entry of the image is the target as Docker
 *   has it, so the node gets the very manifest (and, with the containerd
 *   image store, the very digest) Docker reports as the image ID.
 *
 * Blobs come children first, the target last: containerd wants what a blob
 * references to exist before the labels that reference it.
 */
import { createHash } from "node:crypto";
import { readMember, readSmallMember, resolveMember, type TarMember } from "./tar_index.ts";

export const DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json";
export const DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json";
export const DOCKER_CONFIG = "application/vnd.docker.container.image.v1+json";
export const DOCKER_LAYER = "application/vnd.docker.image.rootfs.diff.tar";
export const OCI_INDEX = "application/vnd.oci.image.index.v1+json";
export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";

/** A content descriptor. */
export interface Descriptor {
  readonly mediaType: string;
  readonly digest: string;
  readonly size: number;
}

/** One blob to copy: from a member of the archive, or made here (a manifest). */
export interface ArchiveBlob extends Descriptor {
  readonly source: { readonly member: TarMember } | { readonly bytes: Uint8Array };
  /** containerd's GC labels: what this blob references. */
  readonly labels: Record<string, string>;
}

/** An image ready to copy: its blobs (children first) and the descriptor to name. */
export interface ArchiveImage {
  readonly target: Descriptor;
  readonly blobs: readonly ArchiveBlob[];
  /** The config digest: Docker's image ID with the graph-driver store, the CRI's image ID. */
  readonly configDigest: string | undefined;
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

async function sha256Member(file: Deno.FsFile, member: TarMember): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of readMember(file, member)) hash.update(chunk);
  return `sha256:${hash.digest("hex")}`;
}

async function readJson(file: Deno.FsFile, member: TarMember): Promise<unknown> {
  return JSON.parse(decoder.decode(await readSmallMember(file, member)));
}

function record(value: unknown): Record<string, unknown> {
  return typeof value === "object" && value !== null ? value as Record<string, unknown> : {};
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item) => typeof item === "string") : [];
}

function descriptor(value: unknown): Descriptor | undefined {
  const { mediaType, digest, size } = record(value);
  if (typeof digest !== "string" || !/^sha256:[0-9a-f]{64}$/.test(digest)) return undefined;
  if (typeof size !== "number") return undefined;
  return { mediaType: typeof mediaType === "string" ? mediaType : "", digest, size };
}

/**
 * The image of a `docker save` archive of one image, indexed by indexTar.
 * Throws an Error naming what is missing when the archive is not one.
 */
export async function readDockerArchive(
  file: Deno.FsFile,
  members: ReadonlyMap<string, TarMember>,
): Promise<ArchiveImage> {
  const layout = members.get("oci-layout");
  const index = members.get("index.json");
  if (layout !== undefined && index !== undefined) return await fromOciLayout(file, members, index);
  const manifest = members.get("manifest.json");
  if (manifest === undefined) {
    throw new Error("the archive has neither index.json nor manifest.json");
  }
  return await fromDockerManifest(file, members, manifest);
}

async function fromDockerManifest(
  file: Deno.FsFile,
  members: ReadonlyMap<string, TarMember>,
  manifestMember: TarMember,
): Promise<ArchiveImage> {
  const entry = record((await readJson(file, manifestMember) as unknown[])[0]);
  const configPath = entry.Config;
  if (typeof configPath !== "string") throw new Error("manifest.json names no config");
  const configMember = resolveMember(members, configPath);
  if (configMember === undefined) throw new Error(`the archive lacks the config ${configPath}`);
  const configBytes = await readSmallMember(file, configMember);
  const config: ArchiveBlob = {
    mediaType: DOCKER_CONFIG,
    digest: sha256(configBytes),
    size: configBytes.length,
    source: { member: configMember },
    labels: {},
  };
  const layers: ArchiveBlob[] = [];
  const digests = new Map<string, string>();
  for (const path of strings(entry.Layers)) {
    const member = resolveMember(members, path);
    if (member === undefined) throw new Error(`the archive lacks the layer ${path}`);
    let digest = digests.get(member.name);
    if (digest === undefined) {
      digest = await sha256Member(file, member);
      digests.set(member.name, digest);
    }
    layers.push({
      mediaType: DOCKER_LAYER,
      digest,
      size: member.size,
      source: { member },
      labels: {},
    });
  }
  const made = legacyManifest(config, layers);
  const manifest: ArchiveBlob = {
    mediaType: made.mediaType,
    digest: made.digest,
    size: made.size,
    source: { bytes: made.bytes },
    labels: made.labels,
  };
  const unique = [...new Map(layers.map((layer) => [layer.digest, layer])).values()];
  return {
    target: { mediaType: manifest.mediaType, digest: manifest.digest, size: manifest.size },
    blobs: [...unique, config, manifest],
    configDigest: config.digest,
  };
}

/**
 * The Docker schema 2 manifest `ctr images import` would make for a legacy
 * archive's config and layers (uncompressed, as they are), with the GC labels
 * that reference them.
 */
export function legacyManifest(
  config: Descriptor,
  layers: readonly Descriptor[],
): Descriptor & { bytes: Uint8Array; labels: Record<string, string> } {
  const plain = (blob: Descriptor) => ({
    mediaType: blob.mediaType,
    digest: blob.digest,
    size: blob.size,
  });
  // Key order as Go marshals the struct: the same image always gives the same digest.
  const bytes = encoder.encode(JSON.stringify({
    schemaVersion: 2,
    mediaType: DOCKER_MANIFEST,
    config: plain(config),
    layers: layers.map(plain),
  }));
  const labels: Record<string, string> = { "containerd.io/gc.ref.content.config": config.digest };
  layers.forEach((layer, i) => labels[`containerd.io/gc.ref.content.l.${i}`] = layer.digest);
  return { mediaType: DOCKER_MANIFEST, digest: sha256(bytes), size: bytes.length, bytes, labels };
}

async function fromOciLayout(
  file: Deno.FsFile,
  members: ReadonlyMap<string, TarMember>,
  indexMember: TarMember,
): Promise<ArchiveImage> {
  const manifests = record(await readJson(file, indexMember)).manifests;
  const target = Array.isArray(manifests) ? descriptor(manifests[0]) : undefined;
  if (target === undefined) throw new Error("index.json names no image");
  const blobs = new Map<string, ArchiveBlob>();
  let configDigest: string | undefined;
  const memberOf = (digest: string) => resolveMember(members, `blobs/${digest.replace(":", "/")}`);

  // Depth first, children before parents; a child the archive lacks (another
  // platform of an index) is referenced but not copied.
  const visit = async (node: Descriptor, depth: number): Promise<void> => {
    if (blobs.has(node.digest) || depth > 4) return;
    const member = memberOf(node.digest);
    if (member === undefined) {
      if (depth === 0) throw new Error(`the archive lacks the image ${node.digest}`);
      return;
    }
    const labels: Record<string, string> = {};
    const isIndex = node.mediaType === OCI_INDEX || node.mediaType === DOCKER_MANIFEST_LIST;
    const isManifest = node.mediaType === OCI_MANIFEST || node.mediaType === DOCKER_MANIFEST;
    if (isIndex || isManifest) {
      const body = record(await readJson(file, member));
      if (isIndex) {
        const children = Array.isArray(body.manifests) ? body.manifests : [];
        for (const [i, child] of children.map(descriptor).entries()) {
          if (child === undefined) continue;
          labels[`containerd.io/gc.ref.content.m.${i}`] = child.digest;
          await visit(child, depth + 1);
        }
      } else {
        const config = descriptor(body.config);
        if (config !== undefined) {
          labels["containerd.io/gc.ref.content.config"] = config.digest;
          configDigest ??= config.digest;
          await visit(config, depth + 1);
        }
        const layers = Array.isArray(body.layers) ? body.layers : [];
        for (const [i, layer] of layers.map(descriptor).entries()) {
          if (layer === undefined) continue;
          labels[`containerd.io/gc.ref.content.l.${i}`] = layer.digest;
          await visit(layer, depth + 1);
        }
      }
    }
    blobs.set(node.digest, { ...node, size: member.size, source: { member }, labels });
  };
  await visit(target, 0);
  return { target, blobs: [...blobs.values()], configDigest };
}

/** A blob's content, in chunks. */
export function blobChunks(file: Deno.FsFile, blob: ArchiveBlob): AsyncIterable<Uint8Array> {
  const source = blob.source;
  if ("bytes" in source) {
    return (async function* () {
      yield source.bytes;
    })();
  }
  return readMember(file, source.member);
}
