/**
 * A small Docker Engine API client: HTTP over the daemon's unix socket, plain
 * TCP or TCP with TLS, with `fetch`, API version negotiation, and errors a
 * user can act on. It knows nothing about images; DockerEngine and the
 * installer build on its generic `request`.
 */
import { ExitCode, UserError } from "../util/errors.ts";
import { baseUrl, type DockerHost } from "./docker_host.ts";
import { tlsFailure, tlsHttpClient } from "./docker_tls.ts";
import { type SocketDaemon, socketFault } from "./socket_fault.ts";
import { probeListener } from "./protocol_probe.ts";
import { concatBytes } from "../util/bytes.ts";

/**
 * The newest API version this client speaks (Docker 29.x). Checked against the
 * API's changelog up to 1.56: nothing veryfreshpod reads changed in a way it
 * depends on; from 1.52 events carry only `Type`, `Action` and `Actor`, which
 * are all it reads, and from 1.53 an image inspect says where it was pulled from.
 */
export const NEWEST_API_VERSION = "1.56";
/** The oldest API version this client speaks (Docker 19.03; Docker 29.3+ accepts no older). */
export const OLDEST_API_VERSION = "1.40";
const OLDEST_DOCKER_RELEASE = "19.03";

/**
 * The largest answer read whole: 64 MiB, an image list of some 50,000
 * images. A longer one (a broken or hostile daemon) is refused, not held.
 */
export const MAX_BODY_BYTES = 64 * 1024 * 1024;
// An error answer only decorates a message: its start is enough.
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * Reads a body whole, up to `maxBytes`: `complete` is false when it was
 * longer, and then the rest is cancelled unread.
 */
export async function readBody(
  response: Response,
  maxBytes: number,
): Promise<{ bytes: Uint8Array; complete: boolean }> {
  if (response.body === null) return { bytes: new Uint8Array(), complete: true };
  if (Number(response.headers.get("content-length")) > maxBytes) {
    await response.body.cancel();
    return { bytes: new Uint8Array(), complete: false };
  }
  const parts: Uint8Array[] = [];
  let size = 0;
  const reader = response.body.getReader();
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      if (size + value.length > maxBytes) {
        parts.push(value.subarray(0, maxBytes - size));
        size = maxBytes;
        await reader.cancel();
        return { bytes: concatBytes(parts), complete: false };
      }
      parts.push(value);
      size += value.length;
    }
  } finally {
    reader.releaseLock();
  }
  return { bytes: concatBytes(parts), complete: true };
}

/** What `GET /version` says about the daemon. */
export interface DockerVersion {
  /** The newest API version the daemon speaks. */
  readonly apiVersion: string;
  /** The oldest API version the daemon accepts, when it says. */
  readonly minApiVersion: string | undefined;
  /** The Docker release, for messages. */
  readonly version: string | undefined;
}

/** Options of DockerClient. */
export interface DockerClientOptions {
  /** How long a non-streaming call may take before it fails; 30 s by default. */
  readonly timeoutMs?: number;
  /** Reads the TLS certificate files; injectable for tests. */
  readonly readFile?: (path: string) => string;
  /** The largest answer read whole; MAX_BODY_BYTES by default. */
  readonly maxBodyBytes?: number;
}

/**
 * `the Docker socket "/var/run/docker.sock"`, `Docker at tcp://host:2375` or
 * `Docker at https://host:2376` (TLS), for messages.
 */
export function describeDockerHost(host: DockerHost): string {
  return host.transport === "unix" ? `the Docker socket "${host.path}"` : `Docker at ${host.url}`;
}

/** Numeric comparison of `major.minor` versions: negative when a < b. */
export function compareApiVersions(a: string, b: string): number {
  const [aMajor = 0, aMinor = 0] = a.split(".").map(Number);
  const [bMajor = 0, bMinor = 0] = b.split(".").map(Number);
  return aMajor !== bMajor ? aMajor - bMajor : aMinor - bMinor;
}

/**
 * The API version to use with a daemon: the newer of what both speak, or a
 * UserError when there is none. `where` names the daemon in messages.
 */
export function negotiateApiVersion(daemon: DockerVersion, where: string): string {
  const release = daemon.version === undefined ? "" : ` (Docker ${daemon.version})`;
  if (compareApiVersions(daemon.apiVersion, OLDEST_API_VERSION) < 0) {
    throw new UserError(
      `${where} speaks Docker API ${daemon.apiVersion}${release}, but veryfreshpod needs API ` +
        `${OLDEST_API_VERSION} or newer; upgrade Docker to ${OLDEST_DOCKER_RELEASE} or later`,
      ExitCode.engine,
    );
  }
  const chosen = compareApiVersions(daemon.apiVersion, NEWEST_API_VERSION) < 0
    ? daemon.apiVersion
    : NEWEST_API_VERSION;
  if (
    daemon.minApiVersion !== undefined && compareApiVersions(chosen, daemon.minApiVersion) < 0
  ) {
    throw new UserError(
      `${where} accepts Docker API ${daemon.minApiVersion} or newer only${release}, but this ` +
        `veryfreshpod speaks up to ${NEWEST_API_VERSION}; upgrade veryfreshpod`,
      ExitCode.engine,
    );
  }
  return chosen;
}

const VERSION_PATTERN = /^\d+\.\d+$/;

/** Reads the body of `GET /version`; undefined when it is not a Docker answer. */
export function parseVersionBody(body: unknown): DockerVersion | undefined {
  if (typeof body !== "object" || body === null) return undefined;
  const record = body as Record<string, unknown>;
  const apiVersion = record.ApiVersion;
  if (typeof apiVersion !== "string" || !VERSION_PATTERN.test(apiVersion)) return undefined;
  const min = record.MinAPIVersion;
  return {
    apiVersion,
    minApiVersion: typeof min === "string" && VERSION_PATTERN.test(min) ? min : undefined,
    version: typeof record.Version === "string" ? record.Version : undefined,
  };
}

/** How messages about Docker's unix socket name the daemon and the fixes. */
const DOCKERD: SocketDaemon = {
  process: "dockerd",
  whenMissing: "start Docker or pass --docker-host",
  whenDenied: "run veryfreshpod as root or add the user to the docker group " +
    "(sudo usermod -aG docker $USER, then log in again)",
};

// What a failed TCP connection says, as Deno's fetch reports it (strerror texts and errno
// values of Linux and macOS).
const TCP_CAUSES: ReadonlyArray<{ pattern: RegExp; why: string }> = [
  { pattern: /No such file or directory|os error 2\)/i, why: "not found; check --docker-host" },
  { pattern: /Permission denied|os error 13\)/i, why: "permission denied" },
  {
    pattern: /Connection refused|os error (111|61)\)/i,
    why: "connection refused; start Docker or check --docker-host",
  },
  {
    pattern: /dns error|failed to lookup address|Name or service not known/i,
    why: "unknown host name; check --docker-host",
  },
  {
    pattern: /timed out|os error (110|60)\)/i,
    why: "timed out; check --docker-host and the network",
  },
];

// Deno's fetch refuses the ports of the Fetch standard's "bad port" list (1, 7, 9, 22, 25, …),
// ports of other protocols, before it connects.
const BLOCKED_PORT = /Requests to port (\d+) are blocked/;

// What Deno's HTTP/1.1 client says when the server answers in another protocol, or speaks
// first (a gRPC server sends its HTTP/2 SETTINGS frame as soon as the connection opens).
const NOT_HTTP1 = /invalid HTTP version parsed|received unexpected message from connection/i;

/** The full text of an error and its causes, where Deno puts the OS error. */
function errorText(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  while (current !== undefined && parts.length < 10) {
    parts.push(current instanceof Error ? `${current.name}: ${current.message}` : String(current));
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(" / ");
}

/**
 * Turns a failed connection into one line naming the cause and the fix.
 * `clientCertificate` says whether a TLS client certificate was presented.
 */
export function connectionError(
  host: DockerHost,
  error: unknown,
  clientCertificate = false,
): UserError {
  const text = errorText(error);
  const cause = host.transport === "unix"
    ? socketFault(text, DOCKERD)
    : TCP_CAUSES.find((candidate) => candidate.pattern.test(text))?.why;
  const tls = host.transport === "tcp" && host.tls !== undefined
    ? tlsFailure(host.tls, host.hostname, clientCertificate, text)
    : undefined;
  const blocked = host.transport === "tcp" ? BLOCKED_PORT.exec(text)?.[1] : undefined;
  let why: string;
  if (blocked !== undefined) {
    why = `port ${blocked} is blocked: the HTTP client refuses ports that belong to other ` +
      "protocols (as browsers do), and Docker never listens there; check the port in " +
      "--docker-host (Docker's are 2375, and 2376 with TLS)";
  } else if (tls !== undefined) {
    why = tls;
  } else if (cause !== undefined) {
    why = cause;
  } else if (/NotCapable|Requires (read|write|net) access/.test(text)) {
    why = "Deno permissions do not allow it; run with --allow-all";
  } else {
    // The innermost message is usually the informative one.
    const innermost = text.split(" / ").at(-1) ?? text;
    why = `${innermost}; is it a Docker Engine?`;
  }
  return new UserError(`Cannot connect to ${describeDockerHost(host)}: ${why}`, ExitCode.engine, {
    cause: error,
  });
}

/**
 * `connectionError`, after a look at what listens when the answer was not
 * HTTP/1.1: a gRPC server there is most likely containerd's socket.
 */
export async function diagnoseConnection(
  host: DockerHost,
  error: unknown,
  clientCertificate = false,
): Promise<UserError> {
  if (!NOT_HTTP1.test(errorText(error))) return connectionError(host, error, clientCertificate);
  const where = describeDockerHost(host);
  const listener = await probeListener(host);
  let why: string;
  if (listener === "http2" && host.transport === "unix") {
    why = "this socket speaks gRPC, not the Docker Engine API: it looks like containerd's; " +
      `use --runtime containerd --containerd-socket ${host.path}`;
  } else if (listener === "http2") {
    why = "it speaks gRPC (HTTP/2), not the Docker Engine API (is it containerd?); " +
      "check --docker-host";
  } else {
    why = "it answered in another protocol than HTTP/1.1, so it is not a Docker Engine; " +
      "check --docker-host";
  }
  return new UserError(`Cannot connect to ${where}: ${why}`, ExitCode.engine, { cause: error });
}

/** The error for an answer that is not 2xx, with the daemon's own message when it sent one. */
export async function responseError(
  host: DockerHost,
  method: string,
  path: string,
  response: Response,
): Promise<UserError> {
  let detail = "";
  try {
    const { bytes } = await readBody(response, MAX_ERROR_BODY_BYTES);
    const text = new TextDecoder().decode(bytes).trim();
    let message: unknown = text;
    try {
      message = (JSON.parse(text) as { message?: unknown }).message ?? text;
    } catch {
      // Not JSON: keep the text itself.
    }
    if (typeof message === "string" && message !== "") detail = `: ${message.slice(0, 300)}`;
  } catch {
    // The body is only decoration for the message.
  }
  return new UserError(
    `${describeDockerHost(host)} answered ${response.status} to ${method} ${path}${detail}`,
    ExitCode.engine,
  );
}

/** An HTTP client for one Docker daemon. Call `close()` when done. */
export class DockerClient {
  readonly host: DockerHost;
  readonly #timeoutMs: number;
  readonly #http: Deno.HttpClient | undefined;
  readonly #clientCertificate: boolean;
  readonly #maxBodyBytes: number;
  #apiVersion: string | undefined;
  #closed = false;
  /** The negotiation under way, which concurrent first requests share. */
  #negotiating: Promise<DockerVersion> | undefined;

  /** Throws a UserError (usage) when TLS certificate files are missing or unusable. */
  constructor(host: DockerHost, options: DockerClientOptions = {}) {
    this.host = host;
    this.#timeoutMs = options.timeoutMs ?? 30_000;
    this.#clientCertificate = false;
    this.#maxBodyBytes = options.maxBodyBytes ?? MAX_BODY_BYTES;
    if (host.transport === "unix") {
      this.#http = Deno.createHttpClient({ proxy: { transport: "unix", path: host.path } });
    } else if (host.tls !== undefined) {
      const tls = tlsHttpClient(host.tls, options.readFile);
      this.#http = tls.http;
      this.#clientCertificate = tls.clientCertificate;
    }
  }

  /** The negotiated API version; undefined until `negotiate()` succeeded. */
  get apiVersion(): string | undefined {
    return this.#apiVersion;
  }

  /**
   * Asks the daemon for its versions and picks the API version every later
   * request uses. Throws a UserError when the daemon cannot be reached, is
   * not a Docker Engine, or speaks no version in common. `request` does it
   * by itself before the first request; calling it again (after the daemon
   * restarted, perhaps upgraded) negotiates anew.
   */
  negotiate(): Promise<DockerVersion> {
    const negotiating = this.#negotiate().finally(() => {
      if (this.#negotiating === negotiating) this.#negotiating = undefined;
    });
    this.#negotiating = negotiating;
    return negotiating;
  }

  async #negotiate(): Promise<DockerVersion> {
    const path = "/version";
    const where = describeDockerHost(this.host);
    const notDocker = (why: string) =>
      new UserError(
        `${where} answered, but not like a Docker Engine (${why}); check --docker-host`,
        ExitCode.engine,
      );
    const response = await this.#fetch("GET", path, { signal: this.#timeout() });
    if (!response.ok) {
      const text = await readBody(response, MAX_ERROR_BODY_BYTES).then(
        ({ bytes }) => new TextDecoder().decode(bytes),
        () => "",
      );
      // Go's HTTP server says this to plain HTTP on a TLS port (minikube's 2376).
      if (response.status === 400 && /HTTP request to an HTTPS server/i.test(text)) {
        throw new UserError(
          `${where} expects TLS; set DOCKER_TLS_VERIFY=1 and DOCKER_CERT_PATH to the directory ` +
            "with its ca.pem, cert.pem and key.pem (minikube: eval $(minikube docker-env))",
          ExitCode.engine,
        );
      }
      throw notDocker(`HTTP ${response.status} to GET ${path}`);
    }
    let body: unknown;
    try {
      body = await this.readJson(response, "GET", path);
    } catch {
      throw notDocker(`GET ${path} did not return JSON`);
    }
    const version = parseVersionBody(body);
    if (version === undefined) throw notDocker(`GET ${path} has no ApiVersion`);
    this.#apiVersion = negotiateApiVersion(version, where);
    return version;
  }

  /**
   * Sends one request. `path` is the API path with its query
   * (`/images/json?all=1`); it gets the negotiated `/vX.Y` prefix, and the
   * first request negotiates it. Any status is returned as is; a failure to
   * connect becomes a UserError. Streaming bodies need `init.signal` to stop them.
   */
  async request(method: string, path: string, init: RequestInit = {}): Promise<Response> {
    if (this.#apiVersion === undefined) await (this.#negotiating ?? this.negotiate());
    return await this.#fetch(method, `/v${this.#apiVersion}${path}`, init);
  }

  /** `GET path` (or another method) and its JSON body; non-2xx answers throw a UserError. */
  async json(path: string, init: RequestInit = {}): Promise<unknown> {
    const method = init.method ?? "GET";
    const signals = [this.#timeout(), ...(init.signal ? [init.signal] : [])];
    const response = await this.request(method, path, {
      ...init,
      signal: AbortSignal.any(signals),
    });
    if (!response.ok) throw await responseError(this.host, method, path, response);
    return await this.readJson(response, method, path);
  }

  /**
   * The JSON body of an answer to `method path`; a UserError when it is not
   * JSON or longer than the cap (`maxBodyBytes`), whose rest is then not read.
   */
  async readJson(response: Response, method: string, path: string): Promise<unknown> {
    const where = describeDockerHost(this.host);
    let body: { bytes: Uint8Array; complete: boolean };
    try {
      body = await readBody(response, this.#maxBodyBytes);
    } catch (error) {
      throw new UserError(
        `Lost the answer of ${where} to ${method} ${path}: ${errorText(error)}`,
        ExitCode.engine,
        { cause: error },
      );
    }
    if (!body.complete) {
      throw new UserError(
        `${where} sent an answer to ${method} ${path} longer than ${this.#maxBodyBytes} bytes; ` +
          "it was not read",
        ExitCode.engine,
      );
    }
    try {
      return JSON.parse(new TextDecoder().decode(body.bytes));
    } catch (error) {
      throw new UserError(
        `${where} sent an unreadable answer to ${method} ${path}`,
        ExitCode.engine,
        { cause: error },
      );
    }
  }

  /** Releases the connection pool; closing again does nothing. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#http?.close();
  }

  #timeout(): AbortSignal {
    return AbortSignal.timeout(this.#timeoutMs);
  }

  async #fetch(method: string, path: string, init: RequestInit): Promise<Response> {
    const url = `${baseUrl(this.host)}${path}`;
    try {
      return await fetch(url, { ...init, method, ...(this.#http ? { client: this.#http } : {}) });
    } catch (error) {
      if (error instanceof DOMException && error.name === "TimeoutError") {
        throw new UserError(
          `${describeDockerHost(this.host)} did not answer ${method} ${path} within ` +
            `${this.#timeoutMs / 1000} s; is dockerd hung?`,
          ExitCode.engine,
          { cause: error },
        );
      }
      // A caller's own abort is not a fault: pass it through unchanged.
      if (init.signal?.aborted) throw error;
      throw await diagnoseConnection(this.host, error, this.#clientCertificate);
    }
  }
}
