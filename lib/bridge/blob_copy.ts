/**
 * The node's side of a copy through its containerd socket, whatever the
 * source: under a lease, every blob the image needs (image_graph.ts) is
 * either on the node already (then leased, so GC cannot take it before the
 * image record exists), or written from the source, or the copy fails
 * naming it. Only then is the image record named.
 */
import type { BlobInput, ContainerdWriter } from "../engine/containerd_writer.ts";
import type { CopyReport } from "./feed.ts";
import { type ImageGraph, MissingBlobError, type NeededBlob } from "./image_graph.ts";

/** What a copy needs of the node's containerd; ContainerdWriter has it all. */
export type NodeContent = Pick<
  ContainerdWriter,
  | "contentInfo"
  | "leaseContent"
  | "writeContent"
  | "putImage"
  | "readContent"
  | "createLease"
  | "deleteLease"
  | "bytesWritten"
>;

/**
 * The CRI plugin adds this label to the images it loads; set from the start,
 * the record stays as written (see install/containerd_image.ts).
 */
const CRI_MANAGED_LABEL = "io.cri-containerd.image";
/** How long a copy's lease lasts if veryfreshpod dies before releasing it. */
const LEASE_MS = 60 * 60 * 1000;

/** A blob's content as the source gives it: bytes, or a size and a way to stream them. */
export type SourceBlob = BlobInput["data"];

/** Counts what a copy did. */
export class CopyTally {
  written = 0;
  skipped = 0;
  readonly #node: NodeContent;
  readonly #before: number;
  constructor(node: NodeContent) {
    this.#node = node;
    this.#before = node.bytesWritten;
  }
  report(): CopyReport {
    return {
      written: this.written,
      skipped: this.skipped,
      bytes: this.#node.bytesWritten - this.#before,
    };
  }
}

/** Runs `copy` under a fresh lease, deleted afterwards whatever happens. */
export async function underLease<T>(
  node: NodeContent,
  copy: (lease: string) => Promise<T>,
): Promise<T> {
  const lease = await node.createLease(new Date(Date.now() + LEASE_MS));
  try {
    return await copy(lease);
  } finally {
    // A lease left behind only delays GC until it expires; it must not hide the real error.
    await node.deleteLease(lease).catch(() => {});
  }
}

/**
 * Makes every blob of `graph` present on the node, then names the image
 * `name`. Blobs in `sent` were written already (under `lease`); for each
 * other blob the node lacks, `source(blob)` gives its content, or undefined
 * when the source lacks it too: then a MissingBlobError naming `where` and
 * the blob.
 */
export async function placeImage(
  node: NodeContent,
  lease: string,
  name: string,
  graph: ImageGraph,
  sent: ReadonlySet<string>,
  source: (blob: NeededBlob) => Promise<SourceBlob | undefined>,
  where: string,
  tally: CopyTally,
  signal: AbortSignal,
): Promise<void> {
  for (const blob of graph.blobs) {
    signal.throwIfAborted();
    if (sent.has(blob.digest)) {
      tally.written++;
      continue;
    }
    if (await node.contentInfo(blob.digest) !== undefined) {
      await node.leaseContent(lease, blob.digest);
      tally.skipped++;
      continue;
    }
    const data = await source(blob);
    if (data === undefined) {
      throw new MissingBlobError(blob.role, blob.digest, where, true);
    }
    const outcome = await node.writeContent(
      { digest: blob.digest, data, labels: blob.labels },
      lease,
    );
    if (outcome === "written") tally.written++;
    else tally.skipped++;
  }
  await node.putImage({
    name,
    labels: { [CRI_MANAGED_LABEL]: "managed" },
    target: { ...graph.target },
  });
}
