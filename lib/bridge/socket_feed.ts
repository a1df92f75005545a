/**
 * A node whose containerd socket is on this host (k3s, a plain containerd
 * node): only the blobs the node lacks (checked with content Info) are
 * written through the content service, under a lease, with the GC labels
 * that keep them; then the image record names the target. They are read
 * from Docker's own containerd when Docker keeps its images there
 * (moby_source.ts), else from `docker save` as it streams (save_copy.ts). A
 * rebuild that changes one layer sends that layer, the config and the
 * manifest, and with Docker's containerd reads no more than that either.
 */
import type { DockerClient } from "../engine/docker_client.ts";
import type { ContainerdWriter } from "../engine/containerd_writer.ts";
import { configDigest } from "../engine/config_digest.ts";
import { underLease } from "./blob_copy.ts";
import { saveImageStream } from "./docker_save.ts";
import { type BridgeImage, type CopyReport, holdsConfig, type NodeFeed } from "./feed.ts";
import { hostPlatform, type Platform } from "./image_graph.ts";
import { copyFromMoby, MobySource } from "./moby_source.ts";
import { copyFromSave } from "./save_copy.ts";

/** Feeds the node(s) behind one containerd socket. */
export class SocketFeed implements NodeFeed {
  readonly nodes: readonly string[];
  readonly how: string;
  readonly #docker: DockerClient;
  readonly #writer: ContainerdWriter;
  readonly #platform: Platform;
  readonly #moby: MobySource;
  /** Where the last copy read from: "Docker's containerd" or "docker save" (tests, logs). */
  lastSource: "containerd" | "save" | undefined;

  /** `platform` is the nodes' (this machine's by default: the socket is here). */
  constructor(
    nodes: readonly string[],
    docker: DockerClient,
    writer: ContainerdWriter,
    platform: Platform = hostPlatform(),
    moby: MobySource = new MobySource(docker),
  ) {
    this.nodes = nodes;
    this.how = `through the containerd socket ${writer.socket}`;
    this.#docker = docker;
    this.#writer = writer;
    this.#platform = platform;
    this.#moby = moby;
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
    return bytes !== undefined &&
      await holdsConfig(target.mediaType, bytes, image.configId ?? image.id, read);
  }

  async configOf(image: BridgeImage): Promise<string | undefined> {
    const target = (await this.#writer.getImage(image.name))?.target;
    if (!target) return undefined;
    return await configDigest((d) => this.#writer.readContent(d), target.digest, this.#platform);
  }

  copy(image: BridgeImage, signal: AbortSignal): Promise<CopyReport> {
    const node = this.#writer;
    return underLease(node, async (lease) => {
      const moby = await this.#moby.reader();
      if (moby !== undefined) {
        const copied = await copyFromMoby(moby, node, lease, image.name, this.#platform, signal);
        if (copied !== undefined) {
          this.lastSource = "containerd";
          return { ...copied, source: "Docker's containerd" };
        }
      }
      const open = (signal: AbortSignal) =>
        saveImageStream(this.#docker, image.name, signal, this.#platform);
      const copied = await copyFromSave(open, node, lease, image.name, this.#platform, signal);
      this.lastSource = "save";
      return { ...copied, source: "docker save" };
    });
  }

  close(): void {
    this.#moby.close();
    this.#writer.close();
  }
}
