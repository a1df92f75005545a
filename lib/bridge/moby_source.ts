/**
 * Docker's own containerd as the source of a copy: with the containerd image
 * store (Docker 29's default), Docker keeps its images in the containerd it
 * runs, namespace `moby`, so the blobs a node lacks can be read straight
 * from its content service, and nothing else is read at all (a `docker save`
 * streams the whole image, whatever the node has). Where that containerd is
 * and which store Docker uses comes from `GET /info`; when Docker uses the
 * classic store, is not on this machine, or its socket does not answer (not
 * root), the copy goes through the save instead.
 */
import { errorMessage } from "../util/errors.ts";
import { logger } from "../util/log.ts";
import type { DockerClient } from "../engine/docker_client.ts";
import { parseStoreInfo } from "../engine/docker_image_store.ts";
// The registry's pusher reads blobs from containerd the same way: one streaming reader for both.
import { ContainerdContentStore as MobyContent } from "../registry/containerd_store.ts";
import { CopyTally, type NodeContent, placeImage } from "./blob_copy.ts";
import type { CopyReport } from "./feed.ts";
import { type ImageGraph, imageGraph, type NeededBlob, type Platform } from "./image_graph.ts";

const log = logger("bridge");

/**
 * Docker's containerd, found once: `reader()` gives it, or undefined when
 * copies must go through the save.
 */
export { MobyContent };

export class MobySource {
  readonly #docker: DockerClient;
  readonly #connect: (socket: string, namespace: string) => MobyContent;
  #found: Promise<MobyContent | undefined> | undefined;

  constructor(
    docker: DockerClient,
    connect = (socket: string, namespace: string) => new MobyContent(socket, namespace),
  ) {
    this.#docker = docker;
    this.#connect = connect;
  }

  reader(): Promise<MobyContent | undefined> {
    this.#found ??= this.#find();
    return this.#found;
  }

  async #find(): Promise<MobyContent | undefined> {
    // A socket path only means something for a Docker on this machine.
    if (this.#docker.host.transport !== "unix") return undefined;
    try {
      const info = parseStoreInfo(await this.#docker.json("/info"));
      if (!info.containerdStore || info.socket === undefined) return undefined;
      const where = { socket: info.socket, namespace: info.namespace };
      const client = this.#connect(where.socket, where.namespace);
      try {
        await client.version();
      } catch (error) {
        client.close();
        log.info(
          "Docker keeps its images in containerd ({socket}), which veryfreshpod cannot reach " +
            "({error}); images are copied from `docker save` instead",
          { socket: where.socket, error: errorMessage(error) },
        );
        return undefined;
      }
      log.debug("Reading images from Docker's containerd {socket}, namespace {namespace}", where);
      return client;
    } catch (error) {
      log.debug("Cannot tell where Docker keeps its images: {error}", {
        error: errorMessage(error),
      });
      return undefined;
    }
  }

  close(): void {
    this.#found?.then((client) => client?.close()).catch(() => {});
  }
}

/**
 * Copies image `name` from Docker's containerd to the node, the blobs of the
 * node's `platform` that the node lacks, under `lease`. Undefined when
 * Docker's containerd has no image of that name (then the save may).
 */
export async function copyFromMoby(
  moby: MobyContent,
  node: NodeContent,
  lease: string,
  name: string,
  platform: Platform,
  signal: AbortSignal,
): Promise<(CopyReport & { graph: ImageGraph }) | undefined> {
  const target = (await moby.getImage(name))?.target;
  if (!target) return undefined;
  const tally = new CopyTally(node);
  const where = `Docker's containerd (namespace ${moby.namespace})`;
  const descriptor = {
    mediaType: target.mediaType,
    digest: target.digest,
    size: Number(target.size),
  };
  const graph = await imageGraph(
    descriptor,
    platform,
    async (digest) => await moby.readContent(digest) ?? await node.readContent(digest),
    where,
  );
  const source = async (blob: NeededBlob) => {
    const info = await moby.contentInfo(blob.digest);
    if (info === undefined) return undefined;
    return { size: info.size, chunks: () => moby.chunks(blob.digest) };
  };
  await placeImage(node, lease, name, graph, new Set(), source, where, tally, signal);
  return { ...tally.report(), graph };
}
