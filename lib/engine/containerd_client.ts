/**
 * A small containerd gRPC client over its unix socket: what watching needs
 * (image List/Get, the event stream, the version), each call in one
 * namespace (the `containerd-namespace` metadata header). Errors become
 * one-line UserErrors. The writing side (content, leases, image records) is
 * ContainerdWriter in containerd_writer.ts, for install and the bridge.
 */
import * as grpc from "@grpc/grpc-js";
import type { MethodDefinition } from "@grpc/proto-loader";
import { ExitCode, UserError } from "../util/errors.ts";
import {
  type EnvelopeMessage,
  EventsSubscribe,
  type ImageMessage,
  ImagesGet,
  ImagesList,
  type VersionMessage,
  VersionVersion,
} from "./containerd_proto.ts";
import { followStream, lostStream } from "./event_stream.ts";
import { type SocketDaemon, socketFault } from "./socket_fault.ts";
import { K3S_CONTAINERD_SOCKET } from "./sockets.ts";

/** Options of ContainerdClient. */
export interface ContainerdClientOptions {
  /** How long a unary call may take; 30 s by default. */
  readonly timeoutMs?: number;
  /** The flag that names the socket, for messages; `--containerd-socket` by default. */
  readonly socketFlag?: string;
}

/** `the containerd socket "/run/containerd/containerd.sock"`, for messages. */
export function describeContainerdSocket(socket: string): string {
  return `the containerd socket "${socket}"`;
}

/** True for an error grpc-js reports with a status code. */
export function isServiceError(error: unknown): error is grpc.ServiceError {
  return error instanceof Error && typeof (error as { code?: unknown }).code === "number";
}

/** How messages about containerd's socket name the daemon and the fixes. */
const containerdDaemon = (socketFlag: string): SocketDaemon => ({
  process: "containerd",
  whenMissing: `start containerd or pass ${socketFlag} (k3s: ${K3S_CONTAINERD_SOCKET})`,
  whenDenied: "run veryfreshpod as root",
});

/**
 * Turns a failed call into one line naming the cause and the fix. `action`
 * says what was being done, for errors that are not about connecting.
 */
export function containerdError(
  socket: string,
  action: string,
  error: unknown,
  socketFlag = "--containerd-socket",
): UserError {
  const where = describeContainerdSocket(socket);
  const code = isServiceError(error) ? error.code : undefined;
  const details = isServiceError(error) ? error.details : String(error);
  const options = { cause: error };
  if (code === grpc.status.UNAVAILABLE) {
    const why = socketFault(details, containerdDaemon(socketFlag)) ??
      `${details}; is it a containerd socket?`;
    return new UserError(`Cannot connect to ${where}: ${why}`, ExitCode.engine, options);
  }
  if (code === grpc.status.DEADLINE_EXCEEDED) {
    return new UserError(
      `${where} did not answer ${action} in time; is containerd hung?`,
      ExitCode.engine,
      options,
    );
  }
  if (code === grpc.status.UNIMPLEMENTED) {
    return new UserError(
      `${where} does not implement ${action}; is it a containerd socket?`,
      ExitCode.engine,
      options,
    );
  }
  return new UserError(`${where} failed ${action}: ${details}`, ExitCode.engine, options);
}

/** The oldest containerd release veryfreshpod supports (k3s 1.2x, kind 0.1x ship 1.6 or newer). */
export const OLDEST_CONTAINERD = "1.6";

/**
 * Refuses a containerd older than OLDEST_CONTAINERD with one line naming the
 * fix. A version that does not start with `major.minor` (a development build)
 * is let through: only a release known to be too old is refused.
 */
export function requireSupportedContainerd(version: string, socket: string): void {
  const match = /^v?(\d+)\.(\d+)/.exec(version);
  if (!match) return;
  const [oldestMajor, oldestMinor] = OLDEST_CONTAINERD.split(".").map(Number) as [number, number];
  const major = Number(match[1]);
  const minor = Number(match[2]);
  if (major > oldestMajor || (major === oldestMajor && minor >= oldestMinor)) return;
  throw new UserError(
    `${describeContainerdSocket(socket)} is containerd ${version}, but veryfreshpod needs ` +
      `containerd ${OLDEST_CONTAINERD} or newer; upgrade containerd (or the cluster that ships it)`,
    ExitCode.engine,
  );
}

/**
 * A broken event stream: a connection cause when one is recognised (the
 * socket is gone), else the daemon's own words.
 */
function streamError(socket: string, error: unknown): UserError {
  const details = isServiceError(error) ? error.details : String(error);
  if (socketFault(details, containerdDaemon("")) !== undefined) {
    return containerdError(socket, "Events/Subscribe", error);
  }
  return lostStream(describeContainerdSocket(socket), error, details);
}

/** A gRPC connection to one containerd, for one namespace. Call `close()` when done. */
export class ContainerdClient {
  readonly socket: string;
  readonly namespace: string;
  protected readonly grpc: grpc.Client;
  readonly #timeoutMs: number;
  protected readonly socketFlag: string | undefined;

  constructor(socket: string, namespace: string, options: ContainerdClientOptions = {}) {
    this.socket = socket;
    this.namespace = namespace;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.socketFlag = options.socketFlag;
    this.grpc = new grpc.Client(`unix://${socket}`, grpc.credentials.createInsecure());
  }

  /** The daemon's version, which also proves that it answers. */
  version(): Promise<VersionMessage> {
    return this.unary(VersionVersion, {}, "Version");
  }

  /** The daemon's version; a UserError when it answers not or is older than veryfreshpod supports. */
  async supportedVersion(): Promise<VersionMessage> {
    const version = await this.version();
    requireSupportedContainerd(version.version, this.socket);
    return version;
  }

  /** Every image in the namespace (filters, when given, are ORed by containerd). */
  async listImages(filters: string[] = []): Promise<ImageMessage[]> {
    return (await this.unary(ImagesList, { filters }, "Images/List")).images;
  }

  /** One image by its exact name, or undefined when there is none. */
  async getImage(name: string): Promise<ImageMessage | undefined> {
    try {
      return (await this.unary(ImagesGet, { name }, "Images/Get")).image ?? undefined;
    } catch (error) {
      const cause = error instanceof Error ? error.cause : undefined;
      if (isServiceError(cause) && cause.code === grpc.status.NOT_FOUND) {
        return undefined;
      }
      throw error;
    }
  }

  /**
   * Events matching `filters` (ORed; join conditions with `,` to AND them),
   * from now on, until `signal` aborts (then it returns) or the stream breaks
   * (then it throws a UserError).
   */
  subscribe(filters: string[], signal: AbortSignal): AsyncGenerator<EnvelopeMessage> {
    return followStream(
      describeContainerdSocket(this.socket),
      signal,
      () => this.#subscribeCall(filters, signal),
      (error) => streamError(this.socket, error),
    );
  }

  async *#subscribeCall(filters: string[], signal: AbortSignal): AsyncGenerator<EnvelopeMessage> {
    const call = this.grpc.makeServerStreamRequest(
      EventsSubscribe.path,
      EventsSubscribe.requestSerialize,
      EventsSubscribe.responseDeserialize,
      { filters },
      this.metadata(),
    );
    const cancel = () => call.cancel();
    signal.addEventListener("abort", cancel, { once: true });
    try {
      for await (const envelope of call) yield envelope as EnvelopeMessage;
    } finally {
      signal.removeEventListener("abort", cancel);
      // Ends the call when the consumer stops early.
      call.cancel();
    }
  }

  /** Closes the channel. */
  close(): void {
    this.grpc.close();
  }

  /** The call metadata: the namespace, and the lease that protects what a call writes. */
  protected metadata(lease?: string): grpc.Metadata {
    const metadata = new grpc.Metadata();
    metadata.set("containerd-namespace", this.namespace);
    if (lease !== undefined) metadata.set("containerd-lease", lease);
    return metadata;
  }

  /** One unary call; a failure becomes a one-line UserError whose `cause` is the gRPC error. */
  protected unary<Request, Response>(
    method: MethodDefinition<Request, Response>,
    request: Request,
    action: string,
  ): Promise<Response> {
    return new Promise((resolve, reject) => {
      this.grpc.makeUnaryRequest(
        method.path,
        method.requestSerialize,
        method.responseDeserialize,
        request,
        this.metadata(),
        { deadline: Date.now() + this.#timeoutMs },
        (error, value) => {
          const fail = (cause: unknown) =>
            reject(containerdError(this.socket, action, cause, this.socketFlag));
          if (error) fail(error);
          else if (value === undefined) fail("no answer");
          else resolve(value);
        },
      );
    });
  }
}
