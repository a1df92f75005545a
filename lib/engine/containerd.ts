/**
 * containerd as an Engine (k3s, kind, minikube with containerd): tagged images
 * from the Images service in one namespace (`k8s.io`, where the kubelet looks),
 * changes from the Events service.
 */
import { imageKey, parseReference } from "../model/image_ref.ts";
import { ContainerdClient, type ContainerdClientOptions } from "./containerd_client.ts";
import { DEFAULT_CONTAINERD_NAMESPACE, DEFAULT_CONTAINERD_SOCKET } from "./sockets.ts";
import { imageEventName, type ImageMessage, timestampMs } from "./containerd_proto.ts";
import { ConfigDigests } from "./config_digest.ts";
import { ContainerdWriter } from "./containerd_writer.ts";
import { type Engine, type EngineEvent, tagKey } from "./engine.ts";
import type { ImageSnapshot, TaggedImage } from "../model/image_snapshot.ts";

/** Options of ContainerdEngine.create. */
export interface ContainerdEngineOptions extends ContainerdClientOptions {
  /** The socket path (no `unix://`); /run/containerd/containerd.sock by default. */
  readonly socket?: string;
  /** The namespace; `k8s.io` by default. */
  readonly namespace?: string;
}

// A name that is only a digest: the CRI plugin adds `sha256:<config digest>`
// as an ID ref of every image. It would otherwise parse as repository
// `sha256` with a 64-character tag.
const DIGEST_ONLY_NAME = /^[A-Za-z][A-Za-z0-9]*(?:[-_+.][A-Za-z][A-Za-z0-9]*)*:[0-9a-fA-F]{32,}$/;

/**
 * The snapshot of an image list. Only names that are references with a tag
 * count; ID refs (`sha256:…`), digest refs (`repo@sha256:…`), tagless names
 * and names that do not parse are skipped, never thrown.
 *
 * The ID is the target digest (the manifest or index). `fromRegistry` is true
 * when a repo-digest name of the same repository points at the same target:
 * the CRI plugin adds one on every pull, `ctr images import` never does. An
 * image pulled with `ctr images pull` has none either and counts as local;
 * that only makes the warning about `imagePullPolicy: Always` over-cautious.
 */
export function snapshotFromContainerdImages(
  images: readonly ImageMessage[],
): Map<string, TaggedImage> {
  const repoDigests = new Set<string>();
  const tagged: Array<{ key: string; repository: string; id: string; time?: number }> = [];
  for (const image of images) {
    const id = image.target?.digest ?? "";
    if (id === "" || DIGEST_ONLY_NAME.test(image.name)) continue;
    let ref;
    try {
      ref = parseReference(image.name);
    } catch {
      continue;
    }
    if (ref.digest !== undefined) {
      if (ref.digest === id) repoDigests.add(`${ref.repository}@${id}`);
      continue;
    }
    const key = imageKey(ref);
    if (ref.tag === undefined || key === undefined) continue;
    // updated_at is when this name last moved to a target: the tag's own time.
    const time = timestampMs(image.updatedAt) ?? timestampMs(image.createdAt);
    tagged.push(
      time === undefined ? { key, repository: ref.repository, id } : {
        key,
        repository: ref.repository,
        id,
        time,
      },
    );
  }
  const snapshot = new Map<string, TaggedImage>();
  for (const { key, repository, id, time } of tagged) {
    const fromRegistry = repoDigests.has(`${repository}@${id}`);
    snapshot.set(key, time === undefined ? { id, fromRegistry } : { id, fromRegistry, time });
  }
  return snapshot;
}

/** The Subscribe filter for image events of one namespace (`,` is AND; filters are ORed). */
export function imageEventFilter(namespace: string): string {
  return `topic~="/images/",namespace==${JSON.stringify(namespace)}`;
}

function readBlob(client: ContainerdClient, digest: string): Promise<Uint8Array | undefined> {
  return client instanceof ContainerdWriter
    ? client.readContent(digest)
    : Promise.resolve(undefined);
}

/** A containerd daemon and one of its namespaces. */
export class ContainerdEngine implements Engine {
  readonly client: ContainerdClient;
  readonly description: string;
  readonly #configs = new ConfigDigests();

  constructor(client: ContainerdClient) {
    this.client = client;
    this.description = `containerd unix://${client.socket} namespace ${client.namespace}`;
  }

  /** An engine for the given socket and namespace, or the defaults. */
  static create(options: ContainerdEngineOptions = {}): ContainerdEngine {
    const socket = options.socket ?? DEFAULT_CONTAINERD_SOCKET;
    const namespace = options.namespace ?? DEFAULT_CONTAINERD_NAMESPACE;
    // A writer, for its content reads (config digests, below); it writes nothing here.
    return new ContainerdEngine(new ContainerdWriter(socket, namespace, options));
  }

  async connect(): Promise<void> {
    await this.client.supportedVersion();
  }

  async snapshot(): Promise<ImageSnapshot> {
    const images = await this.client.listImages();
    // Config digests let `status` compare with what pods report (config_digest.ts).
    return await this.#configs.annotate(
      snapshotFromContainerdImages(images),
      images.map((i) => ({ name: i.name, target: i.target?.digest ?? "" })),
      (digest) => readBlob(this.client, digest),
    );
  }

  async *imageEvents(signal: AbortSignal): AsyncGenerator<EngineEvent> {
    const namespace = this.client.namespace;
    for await (const envelope of this.client.subscribe([imageEventFilter(namespace)], signal)) {
      // The daemon filters already; this guards against a filter it ignored.
      if (envelope.namespace !== namespace || !envelope.topic.startsWith("/images/")) continue;
      const action = envelope.topic.slice("/images/".length);
      const name = imageEventName(envelope.event);
      // create and update set the name; the CRI plugin's ID and digest refs are no tags.
      const reference = action === "delete" || DIGEST_ONLY_NAME.test(name ?? "")
        ? undefined
        : tagKey(name);
      const time = timestampMs(envelope.timestamp);
      yield {
        action,
        subject: name ?? "",
        ...(reference === undefined ? {} : { reference }),
        ...(time === undefined ? {} : { time }),
      };
    }
  }

  /** Closes the gRPC channel. */
  close(): void {
    this.client.close();
  }
}
