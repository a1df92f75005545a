/**
 * A node that is a container in Docker (kind, minikube with the docker
 * driver and containerd): the image is streamed from `docker save` into
 * `ctr images import` run inside the node container, which imports it into
 * the node's own containerd, namespace `k8s.io`, the way `kind load
 * docker-image` does (kind's `LoadImageArchive`: the same ctr flags, the
 * snapshotter from `containerd config dump`), through the Engine API alone.
 */
import type { DockerClient } from "../engine/docker_client.ts";
import { configDigest } from "../engine/config_digest.ts";
import { dockerExec, type ExecResult } from "./docker_exec.ts";
import { saveImageStream } from "./docker_save.ts";
import { dropTarMembers, type TarFilterTally } from "./tar_filter.ts";
import { mobyArchive, mobyBlobs } from "./moby_archive.ts";
import type { MobySource } from "./moby_source.ts";
import { type BridgeImage, type CopyReport, holdsConfig, type NodeFeed } from "./feed.ts";
import type { Platform } from "./image_graph.ts";

/** The label kind puts on its node containers (the value is the cluster's name). */
export const KIND_CLUSTER_LABEL = "io.x-k8s.kind.cluster";
/** The label minikube puts on its node containers (the value is the profile). */
export const MINIKUBE_PROFILE_LABEL = "name.minikube.sigs.k8s.io";

/**
 * The snapshotter the CRI plugin unpacks with, from `containerd config dump`
 * (config version 2: `plugins."io.containerd.grpc.v1.cri".containerd`;
 * versions 3 and 4: `plugins."io.containerd.cri.v1.images"`), or undefined.
 */
export function parseSnapshotter(config: string): string | undefined {
  const version = Number(config.match(/^\s*version\s*=\s*(\d+)/m)?.[1] ?? 1);
  const wanted = version >= 3
    ? 'plugins."io.containerd.cri.v1.images"'
    : 'plugins."io.containerd.grpc.v1.cri".containerd';
  let section = "";
  for (const line of config.split("\n")) {
    const header = line.match(/^\s*\[([^\]]+)\]\s*$/);
    if (header) {
      // containerd 2 dumps keys in single quotes (go-toml v2), 1.x in double quotes.
      section = header[1]!.replace(/\s+/g, "").replaceAll("'", '"');
      continue;
    }
    const value = line.match(/^\s*snapshotter\s*=\s*["']([^"']*)["']/)?.[1];
    if (section === wanted && value) return value;
  }
  return undefined;
}

/** The major version in `ctr --version` (`ctr github.com/containerd/containerd/v2 2.3.7`). */
export function ctrMajorVersion(text: string): number | undefined {
  const match = text.match(/\s(\d+)\.\d+(?:\.\d+)?/);
  return match ? Number(match[1]) : undefined;
}

/** The target digest and media type of `name` in a `ctr images ls` table. */
export function parseImageList(
  table: string,
  name: string,
): { mediaType: string; digest: string } | undefined {
  for (const line of table.split("\n").slice(1)) {
    const [ref, mediaType, digest] = line.trim().split(/\s+/);
    if (ref === name && mediaType && digest?.startsWith("sha256:")) return { mediaType, digest };
  }
  return undefined;
}

function failure(what: string, result: ExecResult): Error {
  const said = (result.stderr.trim() || result.stdout.trim()).split("\n").at(-1) ?? "";
  return new Error(`${what} exited with ${result.exitCode}${said ? `: ${said}` : ""}`);
}

/**
 * `ctr images import`'s arguments: the node's platform only, which is ctr's
 * default in the node (a multi-platform image from Docker's containerd store
 * lacks the other platforms' blobs, and `--all-platforms` fails on them;
 * ctr 2.x's `--platform` leaves its unpacker without a platform); no
 * `import-<date>@sha256:…` name for an image the archive names (it would pin
 * every rebuilt image on the node), but one for an archive that names none.
 */
export function importArgs(snapshotter: readonly string[], local: boolean): string[] {
  return [
    "images",
    "import",
    // ctr 2.x imports through the daemon's transfer service, which unpacks only for the
    // snapshotters its own unpack configuration names: a CRI plugin on another one (native)
    // fails with "no unpack platforms defined". --local unpacks as ctr 1.x does.
    ...(local ? ["--local"] : []),
    "--digests",
    "--skip-digest-for-named",
    ...snapshotter,
    "-",
  ];
}

/** Feeds one node container. */
export class ContainerFeed implements NodeFeed {
  readonly nodes: readonly string[];
  readonly how: string;
  readonly #docker: DockerClient;
  readonly #container: string;
  readonly #platform: Platform;
  /**
   * Docker's containerd, when Docker keeps its images there and it answers;
   * loaded on the first copy (gRPC costs ~30 MiB resident).
   */
  #moby: Promise<MobySource> | undefined;
  /** ctr's major version, read with the snapshotter. */
  #ctrMajor: number | undefined;
  #snapshotter: string | undefined | null = null;

  /**
   * `container` is the node container's name or ID; `what` says whose (`kind
   * cluster "dev"`); `platform` is the node's.
   */
  constructor(
    node: string,
    container: string,
    what: string,
    docker: DockerClient,
    platform: Platform,
  ) {
    this.nodes = [node];
    this.#platform = platform;
    this.how = `by importing into its node container "${container}" (${what})`;
    this.#docker = docker;
    this.#container = container;
  }

  /** `ctr` in the node; a minute for a question, ten for an import. */
  #ctr(args: string[], signal: AbortSignal, stdin?: ReadableStream<Uint8Array>) {
    return dockerExec(
      this.#docker,
      this.#container,
      ["ctr", "--namespace=k8s.io", ...args],
      stdin,
      signal,
      stdin === undefined ? 60_000 : 600_000,
    );
  }

  async has(image: BridgeImage, signal: AbortSignal): Promise<boolean> {
    const target = await this.#target(image, signal);
    if (target === undefined) return false;
    if (target.digest === image.id) return true;
    const read = (digest: string) => this.#readContent(digest, signal);
    const bytes = await read(target.digest);
    return bytes !== undefined &&
      await holdsConfig(target.mediaType, bytes, image.configId ?? image.id, read);
  }

  async configOf(image: BridgeImage, signal: AbortSignal): Promise<string | undefined> {
    const target = await this.#target(image, signal);
    if (target === undefined) return undefined;
    return await configDigest((d) => this.#readContent(d, signal), target.digest, this.#platform);
  }

  /** The target of the node's image `image.name`, from `ctr images ls`. */
  async #target(image: BridgeImage, signal: AbortSignal) {
    const listed = await this.#ctr(["images", "ls", `name==${image.name}`], signal);
    if (listed.exitCode !== 0) throw failure("ctr images ls", listed);
    return parseImageList(listed.stdout, image.name);
  }

  /** A blob of the node's content store (manifests and indexes: text). */
  async #readContent(digest: string, signal: AbortSignal): Promise<Uint8Array | undefined> {
    const content = await this.#ctr(["content", "get", digest], signal);
    return content.exitCode === 0 ? new TextEncoder().encode(content.stdout) : undefined;
  }

  async copy(image: BridgeImage, signal: AbortSignal): Promise<CopyReport> {
    if (this.#snapshotter === null) {
      const dump = await dockerExec(
        this.#docker,
        this.#container,
        ["containerd", "config", "dump"],
        undefined,
        signal,
      );
      if (dump.exitCode !== 0) throw failure("containerd config dump", dump);
      this.#snapshotter = parseSnapshotter(dump.stdout);
      const version = await this.#ctr(["--version"], signal);
      if (version.exitCode !== 0) throw failure("ctr --version", version);
      this.#ctrMajor = ctrMajorVersion(version.stdout);
    }
    const snapshotter = this.#snapshotter ? [`--snapshotter=${this.#snapshotter}`] : [];
    const args = importArgs(snapshotter, (this.#ctrMajor ?? 1) >= 2);
    // Only what the node lacks: the archive's blobs the node's content store holds stay out
    // (ctr imports an OCI layout without them). Should ctr refuse, the whole archive goes.
    const held = await this.#heldDigests(signal);
    // With Docker's containerd image store: an archive of only the missing blobs, written from
    // Docker's containerd, so the whole image is not even saved.
    const fromMoby = await this.#importFromMoby(image, args, held, signal);
    if (fromMoby !== undefined) return fromMoby;
    let sent = await this.#import(image, args, held, signal);
    if (sent.exitCode !== 0 && sent.tally.dropped > 0) {
      sent = await this.#import(image, args, new Set(), signal);
    }
    if (sent.exitCode !== 0) throw failure("ctr images import", sent);
    const { dropped, kept, keptBytes } = sent.tally;
    // A legacy archive (Docker before 25) has no blobs/ members: it counts as one, all of it.
    return kept + dropped === 0
      ? { written: 1, skipped: 0, bytes: sent.bytes }
      : { written: kept, skipped: dropped, bytes: keptBytes };
  }

  /** The copy from Docker's containerd, or undefined when it cannot serve (then the save). */
  async #importFromMoby(
    image: BridgeImage,
    args: string[],
    held: ReadonlySet<string>,
    signal: AbortSignal,
  ): Promise<CopyReport | undefined> {
    this.#moby ??= import("./moby_source.ts").then((m) => new m.MobySource(this.#docker));
    const moby = await (await this.#moby).reader();
    const blobs = moby && await mobyBlobs(moby, image.name, this.#platform, held);
    if (!moby || blobs === undefined) return undefined;
    const tally: TarFilterTally = { dropped: 0, droppedBytes: 0, kept: 0, keptBytes: 0 };
    const archive = ReadableStream.from(mobyArchive(moby, image.name, blobs, tally));
    const imported = await this.#ctr(args, signal, archive);
    if (imported.exitCode !== 0) return undefined;
    return { written: tally.kept, skipped: blobs.held, bytes: tally.keptBytes };
  }

  /** The digests of every blob in the node's content store. */
  async #heldDigests(signal: AbortSignal): Promise<Set<string>> {
    const listed = await this.#ctr(["content", "ls", "--quiet"], signal);
    if (listed.exitCode !== 0) throw failure("ctr content ls", listed);
    return new Set(listed.stdout.split("\n").map((line) => line.trim()).filter(Boolean));
  }

  /** Streams the save into `ctr images import`, without the blobs in `held`. */
  async #import(
    image: BridgeImage,
    args: string[],
    held: ReadonlySet<string>,
    signal: AbortSignal,
  ): Promise<ExecResult & { bytes: number; tally: TarFilterTally }> {
    let bytes = 0;
    const tally: TarFilterTally = { dropped: 0, droppedBytes: 0, kept: 0, keptBytes: 0 };
    const save = await saveImageStream(this.#docker, image.name, signal, this.#platform);
    const blob = (name: string) => /^blobs\/sha256\/[0-9a-f]{64}$/.test(name);
    const filtered = ReadableStream.from(dropTarMembers(
      save,
      (name) => blob(name) && held.has(`sha256:${name.slice(13)}`),
      tally,
      blob,
    )).pipeThrough(
      new TransformStream<Uint8Array, Uint8Array>({
        transform(chunk, controller) {
          bytes += chunk.length;
          controller.enqueue(chunk);
        },
      }),
    );
    const result = await this.#ctr(args, signal, filtered);
    return { ...result, bytes, tally };
  }

  close(): void {
    this.#moby?.then((moby) => moby.close()).catch(() => {});
  }
}
