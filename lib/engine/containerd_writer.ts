/**
 * The writing side of the containerd client, for what install and the
 * Docker-to-containerd bridge put into a node's containerd: leases, content
 * blobs (streamed, so a layer never has to fit in memory), content Info to
 * skip what is there, and image records. Watching needs none of it, so it
 * lives apart from ContainerdClient, on the same connection code.
 */
import * as grpc from "@grpc/grpc-js";
import { ContainerdClient, containerdError, isServiceError } from "./containerd_client.ts";
import {
  ContentInfo,
  ContentRead,
  ContentWrite,
  type ImageInput,
  ImagesCreate,
  ImagesUpdate,
  LeasesAddResource,
  LeasesCreate,
  LeasesDelete,
  WriteAction,
  type WriteContentRequest,
  type WriteContentResponse,
} from "./containerd_proto.ts";

/** The size of one Content/Write message: well below containerd's 16 MiB message limit. */
const WRITE_CHUNK = 1 << 20;
/** How long writing one blob may take. */
const WRITE_TIMEOUT_MS = 300_000;

/** A blob to write: its bytes in memory, or a size and a way to read them in chunks. */
export interface BlobInput {
  readonly digest: string;
  readonly data: Uint8Array | { readonly size: number; chunks(): AsyncIterable<Uint8Array> };
  /** Labels containerd keeps on the blob; `containerd.io/gc.ref.*` tell GC what it references. */
  readonly labels?: Record<string, string>;
}

/** What content Info says about a blob. */
export interface ContentInfoResult {
  readonly digest: string;
  readonly size: number;
  readonly labels: Record<string, string>;
}

/** Cuts a stream of chunks of any size into chunks of at most `size` bytes. */
async function* rechunk(
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
  size: number,
): AsyncGenerator<Uint8Array> {
  for await (const chunk of chunks) {
    for (let at = 0; at < chunk.length; at += size) yield chunk.subarray(at, at + size);
  }
}

function notFound(error: unknown): boolean {
  const cause = error instanceof Error ? error.cause : undefined;
  return isServiceError(cause) && cause.code === grpc.status.NOT_FOUND;
}

/** A ContainerdClient that can also write. */
export class ContainerdWriter extends ContainerdClient {
  #bytesWritten = 0;

  /** Blob bytes sent by writeContent since this writer was made (for tests and logs). */
  get bytesWritten(): number {
    return this.#bytesWritten;
  }

  /**
   * Takes a lease: content written under it (writeContent's `lease`)
   * survives garbage collection until the lease is deleted or `expiresAt`
   * passes, so a crash in between leaves nothing behind for long.
   */
  async createLease(expiresAt: Date): Promise<string> {
    const id = `veryfreshpod-${crypto.randomUUID()}`;
    const labels = { "containerd.io/gc.expire": expiresAt.toISOString() };
    await this.unary(LeasesCreate, { id, labels }, "Leases/Create");
    return id;
  }

  async deleteLease(id: string): Promise<void> {
    await this.unary(LeasesDelete, { id, sync: false }, "Leases/Delete");
  }

  /**
   * Adds a blob the store already has to `lease`, so that garbage collection
   * cannot take it between the check and the image record that references it.
   */
  async leaseContent(lease: string, digest: string): Promise<void> {
    const request = { id: lease, resource: { id: digest, type: "content" } };
    await this.unary(LeasesAddResource, request, "Leases/AddResource");
  }

  /** What the content store knows of `digest`, or undefined when it lacks it. */
  async contentInfo(digest: string): Promise<ContentInfoResult | undefined> {
    try {
      const info = (await this.unary(ContentInfo, { digest }, "Content/Info")).info;
      if (info === null) return undefined;
      return { digest: info.digest, size: Number(info.size), labels: info.labels };
    } catch (error) {
      if (notFound(error)) return undefined;
      throw error;
    }
  }

  /**
   * The content of a small blob (a manifest, a config), or undefined when the
   * store lacks it; more than `limit` bytes is an error.
   */
  async readContent(digest: string, limit = 4 << 20): Promise<Uint8Array | undefined> {
    const info = await this.contentInfo(digest);
    if (info === undefined) return undefined;
    if (info.size > limit) throw new Error(`${digest} is ${info.size} bytes, more than ${limit}`);
    const call = this.grpc.makeServerStreamRequest(
      ContentRead.path,
      ContentRead.requestSerialize,
      ContentRead.responseDeserialize,
      { digest, offset: 0, size: 0 },
      this.metadata(),
      { deadline: Date.now() + 30_000 },
    );
    const out = new Uint8Array(info.size);
    let filled = 0;
    try {
      for await (const reply of call as AsyncIterable<{ offset: string; data: Uint8Array }>) {
        const at = Number(reply.offset);
        if (at + reply.data.length > out.length) throw new Error(`${digest} grew while read`);
        out.set(reply.data, at);
        filled += reply.data.length;
      }
    } catch (error) {
      if (isServiceError(error) && error.code === grpc.status.NOT_FOUND) return undefined;
      throw containerdError(this.socket, "Content/Read", error, this.socketFlag);
    }
    if (filled !== out.length) {
      throw containerdError(this.socket, "Content/Read", `read ${filled} of ${out.length} bytes`);
    }
    return out;
  }

  /**
   * Writes one blob into the content store under `lease`, committed with
   * `labels` and checked against `digest`; "exists" when the store has it
   * already (containerd then adds it to the lease).
   */
  async writeContent(blob: BlobInput, lease: string): Promise<"written" | "exists"> {
    const call = this.grpc.makeBidiStreamRequest(
      ContentWrite.path,
      ContentWrite.requestSerialize,
      ContentWrite.responseDeserialize,
      this.metadata(lease),
      { deadline: Date.now() + WRITE_TIMEOUT_MS },
    );
    // The responses below surface every error; without a listener, the error the
    // cancel in `finally` may raise would be thrown as an unhandled 'error' event.
    call.on("error", () => {});
    const responses = call[Symbol.asyncIterator]() as AsyncIterator<WriteContentResponse>;
    const data = blob.data;
    const total = data instanceof Uint8Array ? data.length : data.size;
    // Every message names the ref, size and digest: the first one opens the ingest.
    const base = { ref: `veryfreshpod-${blob.digest}`, total, expected: blob.digest };
    const send = async (request: WriteContentRequest) => {
      call.write(request);
      const next = await responses.next();
      if (next.done) throw new Error("the daemon ended Content/Write early");
      return next.value;
    };
    const chunks = data instanceof Uint8Array
      ? rechunk([data], WRITE_CHUNK)
      : rechunk(data.chunks(), WRITE_CHUNK);
    try {
      let offset = 0;
      for await (const chunk of chunks) {
        const reply = await send({ ...base, action: WriteAction.WRITE, offset, data: chunk });
        offset += chunk.length;
        this.#bytesWritten += chunk.length;
        if (Number(reply.offset) !== offset) {
          throw new Error(`wrote up to ${offset}, the daemon has ${reply.offset}`);
        }
      }
      if (offset !== total) throw new Error(`read ${offset} bytes of ${total}`);
      const commit = { ...base, action: WriteAction.COMMIT, offset, labels: blob.labels ?? {} };
      const reply = await send(commit);
      if (reply.digest !== blob.digest) {
        throw new Error(`committed ${blob.digest}, the daemon computed ${reply.digest}`);
      }
      return "written";
    } catch (error) {
      if (isServiceError(error) && error.code === grpc.status.ALREADY_EXISTS) return "exists";
      throw containerdError(this.socket, "Content/Write", error, this.socketFlag);
    } finally {
      call.end();
      call.cancel();
    }
  }

  /** Creates the image record `image.name`, or replaces it when it exists. */
  async putImage(image: ImageInput): Promise<"created" | "updated"> {
    try {
      await this.unary(ImagesCreate, { image }, "Images/Create");
      return "created";
    } catch (error) {
      const cause = error instanceof Error ? error.cause : undefined;
      if (!isServiceError(cause) || cause.code !== grpc.status.ALREADY_EXISTS) throw error;
    }
    await this.unary(ImagesUpdate, { image }, "Images/Update");
    return "updated";
  }
}
