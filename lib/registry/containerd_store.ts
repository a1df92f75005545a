/**
 * containerd's content service as ContentStore (image_source.ts): image
 * targets, small blobs in full, and any blob streamed in the chunks
 * Content/Read sends, so a layer never has to fit in memory.
 */
import { ContainerdWriter } from "../engine/containerd_writer.ts";
import { containerdError } from "../engine/containerd_client.ts";
import { ContentRead } from "../engine/containerd_proto.ts";
import type { Descriptor } from "../bridge/docker_archive.ts";
import type { ContentStore } from "./image_source.ts";

/** How long streaming one blob may take. */
const READ_TIMEOUT_MS = 600_000;

export class ContainerdContentStore extends ContainerdWriter implements ContentStore {
  async target(name: string): Promise<Descriptor | undefined> {
    const target = (await this.getImage(name))?.target;
    if (!target) return undefined;
    return { mediaType: target.mediaType, digest: target.digest, size: Number(target.size) };
  }

  read(digest: string): Promise<Uint8Array | undefined> {
    return this.readContent(digest);
  }

  async size(digest: string): Promise<number | undefined> {
    return (await this.contentInfo(digest))?.size;
  }

  async *chunks(digest: string): AsyncGenerator<Uint8Array> {
    const call = this.grpc.makeServerStreamRequest(
      ContentRead.path,
      ContentRead.requestSerialize,
      ContentRead.responseDeserialize,
      { digest, offset: 0, size: 0 },
      this.metadata(),
      { deadline: Date.now() + READ_TIMEOUT_MS },
    );
    try {
      for await (const reply of call as AsyncIterable<{ data: Uint8Array }>) yield reply.data;
    } catch (error) {
      throw containerdError(this.socket, "Content/Read", error, this.socketFlag);
    } finally {
      call.cancel();
    }
  }
}
