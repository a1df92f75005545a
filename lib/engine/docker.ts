/**
 * The Docker Engine as an Engine: tagged images from `GET /images/json`,
 * changes from `GET /events`. Works with daemons from API 1.40 (Docker
 * 19.03) on, with the graph-driver and the containerd image store.
 */
import { ExitCode, UserError } from "../util/errors.ts";
import { imageKey, parseReference } from "../model/image_ref.ts";
import {
  compareApiVersions,
  describeDockerHost,
  DockerClient,
  type DockerClientOptions,
  responseError,
} from "./docker_client.ts";
import { decodeJsonLines, toEngineEvent, unreadableEvent } from "./docker_events.ts";
import { type DockerHost, type OperatingSystem, resolveDockerHost } from "./docker_host.ts";
import type { Engine, EngineEvent } from "./engine.ts";
import type { ImageSnapshot, TaggedImage } from "../model/image_snapshot.ts";
import { followStream } from "./event_stream.ts";
import type { ContainerdWriter } from "./containerd_writer.ts";
import {
  contentReader,
  ImageStoreFacts,
  parseStoreInfo,
  type TargetReader,
} from "./docker_image_store.ts";
import { errorMessage } from "../util/errors.ts";
import { logger } from "../util/log.ts";

const log = logger("engine");

/** The first API version whose image inspect says where an image was pulled from (`Identity`). */
const IDENTITY_API_VERSION = "1.53";

/** Options of DockerEngine.create. */
export interface DockerEngineOptions extends DockerClientOptions {
  /** The `--docker-host` value; `DOCKER_HOST` or the default socket when absent. */
  readonly host?: string;
  /** Reads environment variables (`DOCKER_HOST`); injectable for tests. */
  readonly getEnv?: (name: string) => string | undefined;
  /** The OS veryfreshpod runs on, which decides the default sockets; `Deno.build.os` by default. */
  readonly os?: OperatingSystem;
  /**
   * False: never open Docker's own containerd, as when its socket is out of
   * reach (in a pod, from macOS); injectable for tests. True by default.
   */
  readonly readDockerContainerd?: boolean;
}

function stringArray(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((item) => typeof item === "string") : [];
}

/** The normalised repository of a reference, or undefined when it does not parse. */
function repositoryOf(text: string): string | undefined {
  try {
    return parseReference(text).repository;
  } catch {
    return undefined;
  }
}

/**
 * The snapshot of a `GET /images/json` answer. Untagged images
 * (`<none>:<none>` before API 1.43, empty arrays after) and tags that do not
 * parse are skipped, never thrown: one odd image must not stop the watch.
 *
 * `fromRegistry` is true when the image has a repo digest for the tag's own
 * repository: an image pulled as `alpine` and tagged `app:dev` has a digest
 * for `alpine` only, and `app:dev` cannot be pulled. Caveat: on the
 * containerd image store repo digests are no sign of a pull (Docker 29 lists
 * one `repo@<ID>` per image, of one of its tags, built or pulled); there
 * DockerEngine replaces this answer (docker_image_store.ts).
 */
export function snapshotFromImageList(list: unknown): Map<string, TaggedImage> {
  const snapshot = new Map<string, TaggedImage>();
  if (!Array.isArray(list)) return snapshot;
  for (const image of list) {
    if (typeof image !== "object" || image === null) continue;
    const record = image as Record<string, unknown>;
    const id = record.Id;
    if (typeof id !== "string" || id === "") continue;
    // Seconds; the list has no tag time (inspect's Metadata.LastTagTime does).
    const created = typeof record.Created === "number" && record.Created > 0
      ? record.Created * 1000
      : undefined;
    const digestRepositories = new Set(
      stringArray(record.RepoDigests).map(repositoryOf).filter((repo) => repo !== undefined),
    );
    for (const tag of stringArray(record.RepoTags)) {
      if (tag === "<none>:<none>") continue;
      let key: string | undefined;
      let repository: string;
      try {
        const ref = parseReference(tag);
        key = imageKey(ref);
        repository = ref.repository;
      } catch {
        continue;
      }
      if (key === undefined) continue;
      const fromRegistry = digestRepositories.has(repository);
      snapshot.set(
        key,
        created === undefined ? { id, fromRegistry } : { id, fromRegistry, time: created },
      );
    }
  }
  return snapshot;
}

/**
 * The events in the body of a `GET /events` answer; a line that is not an
 * event still says "re-read". It holds the Response, not only its body: Deno
 * errors an aborted body through its Response, and once nothing held the
 * Response a garbage collection left the read hanging after the abort.
 */
async function* engineEvents(response: Response): AsyncGenerator<EngineEvent> {
  if (response.body === null) return;
  try {
    for await (const line of decodeJsonLines(response.body)) {
      if (!line.ok) {
        yield unreadableEvent(line.line);
        continue;
      }
      const event = toEngineEvent(line.value);
      if (event !== undefined) yield event;
    }
  } finally {
    // Used after the loop, so that the Response stays reachable while the body is read.
    void response.bodyUsed;
  }
}

/** How the containerd image store is read, once `GET /info` said it is on. */
interface ContainerdStore {
  readonly reader: TargetReader;
  /** Docker's own containerd, when its socket could be opened. */
  readonly content: ContainerdWriter | undefined;
}

/** A Docker daemon, reached over its socket or plain TCP. */
export class DockerEngine implements Engine {
  readonly client: DockerClient;
  readonly description: string;
  /** Undefined: not asked yet; null: the classic store (or the daemon does not say). */
  #store: Promise<ContainerdStore | null> | undefined;
  /**
   * What was learned of each target, and the previous snapshot: kept across
   * reconnects, so that the tags changed during an outage are looked up too.
   */
  readonly #facts = new ImageStoreFacts();
  readonly #readDockerContainerd: boolean;

  constructor(client: DockerClient, options: { readDockerContainerd?: boolean } = {}) {
    this.client = client;
    this.description = `docker ${client.host.url}`;
    this.#readDockerContainerd = options.readDockerContainerd ?? true;
  }

  /** True when the daemon keeps its images in containerd (asked once per connect). */
  async containerdStore(): Promise<boolean> {
    return (await this.#containerdStore()) !== null;
  }

  /** The facts of the containerd image store, found at first use after each connect. */
  #containerdStore(): Promise<ContainerdStore | null> {
    this.#store ??= this.#findStore();
    return this.#store;
  }

  async #findStore(): Promise<ContainerdStore | null> {
    let info;
    try {
      info = parseStoreInfo(await this.client.json("/info"));
    } catch (error) {
      log.debug("Cannot read GET /info, so the image store is taken as classic: {error}", {
        error: errorMessage(error),
      });
      return null;
    }
    if (!info.containerdStore) return null;
    const content = info.socket === undefined || !this.#readDockerContainerd
      ? undefined
      : await openContent(info.socket, info.namespace);
    if (content !== undefined) {
      const reader = contentReader(
        (digest) => content.readContent(digest),
        async (digest) => (await content.contentInfo(digest))?.labels,
      );
      log.debug("Docker keeps its images in containerd; reading them from {socket}", {
        socket: info.socket,
      });
      return { reader, content };
    }
    const identity = compareApiVersions(this.client.apiVersion ?? "0.0", IDENTITY_API_VERSION) >= 0;
    log.debug(
      "Docker keeps its images in containerd, whose socket {socket} cannot be opened: config " +
        "digests stay unknown, and {registry}",
      {
        socket: info.socket ?? "(not named by Docker)",
        registry: identity
          ? "image inspect tells pulled images from builds"
          : "every tag counts as from a registry",
      },
    );
    const reader: TargetReader = {
      sources: (target) => identity ? this.#pulledFrom(target) : Promise.resolve(undefined),
    };
    return { reader, content: undefined };
  }

  /** The repositories image inspect's `Identity.Pull` names (API 1.53+). */
  async #pulledFrom(target: string): Promise<ReadonlySet<string>> {
    const inspected = await this.client.json(`/images/${encodeURIComponent(target)}/json`) as {
      Identity?: { Pull?: Array<{ Repository?: unknown }> } | null;
    } | null;
    // Named as the labels name them: `registry/path`, the registry without its port.
    const pulls = inspected?.Identity?.Pull ?? [];
    return new Set(
      pulls.map((p) => p.Repository).filter((r): r is string => typeof r === "string"),
    );
  }

  /** An engine for `--docker-host`, `DOCKER_HOST` or the default socket; throws a UserError for a bad value. */
  static create(options: DockerEngineOptions = {}): DockerEngine {
    const host: DockerHost = resolveDockerHost(options.host, options.getEnv, options.os);
    return new DockerEngine(new DockerClient(host, options), options);
  }

  async connect(): Promise<void> {
    await this.client.negotiate();
    // The daemon may have restarted with the other store: ask again.
    const previous = this.#store;
    this.#store = undefined;
    (await previous?.catch(() => null))?.content?.close();
    await this.#containerdStore();
  }

  async snapshot(): Promise<ImageSnapshot> {
    const listed = snapshotFromImageList(await this.client.json("/images/json"));
    const store = await this.#containerdStore();
    return store === null ? listed : await this.#facts.annotate(listed, store.reader);
  }

  /** `Metadata.LastTagTime` of each image: one inspect per ID, asked for few. */
  async tagTimes(ids: readonly string[]): Promise<Map<string, number>> {
    const times = new Map<string, number>();
    await Promise.all(ids.map(async (id) => {
      let inspected: unknown;
      try {
        inspected = await this.client.json(`/images/${encodeURIComponent(id)}/json`);
      } catch {
        return; // gone meanwhile, or the daemon is down: the other ranks still apply
      }
      const text = (inspected as { Metadata?: { LastTagTime?: unknown } } | null)?.Metadata
        ?.LastTagTime;
      const time = typeof text === "string" ? Date.parse(text) : NaN;
      // The zero time (0001-01-01T00:00:00Z) means "never tagged here".
      if (time > 0) times.set(id, time);
    }));
    return times;
  }

  imageEvents(signal: AbortSignal): AsyncGenerator<EngineEvent> {
    return followStream(describeDockerHost(this.client.host), signal, () => this.#events(signal));
  }

  async #events(signal: AbortSignal): Promise<AsyncIterable<EngineEvent>> {
    const path = `/events?filters=${encodeURIComponent(JSON.stringify({ type: ["image"] }))}`;
    const response = await this.client.request("GET", path, { signal });
    if (!response.ok) throw await responseError(this.client.host, "GET", "/events", response);
    if (response.body === null) {
      throw new UserError(
        `${describeDockerHost(this.client.host)} sent no event stream`,
        ExitCode.engine,
      );
    }
    return engineEvents(response);
  }

  /** Releases the connection pool, and Docker's containerd connection when one was opened. */
  close(): void {
    this.client.close();
    this.#store?.then((store) => store?.content?.close(), () => {});
  }
}

/**
 * Docker's containerd, when its socket can be opened and answers; undefined
 * otherwise. gRPC is loaded only here: the classic store never needs it.
 */
async function openContent(
  socket: string,
  namespace: string,
): Promise<ContainerdWriter | undefined> {
  const { ContainerdWriter } = await import("./containerd_writer.ts");
  const content = new ContainerdWriter(socket, namespace, { timeoutMs: 5_000 });
  try {
    await content.version();
    return content;
  } catch {
    content.close();
    return undefined;
  }
}
