/**
 * veryfreshpod's own small Kubernetes client: JSON requests, streaming
 * watches and plain-text reads over `fetch`, to paths the caller builds from
 * the kinds table (no discovery requests). Errors carry the HTTP status as
 * `code` and the decoded Status as `body` (what api_errors.ts reads); a
 * request that got no answer is a KubeNetworkError with a short reason.
 *
 * Every request and watch has a deadline on silence (IdleDeadline, 60 s by
 * default): a connection that died quietly ends as a KubeStalledError instead
 * of hanging until the kernel gives up. Watches ask the server to end them
 * after half to three quarters of it (the server sends a bookmark just
 * before), so a healthy watch is never silent that long.
 *
 * TLS goes through `Deno.createHttpClient` (fetch_transport.ts: the cluster's
 * CA, a client certificate, the proxy). A cluster with
 * `insecure-skip-tls-verify`, `tls-server-name` or a self-signed server
 * certificate as its CA goes through node:https instead (node_transport.ts),
 * because fetch can honour none of them per client.
 */
import { UserError } from "../util/errors.ts";
import {
  type Authenticator,
  authenticator,
  type AuthenticatorOptions,
  type Credentials,
} from "./auth.ts";
import type { ClusterConfig } from "./config.ts";
import { readWatch, type WatchEventHandler } from "./watch_stream.ts";
import { concatBytes } from "../util/bytes.ts";
import { type Clock, realClock } from "../util/clock.ts";
import { IdleDeadline } from "./idle_deadline.ts";
import { fetchTransport, type TransportOptions } from "./fetch_transport.ts";
import { isSelfSignedServer } from "./trust.ts";

export type { WatchEventHandler };

/** One HTTP exchange, as the client hands it to its transport. */
export interface SendInit {
  readonly method: string;
  readonly headers: Headers;
  readonly body?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** Sends one request with the identity (client certificate) given; the transport's one job. */
export type Send = (url: string, init: SendInit, identity: Credentials) => Promise<Response>;

/** How a client reaches its API server. */
export interface Transport {
  readonly send: Send;
  /** Closes every connection. */
  close(): void;
  /**
   * Forgets the pooled connections after one was found dead, so the next
   * requests open new ones: an HTTP/2 connection carries every request, and a
   * dead one would swallow the re-list too.
   */
  reset?(): void;
}

/** Query parameters; undefined ones are left out. */
export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

/** Options of one request. */
export interface RequestOptions {
  readonly query?: Query | undefined;
  /** Sent as JSON. */
  readonly body?: unknown;
  /** The body's content type: `application/json` unless given (patches name their kind). */
  readonly contentType?: string | undefined;
  readonly signal?: AbortSignal | undefined;
}

/** A Status as the API server sends it with an error. */
export interface KubeStatus {
  readonly kind?: string;
  readonly message?: string;
  readonly reason?: string;
  readonly code?: number;
}

/** An answer that is not 2xx: `code` is the HTTP status, `body` the Status when there was one. */
export class KubeApiError extends Error {
  constructor(readonly code: number, readonly body: KubeStatus | undefined, message: string) {
    super(message);
    this.name = "KubeApiError";
  }
}

/** No answer at all; `code` is ECONNREFUSED, ENOTFOUND, ETIMEDOUT, ECONNRESET or undefined. */
export class KubeNetworkError extends Error {
  constructor(message: string, readonly code: string | undefined, options?: ErrorOptions) {
    super(message, options);
    this.name = "KubeNetworkError";
  }
}

/**
 * No byte for the whole deadline: the connection is taken for dead. The
 * request is not retried here; a watch loop lists again.
 */
export class KubeStalledError extends KubeNetworkError {
  constructor(readonly ms: number) {
    super(`no data for ${ms / 1000} s: the connection seems dead`, "ETIMEDOUT");
    this.name = "KubeStalledError";
  }
}

/** How long a request or a watch may stay silent (client-go notices a dead connection in ~45 s). */
export const API_TIMEOUT_MS = 60_000;

/** Options of KubeClient: the authenticator's, and the deadline on silence with its clock. */
export interface KubeClientOptions extends AuthenticatorOptions, TransportOptions {
  readonly clock?: Clock;
  readonly apiTimeoutMs?: number;
}

/** The most of an error answer that is read: it only decorates a message. */
const MAX_ERROR_BODY = 64 * 1024;

/** A client for one cluster. `close()` releases its connections. */
export class KubeClient {
  readonly #config: ClusterConfig;
  readonly #send: Send;
  readonly #transport: Transport;
  readonly #auth: Authenticator;
  readonly #clock: Clock;
  readonly #timeoutMs: number;

  /** The client for a loaded configuration; a UserError when its TLS material is unusable. */
  static async create(
    config: ClusterConfig,
    options: KubeClientOptions = {},
  ): Promise<KubeClient> {
    const https = config.server.startsWith("https:");
    // Deno's fetch can neither skip verification nor check another name per client, and
    // refuses a CA:TRUE certificate as the server's own: those go through node:https.
    const viaNode = https &&
      (config.skipTlsVerify || config.tlsServerName !== undefined ||
        isSelfSignedServer(config.caPem, config.server));
    // No CA in the kubeconfig: the system's trust store (node:tls loaded only then).
    let systemRoots = options.systemRoots;
    if (https && config.caPem === undefined && systemRoots === undefined) {
      const roots = (await import("./system_roots.ts")).systemRoots();
      systemRoots = () => roots;
    }
    const transportOptions = {
      ...options,
      now: options.now ?? options.clock?.now.bind(options.clock) ?? Date.now,
      ...(systemRoots === undefined ? {} : { systemRoots }),
    };
    const transport = viaNode
      ? (await import("./node_transport.ts")).nodeSend(config, transportOptions)
      : fetchTransport(config, transportOptions);
    const now = options.now ?? options.clock?.now.bind(options.clock);
    const auth = authenticator(config, { ...options, ...(now ? { now } : {}) });
    return new KubeClient(config, transport, auth, options);
  }

  constructor(
    config: ClusterConfig,
    transport: Transport,
    auth: Authenticator,
    options: { readonly clock?: Clock; readonly apiTimeoutMs?: number } = {},
  ) {
    this.#config = config;
    this.#send = transport.send;
    this.#transport = transport;
    this.#auth = auth;
    this.#clock = options.clock ?? realClock;
    this.#timeoutMs = options.apiTimeoutMs ?? API_TIMEOUT_MS;
  }

  /** The API server's URL, for messages. */
  get server(): string {
    return this.#config.server;
  }

  /**
   * Gets the credentials the requests will carry (runs an exec plugin when
   * there is one), so that a start check can time the API server apart from
   * a login that waits for the user.
   */
  async authenticate(): Promise<void> {
    await this.#auth.credentials();
  }

  /** A JSON request; resolves to the decoded answer. */
  json<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    return this.#exchange(options, async (deadline) => {
      const response = await this.#request(method, path, options, "application/json", deadline);
      return await response.json() as T;
    });
  }

  /** A GET whose answer is plain text (a container's log). */
  text(path: string, options: RequestOptions = {}): Promise<string> {
    return this.#exchange(options, async (deadline) => {
      const response = await this.#request("GET", path, options, "text/plain, */*", deadline);
      return await response.text();
    });
  }

  /** A dead connection: the transport opens new ones from now on. */
  #stalled(ms: number): KubeStalledError {
    this.#transport.reset?.();
    return new KubeStalledError(ms);
  }

  /** Runs one exchange under a deadline on silence; its expiry becomes a KubeStalledError. */
  async #exchange<T>(
    options: RequestOptions,
    work: (deadline: IdleDeadline) => Promise<T>,
  ): Promise<T> {
    const deadline = new IdleDeadline(this.#clock, this.#timeoutMs);
    try {
      return await work(deadline);
    } catch (error) {
      if (deadline.expired && !options.signal?.aborted) throw this.#stalled(deadline.ms);
      throw error;
    } finally {
      deadline.stop();
    }
  }

  /**
   * Watches `path` (a collection) with `query` (resourceVersion,
   * labelSelector, timeoutSeconds, …), calling `onEvent` for each event, an
   * ERROR event included. Resolves when the server ends the watch or `signal`
   * aborts; rejects with a KubeApiError when the watch is refused (410 Gone
   * for a resourceVersion too old) and when the stream breaks.
   */
  async watch(
    path: string,
    query: Query,
    signal: AbortSignal,
    onEvent: WatchEventHandler,
  ): Promise<void> {
    if (signal.aborted) return;
    // The server ends the watch after a while (with a bookmark just before, so the next one
    // resumes from there); a watch silent for the whole deadline is on a dead connection.
    const ms = this.#timeoutMs;
    const timeoutSeconds = Math.max(1, Math.round((ms / 1000) * (0.5 + Math.random() / 4)));
    await this.#exchange({ signal }, async (deadline) => {
      const stopped = AbortSignal.any([signal, deadline.signal]);
      let response: Response;
      try {
        response = await this.#request(
          "GET",
          path,
          { query: { ...query, timeoutSeconds, watch: 1 }, signal },
          "application/json",
          deadline,
        );
      } catch (error) {
        if (signal.aborted) return;
        throw error;
      }
      if (response.body === null) return;
      try {
        await readWatch(response.body, stopped, onEvent, undefined, () => deadline.touch());
      } catch (error) {
        if (stopped.aborted) return;
        throw networkError(error, this.server);
      } finally {
        // Held until the read ends: Deno leaves a pending read of the body of a
        // Response nothing holds hanging after an abort (see docs/decisions.md).
        void response.bodyUsed;
      }
      if (deadline.expired && !signal.aborted) throw this.#stalled(ms);
    });
  }

  /** Closes the connections. */
  close(): void {
    this.#transport.close();
  }

  async #request(
    method: string,
    path: string,
    options: RequestOptions,
    accept: string,
    deadline: IdleDeadline,
  ): Promise<Response> {
    const url = `${this.#config.server}${path}${queryString(options.query)}`;
    const body = options.body === undefined ? undefined : JSON.stringify(options.body);
    for (let attempt = 0;; attempt++) {
      const credentials = await this.#auth.credentials();
      const headers = new Headers({ Accept: accept, "User-Agent": "veryfreshpod" });
      if (body !== undefined) {
        headers.set("Content-Type", options.contentType ?? "application/json");
      }
      if (credentials.authorization !== undefined) {
        headers.set("Authorization", credentials.authorization);
      }
      impersonationHeaders(this.#config.user, headers);
      // client-go's DisableCompression: no Accept-Encoding (fetch would add gzip, br).
      if (this.#config.disableCompression) headers.set("Accept-Encoding", "identity");
      // Armed after the credentials: an exec plugin may wait for the user.
      deadline.arm();
      const signal = options.signal === undefined
        ? deadline.signal
        : AbortSignal.any([options.signal, deadline.signal]);
      let response: Response;
      try {
        response = await this.#send(url, { method, headers, body, signal }, {
          certPem: credentials.certPem,
          keyPem: credentials.keyPem,
        });
      } catch (error) {
        if (options.signal?.aborted || deadline.expired) throw error;
        throw networkError(error, this.server);
      }
      deadline.touch();
      if (response.ok) return response;
      // A rotated token or an expired plugin credential: renew once and ask again.
      if (response.status === 401 && attempt === 0 && await this.#auth.refresh()) {
        await response.body?.cancel();
        continue;
      }
      throw await apiError(method, path, response);
    }
  }
}

/** client-go's impersonation headers for `as`, `as-groups`, `as-uid` and `as-user-extra`. */
function impersonationHeaders(user: ClusterConfig["user"], headers: Headers): void {
  if (user.impersonate !== undefined) headers.set("Impersonate-User", user.impersonate);
  for (const group of user.impersonateGroups ?? []) headers.append("Impersonate-Group", group);
  if (user.impersonateUid !== undefined) headers.set("Impersonate-Uid", user.impersonateUid);
  for (const [key, values] of Object.entries(user.impersonateExtra ?? {})) {
    // Header names cannot carry every character a key may: client-go escapes them so.
    const name = `Impersonate-Extra-${encodeURIComponent(key)}`;
    for (const value of values) headers.append(name, value);
  }
}

/** A client that closes itself at the end of an `await using` block. */
export async function kubeClient(
  config: ClusterConfig,
  options: KubeClientOptions = {},
): Promise<KubeClient & AsyncDisposable> {
  const client = await KubeClient.create(config, options);
  return Object.assign(client, {
    [Symbol.asyncDispose]: () => Promise.resolve(client.close()),
  });
}

function queryString(query: Query | undefined): string {
  if (query === undefined) return "";
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) params.set(name, String(value));
  }
  const text = params.toString();
  return text === "" ? "" : `?${text}`;
}

async function apiError(method: string, path: string, response: Response): Promise<KubeApiError> {
  let text = "";
  try {
    const reader = response.body?.getReader();
    const parts: Uint8Array[] = [];
    let size = 0;
    while (reader !== undefined && size < MAX_ERROR_BODY) {
      const { done, value } = await reader.read();
      if (done) break;
      parts.push(value);
      size += value.length;
    }
    await reader?.cancel();
    text = new TextDecoder().decode(concatBytes(parts)).slice(0, MAX_ERROR_BODY);
  } catch {
    // The message is enough without the body.
  }
  let status: KubeStatus | undefined;
  try {
    const value = JSON.parse(text);
    if (typeof value === "object" && value !== null) status = value as KubeStatus;
  } catch {
    // not a Status
  }
  const detail = status?.message || firstLine(text) || response.statusText;
  return new KubeApiError(
    response.status,
    status,
    `${method} ${path}: ${response.status}${detail ? ` ${detail}` : ""}`,
  );
}

/** A fetch failure as a KubeNetworkError with a short reason. */
export function networkError(error: unknown, server: string): unknown {
  if (error instanceof KubeApiError || error instanceof UserError) return error;
  if (error instanceof KubeNetworkError) return error;
  const text = causeText(error);
  const known: [RegExp, string | undefined, string][] = [
    [/connection refused|ECONNREFUSED/i, "ECONNREFUSED", "connection refused"],
    [/dns error|failed to lookup|ENOTFOUND|EAI_AGAIN/i, "ENOTFOUND", "host not found"],
    [/timed out|ETIMEDOUT/i, "ETIMEDOUT", "timed out"],
    [/connection reset|ECONNRESET|broken pipe/i, "ECONNRESET", "connection reset"],
    [
      /certificate|UnknownIssuer|NotValidForName|altnames|self[- ]signed/i,
      undefined,
      `the server's TLS certificate was not accepted (${lastPart(text)}); check ` +
      "certificate-authority(-data) and the server's name in the kubeconfig",
    ],
  ];
  for (const [pattern, code, message] of known) {
    if (pattern.test(text)) return new KubeNetworkError(message, code, { cause: error });
  }
  return new KubeNetworkError(`no answer from ${server}: ${lastPart(text)}`, undefined, {
    cause: error,
  });
}

/** The messages of an error and its causes (fetch puts the detail in `cause`). */
function causeText(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let i = 0; current !== undefined && current !== null && i < 5; i++) {
    parts.push(current instanceof Error ? current.message : String(current));
    const code = (current as { code?: unknown }).code;
    if (typeof code === "string") parts.push(code);
    current = current instanceof Error ? current.cause : undefined;
  }
  return parts.join(": ");
}

/** `invalid peer certificate: UnknownIssuer` out of a long chain of messages. */
function lastPart(text: string): string {
  const parts = text.split(": ").filter((p) => !/^(fetch failed|error sending request)/.test(p));
  return parts.slice(-2).join(": ") || text;
}

function firstLine(value: unknown): string {
  const text = value instanceof Error ? value.message : String(value);
  return text.split("\n")[0] ?? "";
}
