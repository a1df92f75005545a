/**
 * A copy from a `docker save` stream to a node's containerd, reading the
 * archive once as it streams (nothing goes to a temporary file: /tmp is RAM
 * on many systems, and an image can be gigabytes).
 *
 * Both layouts keep their JSON (index, manifests, config, manifest.json) and
 * small blobs in memory, at most SMALL_BLOB bytes each and SMALL_TOTAL in
 * all; the graph of what the node needs is only known from them, and Docker
 * writes them last. In the OCI layout (Docker 25+) a blob's digest is its
 * name, so a large blob the node lacks is written while it streams by, and
 * one the node has is skipped unread. In the legacy layout (before 25) a
 * layer's digest is only known once hashed: a large layer is hashed as it
 * passes, checked against the config's diff_ids, and when the node lacks it
 * the save is streamed a second time to send it.
 */
import { createHash } from "node:crypto";
import { concatBytes } from "../util/bytes.ts";
import { CopyTally, type NodeContent, placeImage } from "./blob_copy.ts";
import { DOCKER_CONFIG, DOCKER_LAYER, legacyManifest } from "./docker_archive.ts";
import { dockerSaveFailure } from "./docker_save.ts";
import type { CopyReport } from "./feed.ts";
import {
  descriptorOf,
  type ImageGraph,
  imageGraph,
  type NeededBlob,
  type Platform,
} from "./image_graph.ts";
import { clean } from "./tar_index.ts";
import { type StreamedMember, tarStream, TrailingDataError } from "./tar_stream.ts";

/** Members up to this size are kept in memory. */
export const SMALL_BLOB = 1 << 20;
/** At most this much is kept in memory per copy. */
export const SMALL_TOTAL = 32 << 20;

/** Opens the save stream of the image (again, for a second pass). */
export type OpenSave = (signal: AbortSignal) => Promise<ReadableStream<Uint8Array>>;

const decoder = new TextDecoder();

function sha256(bytes: Uint8Array): string {
  return `sha256:${createHash("sha256").update(bytes).digest("hex")}`;
}

function blobDigest(name: string): string | undefined {
  const match = name.match(/^blobs\/sha256\/([0-9a-f]{64})$/);
  return match ? `sha256:${match[1]}` : undefined;
}

/** What one pass over the archive kept and did. */
class Pass {
  /** Small members by name. */
  readonly small = new Map<string, Uint8Array>();
  #kept = 0;
  /** Symlinks by name (legacy layers shared by two images point at one copy). */
  readonly links = new Map<string, string>();
  /** Digests of large legacy layers, by member name; sizes of every member. */
  readonly hashed = new Map<string, string>();
  readonly sizes = new Map<string, number>();
  /** Blobs written to the node as they streamed by. */
  readonly sent = new Set<string>();

  keep(member: StreamedMember): boolean {
    if (member.size > SMALL_BLOB || this.#kept + member.size > SMALL_TOTAL) return false;
    this.#kept += member.size;
    return true;
  }

  /** The member `name` names, following symlinks. */
  resolve(name: string): string {
    let current = clean(name);
    for (let hops = 0; this.links.has(current) && hops < 10; hops++) {
      const link = this.links.get(current)!;
      const dir = current.includes("/") ? current.slice(0, current.lastIndexOf("/")) : "";
      const parts: string[] = [];
      for (const part of `${dir}/${link}`.split("/")) {
        if (part === "" || part === ".") continue;
        if (part === "..") parts.pop();
        else parts.push(part);
      }
      current = parts.join("/");
    }
    return current;
  }
}

async function readAll(member: StreamedMember): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const chunk of member.chunks()) parts.push(chunk.slice());
  return concatBytes(parts);
}

/**
 * One pass over the archive: keeps the small members, sends the large OCI
 * blobs the node lacks (or, with `only`, the legacy layers named there),
 * hashes the large legacy layers.
 */
async function readArchive(
  stream: ReadableStream<Uint8Array>,
  node: NodeContent,
  lease: string,
  only: ReadonlyMap<string, string> | undefined,
  signal: AbortSignal,
): Promise<Pass> {
  const pass = new Pass();
  for await (const member of tarStream(stream)) {
    signal.throwIfAborted();
    if (member.type === "symlink") pass.links.set(member.name, member.linkname);
    if (member.type !== "file") continue;
    pass.sizes.set(member.name, member.size);
    if (only !== undefined) {
      const digest = only.get(member.name);
      if (digest === undefined) continue;
      await node.writeContent(
        { digest, data: { size: member.size, chunks: () => member.chunks() } },
        lease,
      );
      pass.sent.add(digest);
      continue;
    }
    if (pass.keep(member)) {
      pass.small.set(member.name, await readAll(member));
      continue;
    }
    const digest = blobDigest(member.name);
    if (digest !== undefined) {
      // Written now whether or not the image needs it (another platform's layer): the graph
      // is only known at the end. Unneeded blobs go with the lease.
      if (await node.contentInfo(digest) === undefined) {
        await node.writeContent(
          { digest, data: { size: member.size, chunks: () => member.chunks() } },
          lease,
        );
        pass.sent.add(digest);
      }
      continue;
    }
    if (member.name.endsWith("/layer.tar")) {
      const hash = createHash("sha256");
      for await (const chunk of member.chunks()) hash.update(chunk);
      pass.hashed.set(member.name, `sha256:${hash.digest("hex")}`);
    }
  }
  return pass;
}

function json(bytes: Uint8Array | undefined, what: string): Record<string, unknown> {
  if (bytes === undefined) throw new Error(`the archive lacks ${what}`);
  try {
    const value = JSON.parse(decoder.decode(bytes));
    return typeof value === "object" && value !== null ? value : {};
  } catch {
    throw new Error(`${what} in the archive is not JSON`);
  }
}

/** The legacy layout's graph: its config, its layers checked against diff_ids, a made manifest. */
function legacyGraph(pass: Pass): { graph: ImageGraph; bytes: Map<string, Uint8Array> } {
  const entries = JSON.parse(decoder.decode(pass.small.get("manifest.json")!)) as unknown;
  const entry = (Array.isArray(entries) ? entries[0] : undefined) as Record<string, unknown>;
  if (typeof entry?.Config !== "string") throw new Error("manifest.json names no config");
  const configBytes = pass.small.get(pass.resolve(entry.Config));
  const config = json(configBytes, `the config ${entry.Config}`);
  const diffIds = (config.rootfs as { diff_ids?: unknown } | undefined)?.diff_ids;
  const paths = Array.isArray(entry.Layers) ? entry.Layers : [];
  if (!Array.isArray(diffIds) || diffIds.length !== paths.length) {
    throw new Error(
      `the config names ${Array.isArray(diffIds) ? diffIds.length : "no"} layers (diff_ids), ` +
        `manifest.json ${paths.length}`,
    );
  }
  const bytes = new Map<string, Uint8Array>();
  const layers = paths.map((path: unknown, i: number) => {
    const name = pass.resolve(String(path));
    const size = pass.sizes.get(name);
    const small = pass.small.get(name);
    const digest = small !== undefined ? sha256(small) : pass.hashed.get(name);
    if (size === undefined || digest === undefined) {
      throw new Error(`the archive lacks the layer ${String(path)}`);
    }
    if (digest !== diffIds[i]) {
      throw new Error(
        `the layer ${String(path)} of the archive is ${digest}, but the config says layer ${i} ` +
          `is ${String(diffIds[i])}`,
      );
    }
    if (small !== undefined) bytes.set(digest, small);
    return { mediaType: DOCKER_LAYER, digest, size };
  });
  const configDescriptor = {
    mediaType: DOCKER_CONFIG,
    digest: sha256(configBytes!),
    size: configBytes!.length,
  };
  bytes.set(configDescriptor.digest, configBytes!);
  const made = legacyManifest(configDescriptor, layers);
  bytes.set(made.digest, made.bytes);
  const target = { mediaType: made.mediaType, digest: made.digest, size: made.size };
  const blobs: NeededBlob[] = [
    ...new Map(layers.map((layer) => [layer.digest, { ...layer, role: "layer" as const }]))
      .values(),
  ].map((layer) => ({ ...layer, labels: {} }));
  blobs.push({ ...configDescriptor, role: "config", labels: {} });
  blobs.push({ ...target, role: "manifest", labels: made.labels });
  return { graph: { target, blobs, configDigest: configDescriptor.digest }, bytes };
}

/**
 * Copies image `name` from its save (`open`) to the node, as the node's
 * `platform` needs it, under `lease`. Throws naming a needed blob that is
 * neither in the save nor on the node, Docker's own error when the save
 * failed partway, or what is wrong with the archive.
 */
export async function copyFromSave(
  open: OpenSave,
  node: NodeContent,
  lease: string,
  name: string,
  platform: Platform,
  signal: AbortSignal,
): Promise<CopyReport & { graph: ImageGraph }> {
  const tally = new CopyTally(node);
  const where = `the save of ${name}`;
  const pass = await readPass(open, node, lease, undefined, signal);
  let graph: ImageGraph;
  let bytes: (digest: string) => Uint8Array | undefined;
  if (pass.small.has("index.json") && pass.small.has("oci-layout")) {
    const manifests = json(pass.small.get("index.json"), "index.json").manifests;
    const target = Array.isArray(manifests) ? descriptorOf(manifests[0]) : undefined;
    if (target === undefined) throw new Error("index.json names no image");
    bytes = (digest) => pass.small.get(`blobs/${digest.replace(":", "/")}`);
    graph = await imageGraph(
      target,
      platform,
      async (digest) => bytes(digest) ?? await node.readContent(digest),
      where,
    );
  } else if (pass.small.has("manifest.json")) {
    const legacy = legacyGraph(pass);
    graph = legacy.graph;
    bytes = (digest) => legacy.bytes.get(digest);
    // Large layers the node lacks: a second pass sends them.
    const wanted = new Map<string, string>();
    for (const [member, digest] of pass.hashed) {
      if (!graph.blobs.some((blob) => blob.digest === digest)) continue;
      if (await node.contentInfo(digest) === undefined) wanted.set(member, digest);
    }
    if (wanted.size > 0) {
      const second = await readPass(open, node, lease, wanted, signal);
      for (const digest of second.sent) pass.sent.add(digest);
    }
  } else {
    throw new Error("the archive has neither index.json nor manifest.json");
  }
  const source = (blob: NeededBlob) => Promise.resolve(bytes(blob.digest));
  await placeImage(node, lease, name, graph, pass.sent, source, where, tally, signal);
  return { ...tally.report(), graph };
}

/** One pass over a fresh save stream; Docker's error when it stopped partway. */
async function readPass(
  open: OpenSave,
  node: NodeContent,
  lease: string,
  only: ReadonlyMap<string, string> | undefined,
  signal: AbortSignal,
): Promise<Pass> {
  const stream = await open(signal);
  try {
    return await readArchive(stream, node, lease, only, signal);
  } catch (error) {
    if (error instanceof TrailingDataError) {
      const said = dockerSaveFailure(error.trailing);
      if (said !== undefined) throw new Error(`Docker stopped the save partway: ${said}`);
    }
    throw error;
  }
}
