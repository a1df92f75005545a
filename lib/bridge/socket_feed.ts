/**
 * A node whose containerd socket is on this host (k3s, a plain containerd
 * node): the image is saved from Docker into a temporary file, and only the
 * blobs the node lacks (checked with content Info) are written through the
 * content service, under a lease, with the GC labels that keep them; then the
 * image record names the target. A rebuild that changes one layer sends that
 * layer, the config and the manifest.
 */
import type { DockerClient } from "../engine/docker_client.ts";
import type { ContainerdWriter } from "../engine/containerd_writer.ts";
import { indexTar } from "./tar_index.ts";
import { blobChunks, readDockerArchive } from "./docker_archive.ts";
import { saveImageToFile } from "./docker_save.ts";
import { type BridgeImage, type CopyReport, holdsConfig, type NodeFeed } from "./feed.ts";

/**
 * The CRI plugin adds this label to the images it loads; set from the start,
 * the record stays as written (see install/containerd_image.ts).
 */
const CRI_MANAGED_LABEL = "io.cri-containerd.image";
/** How long a copy's lease lasts if veryfreshpod dies before releasing it. */
const LEASE_MS = 60 * 60 * 1000;

/** Feeds the node(s) behind one containerd socket. */
export class SocketFeed implements NodeFeed {
  readonly nodes: readonly string[];
  readonly how: string;
  readonly #docker: DockerClient;
  readonly #writer: ContainerdWriter;

  constructor(nodes: readonly string[], docker: DockerClient, writer: ContainerdWriter) {
    this.nodes = nodes;
    this.how = `through the containerd socket ${writer.socket}`;
    this.#docker = docker;
    this.#writer = writer;
  }

  /** Bytes of blob content sent so far (tests count them). */
  get bytesWritten(): number {
    return this.#writer.bytesWritten;
  }

  async has(image: BridgeImage): Promise<boolean> {
    const target = (await this.#writer.getImage(image.name))?.target;
    if (!target) return false;
    if (target.digest === image.id) return true;
    const read = (digest: string) => this.#writer.readContent(digest);
    const bytes = await read(target.digest);
    return bytes !== undefined && await holdsConfig(target.mediaType, bytes, image.id, read);
  }

  async copy(image: BridgeImage, signal: AbortSignal): Promise<CopyReport> {
    const dir = await Deno.makeTempDir({ prefix: "veryfreshpod-bridge-" });
    const writer = this.#writer;
    try {
      const path = `${dir}/image.tar`;
      await saveImageToFile(this.#docker, image.name, path, signal);
      using file = await Deno.open(path, { read: true });
      const archive = await readDockerArchive(file, await indexTar(file));
      const before = writer.bytesWritten;
      let written = 0;
      let skipped = 0;
      const lease = await writer.createLease(new Date(Date.now() + LEASE_MS));
      try {
        for (const blob of archive.blobs) {
          signal.throwIfAborted();
          if (await writer.contentInfo(blob.digest) !== undefined) {
            // Held by the lease until the record references it.
            await writer.leaseContent(lease, blob.digest);
            skipped++;
            continue;
          }
          const data = { size: blob.size, chunks: () => blobChunks(file, blob) };
          const outcome = await writer.writeContent(
            { digest: blob.digest, data, labels: blob.labels },
            lease,
          );
          if (outcome === "written") written++;
          else skipped++;
        }
        await writer.putImage({
          name: image.name,
          labels: { [CRI_MANAGED_LABEL]: "managed" },
          target: { ...archive.target },
        });
      } finally {
        // A lease left behind only delays GC until it expires; it must not hide the real error.
        await writer.deleteLease(lease).catch(() => {});
      }
      return { written, skipped, bytes: writer.bytesWritten - before };
    } finally {
      await Deno.remove(dir, { recursive: true }).catch(() => {});
    }
  }

  close(): void {
    this.#writer.close();
  }
}
