/**
 * An OCI-layout archive for `ctr images import`, written from Docker's own
 * containerd (its image store) instead of a `docker save`: only the blobs
 * the node lacks go in, streamed from Docker's content service, so a rebuild
 * costs the changed blobs rather than the whole image, which the save would
 * produce and send whatever the node holds. The index names the image as
 * Docker's save does (`io.containerd.image.name`), so ctr names it the same.
 */
import type { MobyContent } from "./moby_source.ts";
import { type Descriptor, imageGraph, type Platform } from "./image_graph.ts";
import type { TarFilterTally } from "./tar_filter.ts";

const BLOCK = 512;
const encoder = new TextEncoder();
const OCI_INDEX = "application/vnd.oci.image.index.v1+json";

/** A ustar header for a regular file; `name` is at most 100 bytes. */
export function fileHeader(name: string, size: number): Uint8Array {
  const header = new Uint8Array(BLOCK);
  const put = (at: number, length: number, text: string) =>
    header.set(encoder.encode(text).subarray(0, length), at);
  const octal = (value: number, length: number) => value.toString(8).padStart(length - 1, "0");
  put(0, 100, name);
  put(100, 8, octal(0o644, 8));
  put(108, 8, octal(0, 8));
  put(116, 8, octal(0, 8));
  put(124, 12, octal(size, 12));
  put(136, 12, octal(0, 12));
  put(156, 1, "0");
  put(257, 6, "ustar\0");
  put(263, 2, "00");
  // The checksum is taken with its own field as spaces.
  header.fill(0x20, 148, 156);
  const sum = header.reduce((total, byte) => total + byte, 0);
  put(148, 8, `${sum.toString(8).padStart(6, "0")}\0 `);
  return header;
}

function padding(size: number): Uint8Array {
  return new Uint8Array((BLOCK - (size % BLOCK)) % BLOCK);
}

/**
 * The blobs of `name` for `platform` that the node lacks, as Docker's
 * containerd holds them; undefined when it does not hold them all (then the
 * save must serve).
 */
export async function mobyBlobs(
  moby: MobyContent,
  name: string,
  platform: Platform,
  held: ReadonlySet<string>,
): Promise<{ target: Descriptor; blobs: Descriptor[]; held: number } | undefined> {
  const image = (await moby.getImage(name))?.target;
  if (!image) return undefined;
  const root = { mediaType: image.mediaType, digest: image.digest, size: Number(image.size) };
  let graph;
  try {
    graph = await imageGraph(root, platform, (digest) => moby.readContent(digest), "moby");
  } catch {
    return undefined;
  }
  // As the save of one platform does: the node gets the platform's manifest, not the index
  // around it (whose other platforms it would not hold).
  const manifests = graph.blobs.filter((blob) => blob.role === "manifest");
  if (manifests.length !== 1) return undefined;
  const { role: _role, labels: _labels, ...target } = manifests[0]!;
  const blobs: Descriptor[] = [];
  for (const blob of graph.blobs.filter((b) => b.role !== "index")) {
    if (held.has(blob.digest)) continue;
    const info = await moby.contentInfo(blob.digest);
    if (info === undefined) return undefined;
    blobs.push({ mediaType: blob.mediaType, digest: blob.digest, size: info.size });
  }
  const needed = graph.blobs.filter((b) => b.role !== "index").length;
  return { target, blobs, held: needed - blobs.length };
}

/** The archive: `oci-layout`, the blobs, then `index.json` naming `name`. */
export async function* mobyArchive(
  moby: MobyContent,
  name: string,
  image: { target: Descriptor; blobs: readonly Descriptor[] },
  tally: TarFilterTally,
): AsyncGenerator<Uint8Array> {
  const small = function* (path: string, bytes: Uint8Array) {
    yield fileHeader(path, bytes.length);
    yield bytes;
    yield padding(bytes.length);
  };
  yield* small("oci-layout", encoder.encode('{"imageLayoutVersion":"1.0.0"}'));
  for (const blob of image.blobs) {
    yield fileHeader(`blobs/sha256/${blob.digest.slice("sha256:".length)}`, blob.size);
    let sent = 0;
    for await (const chunk of moby.chunks(blob.digest)) {
      sent += chunk.length;
      yield chunk;
    }
    if (sent !== blob.size) throw new Error(`${blob.digest} in Docker's containerd changed size`);
    yield padding(blob.size);
    tally.kept++;
    tally.keptBytes += blob.size;
  }
  const tag = name.slice(name.lastIndexOf(":") + 1);
  const index = {
    schemaVersion: 2,
    mediaType: OCI_INDEX,
    manifests: [{
      ...image.target,
      annotations: { "io.containerd.image.name": name, "org.opencontainers.image.ref.name": tag },
    }],
  };
  yield* small("index.json", encoder.encode(JSON.stringify(index)));
  yield new Uint8Array(2 * BLOCK);
}
