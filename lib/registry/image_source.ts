/**
 * An engine's image as the blobs a push sends: every blob children first
 * (layers and config, then the manifests that name them), the target (the
 * manifest or index the image is) last. Two sources: Docker, through its
 * `docker save` archive (either store; docker_archive.ts reads both
 * layouts), and containerd, through its content service.
 */
import type { DockerClient } from "../engine/docker_client.ts";
import { indexTar } from "../bridge/tar_index.ts";
import { blobChunks, type Descriptor, readDockerArchive } from "../bridge/docker_archive.ts";
import { saveImageToFile } from "../bridge/docker_save.ts";
import { INDEX_TYPES, MANIFEST_TYPES } from "../bridge/feed.ts";

/** One blob of an image, readable as often as needed. */
export interface SourceBlob extends Descriptor {
  chunks(): AsyncIterable<Uint8Array>;
}

/** An image opened for pushing; `close` releases what opening took (a temporary file). */
export interface SourceImage {
  readonly target: Descriptor;
  /** Children first, the target last. */
  readonly blobs: readonly SourceBlob[];
  /** The config digest, when known (Docker's image ID on its classic store). */
  readonly configDigest?: string | undefined;
  close(): Promise<void>;
}

/** Where images to push come from: the engine the builds land in. */
export interface ImageSource {
  /** Opens the image the engine names `name` (a normalised reference). */
  open(name: string, signal: AbortSignal): Promise<SourceImage>;
  /** Releases a connection of its own (a gRPC channel), if it has one. */
  close?(): void;
}

/** True for a manifest or an index (they go to `manifests/`, not `blobs/`). */
export function isManifest(mediaType: string): boolean {
  return MANIFEST_TYPES.includes(mediaType) || INDEX_TYPES.includes(mediaType);
}

/** Docker, through `docker save` into a temporary file. */
export class DockerImageSource implements ImageSource {
  constructor(readonly docker: DockerClient) {}

  async open(name: string, signal: AbortSignal): Promise<SourceImage> {
    const dir = await Deno.makeTempDir({ prefix: "veryfreshpod-push-" });
    const remove = () => Deno.remove(dir, { recursive: true }).catch(() => {});
    try {
      const path = `${dir}/image.tar`;
      await saveImageToFile(this.docker, name, path, signal);
      const file = await Deno.open(path, { read: true });
      try {
        const archive = await readDockerArchive(file, await indexTar(file));
        return {
          target: archive.target,
          configDigest: archive.configDigest,
          blobs: archive.blobs.map((blob) => ({
            mediaType: blob.mediaType,
            digest: blob.digest,
            size: blob.size,
            chunks: () => blobChunks(file, blob),
          })),
          close: async () => {
            file.close();
            await remove();
          },
        };
      } catch (error) {
        file.close();
        throw error;
      }
    } catch (error) {
      await remove();
      throw error;
    }
  }
}

/** An image the store does not hold in full (no such name, or some of its blobs absent). */
export class MissingBlobError extends Error {
  override readonly name = "MissingBlobError";
}

/**
 * Docker: from its own containerd when it keeps its images there (the
 * containerd image store, Docker 29's default) and the socket answers, so
 * that nothing is read but the blobs a push sends; else, and for an image
 * whose blobs that containerd does not all hold, from `docker save`.
 */
export class DockerEngineSource implements ImageSource {
  readonly #save: ImageSource;
  readonly #content: () => Promise<ContentStore | undefined>;

  readonly #close: () => void;

  constructor(
    save: ImageSource,
    content: () => Promise<ContentStore | undefined>,
    close: () => void = () => {},
  ) {
    this.#save = save;
    this.#content = content;
    this.#close = close;
  }

  close(): void {
    this.#close();
  }

  async open(name: string, signal: AbortSignal): Promise<SourceImage> {
    const store = await this.#content();
    if (store !== undefined) {
      try {
        return await new ContainerdImageSource(store).open(name);
      } catch (error) {
        if (!(error instanceof MissingBlobError)) throw error;
      }
    }
    return await this.#save.open(name, signal);
  }
}

/** What the containerd source needs of a client (ContainerdReader). */
export interface ContentStore {
  /** The image record's target, or undefined when there is no such image. */
  target(name: string): Promise<Descriptor | undefined>;
  /** A small blob in full (a manifest, an index), or undefined when the store lacks it. */
  read(digest: string): Promise<Uint8Array | undefined>;
  /** The size of a blob, or undefined when the store lacks it. */
  size(digest: string): Promise<number | undefined>;
  /** A blob of any size, in chunks. */
  chunks(digest: string): AsyncIterable<Uint8Array>;
  close?(): void;
}

/** containerd, through its content service: nothing is copied before it is sent. */
export class ContainerdImageSource implements ImageSource {
  constructor(readonly store: ContentStore) {}

  close(): void {
    this.store.close?.();
  }

  async open(name: string): Promise<SourceImage> {
    const target = await this.store.target(name);
    if (target === undefined) throw new MissingBlobError(`containerd has no image ${name}`);
    const blobs = new Map<string, SourceBlob>();
    const store = this.store;
    const add = (descriptor: Descriptor, size: number) =>
      blobs.set(descriptor.digest, {
        ...descriptor,
        size,
        chunks: () => store.chunks(descriptor.digest),
      });
    // Children first; a child the store lacks (another platform of an index) is left out.
    // A layer or config the store lacks (Docker's store keeps some layers only unpacked,
    // moby#49473): the caller decides (the Docker source falls back to the save).
    const missing: string[] = [];
    const visit = async (node: Descriptor, depth: number): Promise<void> => {
      if (blobs.has(node.digest) || depth > 4) return;
      if (!isManifest(node.mediaType)) {
        const size = await store.size(node.digest);
        if (size !== undefined) add(node, size);
        else missing.push(node.digest);
        return;
      }
      const bytes = await store.read(node.digest);
      if (bytes === undefined) {
        // Another platform of an index is often absent; the push keeps to the held one.
        if (depth === 0) {
          throw new MissingBlobError(`containerd lacks the image ${node.digest} of ${name}`);
        }
        return;
      }
      const body = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
      const children = [
        ...(Array.isArray(body.manifests) ? body.manifests : []),
        ...(body.config === undefined ? [] : [body.config]),
        ...(Array.isArray(body.layers) ? body.layers : []),
      ];
      for (const child of children) {
        const d = child as Partial<Descriptor>;
        if (typeof d.digest !== "string" || typeof d.mediaType !== "string") continue;
        await visit({ mediaType: d.mediaType, digest: d.digest, size: d.size ?? 0 }, depth + 1);
      }
      add(node, bytes.length);
    };
    await visit(target, 0);
    if (missing.length > 0) {
      throw new MissingBlobError(`containerd lacks ${missing.join(", ")} of ${name}`);
    }
    return { target, blobs: [...blobs.values()], close: () => Promise.resolve() };
  }
}
