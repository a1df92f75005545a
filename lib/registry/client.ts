/**
 * A small client of the registry HTTP API (distribution spec v2) for what a
 * push needs: ask whether a blob is there (HEAD), upload one (POST, then one
 * PUT with the whole content), put a manifest. Authentication as the docker
 * CLI does it: the first request goes without, and a 401 says how
 * (`WWW-Authenticate: Basic` or `Bearer realm=…,service=…,scope=…`); a bearer
 * token is fetched from the realm with the credentials, cached per scope, and
 * fetched again when it stops working.
 *
 * Plain HTTP for loopback registries, HTTPS for every other: Docker treats
 * 127.0.0.0/8 (and so `localhost`) as insecure by default and nothing else.
 */
import { errorMessage } from "../util/errors.ts";
import type { CredentialLookup } from "./credentials.ts";

/** Why a registry request failed; `kind` decides the wording and whether retrying can help. */
export type RegistryFailure = "unreachable" | "unauthorized" | "forbidden" | "refused";

export class RegistryError extends Error {
  override readonly name = "RegistryError";
  constructor(readonly kind: RegistryFailure, message: string, options?: ErrorOptions) {
    super(message, options);
  }
}

export interface RegistryClientOptions {
  /** The credentials the docker CLI would use for the host; asked once, on the first 401. */
  readonly credentials: () => Promise<CredentialLookup>;
  /** `http` or `https`; by default from the host (registryScheme). */
  readonly scheme?: "http" | "https";
  /** How long one request may take before the registry counts as not answering. */
  readonly timeoutMs?: number;
}

/** HTTP for loopback hosts (Docker's default insecure range), HTTPS otherwise. */
export function registryScheme(host: string): "http" | "https" {
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.split(":")[0]!;
  const lower = name.toLowerCase();
  if (lower === "localhost" || lower.endsWith(".localhost") || lower === "::1") return "http";
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(lower) ? "http" : "https";
}

/** A bearer challenge's parameters (realm, service, scope), or basic. */
type Challenge = { scheme: "basic" } | { scheme: "bearer"; params: Record<string, string> };

/** Parses `WWW-Authenticate`; undefined for a scheme it does not know. */
export function parseChallenge(header: string | null): Challenge | undefined {
  if (header === null) return undefined;
  const match = /^\s*(\w+)\s*(.*)$/s.exec(header);
  if (match === null) return undefined;
  const scheme = match[1]!.toLowerCase();
  if (scheme === "basic") return { scheme: "basic" };
  if (scheme !== "bearer") return undefined;
  const params: Record<string, string> = {};
  for (const part of match[2]!.matchAll(/(\w+)="((?:[^"\\]|\\.)*)"|(\w+)=([^,\s]*)/g)) {
    const key = (part[1] ?? part[3])!.toLowerCase();
    params[key] = (part[2] ?? part[4] ?? "").replace(/\\(.)/g, "$1");
  }
  return { scheme: "bearer", params };
}

/** A request body that can be made again (a retry after a token expired). */
type Body = () => BodyInit | null;

export class RegistryClient {
  readonly host: string;
  readonly baseUrl: string;
  readonly #options: RegistryClientOptions;
  #lookup: Promise<CredentialLookup> | undefined;
  #challenge: Challenge | undefined;
  /** Bearer tokens by scope. */
  readonly #tokens = new Map<string, string>();
  /** Bytes of blob content uploaded so far. */
  bytesSent = 0;

  constructor(host: string, options: RegistryClientOptions) {
    this.host = host;
    this.#options = options;
    this.baseUrl = `${options.scheme ?? registryScheme(host)}://${host}`;
  }

  /** Whether the repository holds the blob. */
  async hasBlob(repository: string, digest: string, signal?: AbortSignal): Promise<boolean> {
    const response = await this.#send(repository, "HEAD", `blobs/${digest}`, {}, signal);
    await response.body?.cancel();
    if (response.status === 404) return false;
    if (response.ok) return true;
    throw await this.#failure("HEAD", `blobs/${digest}`, response, repository);
  }

  /**
   * Uploads one blob: POST opens the upload, one PUT sends the content and
   * names the digest, which the registry checks.
   */
  async uploadBlob(
    repository: string,
    blob: { digest: string; size: number; chunks: () => AsyncIterable<Uint8Array> },
    signal?: AbortSignal,
  ): Promise<void> {
    const opened = await this.#send(repository, "POST", "blobs/uploads/", {}, signal);
    await opened.body?.cancel();
    if (opened.status !== 202) {
      throw await this.#failure("POST", "blobs/uploads/", opened, repository);
    }
    const location = opened.headers.get("location");
    if (location === null) {
      throw new RegistryError("refused", `${this.host} opened an upload without a Location`);
    }
    const url = new URL(location, this.baseUrl);
    url.searchParams.set("digest", blob.digest);
    let sent = 0;
    const body = () =>
      ReadableStream.from(
        (async function* (chunks) {
          sent = 0;
          for await (const chunk of chunks) {
            sent += chunk.length;
            yield chunk;
          }
        })(blob.chunks()),
      );
    const response = await this.#send(repository, "PUT", url.href, {
      body,
      headers: { "content-type": "application/octet-stream" },
    }, signal);
    await response.body?.cancel();
    if (response.status !== 201) {
      throw await this.#failure("PUT", `blobs/${blob.digest}`, response, repository);
    }
    this.bytesSent += sent;
  }

  /** Puts a manifest under `reference` (a tag or its digest); returns the digest the registry gives. */
  async putManifest(
    repository: string,
    reference: string,
    manifest: { mediaType: string; bytes: Uint8Array },
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const path = `manifests/${reference}`;
    const response = await this.#send(repository, "PUT", path, {
      body: () => manifest.bytes.slice(),
      headers: { "content-type": manifest.mediaType },
    }, signal);
    await response.body?.cancel();
    if (response.status !== 201) throw await this.#failure("PUT", path, response, repository);
    return response.headers.get("docker-content-digest") ?? undefined;
  }

  /** The digest the registry has under `reference`, or undefined when it has none. */
  async manifestDigest(
    repository: string,
    reference: string,
    signal?: AbortSignal,
  ): Promise<string | undefined> {
    const path = `manifests/${reference}`;
    const accept = [
      "application/vnd.oci.image.index.v1+json",
      "application/vnd.oci.image.manifest.v1+json",
      "application/vnd.docker.distribution.manifest.list.v2+json",
      "application/vnd.docker.distribution.manifest.v2+json",
    ].join(", ");
    const response = await this.#send(repository, "HEAD", path, { headers: { accept } }, signal);
    await response.body?.cancel();
    if (response.status === 404) return undefined;
    if (!response.ok) throw await this.#failure("HEAD", path, response, repository);
    return response.headers.get("docker-content-digest") ?? undefined;
  }

  /**
   * One request to `/v2/<repository>/<path>` (or an absolute URL the registry
   * gave), authenticated as the last challenge asked; after a 401 it learns
   * the challenge, gets credentials and tries once more.
   */
  async #send(
    repository: string,
    method: string,
    path: string,
    init: { body?: Body; headers?: Record<string, string> },
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    const url = /^https?:\/\//.test(path) ? path : `${this.baseUrl}/v2/${repository}/${path}`;
    const scope = `repository:${repository}:pull,push`;
    let response = await this.#fetch(url, method, init, scope, signal);
    if (response.status !== 401) return response;
    await response.body?.cancel();
    const challenge = parseChallenge(response.headers.get("www-authenticate"));
    if (challenge === undefined) return response;
    this.#challenge = challenge;
    this.#tokens.delete(scope);
    response = await this.#fetch(url, method, init, scope, signal);
    return response;
  }

  async #fetch(
    url: string,
    method: string,
    init: { body?: Body; headers?: Record<string, string> },
    scope: string,
    signal: AbortSignal | undefined,
  ): Promise<Response> {
    const headers = new Headers(init.headers);
    const authorization = await this.#authorization(scope, signal);
    if (authorization !== undefined) headers.set("authorization", authorization);
    try {
      return await fetch(url, {
        method,
        headers,
        body: init.body?.() ?? null,
        signal: this.#deadline(signal),
        redirect: "follow",
      });
    } catch (error) {
      throw this.#unreachable(error);
    }
  }

  /** The Authorization header the last challenge calls for, or undefined. */
  async #authorization(scope: string, signal: AbortSignal | undefined) {
    const challenge = this.#challenge;
    if (challenge === undefined) return undefined;
    const { credentials } = await this.#credentials();
    if (challenge.scheme === "basic") {
      return credentials === undefined ? undefined : basic(credentials);
    }
    const cached = this.#tokens.get(scope);
    if (cached !== undefined) return `Bearer ${cached}`;
    const { realm, service } = challenge.params;
    if (realm === undefined) {
      throw new RegistryError("refused", `${this.host} asked for a bearer token without a realm`);
    }
    const tokenUrl = new URL(realm);
    if (service !== undefined) tokenUrl.searchParams.set("service", service);
    tokenUrl.searchParams.set("scope", scope);
    const headers = new Headers();
    if (credentials !== undefined) headers.set("authorization", basic(credentials));
    let response: Response;
    try {
      response = await fetch(tokenUrl, { headers, signal: this.#deadline(signal) });
    } catch (error) {
      throw this.#unreachable(error, ` (token service ${tokenUrl.origin})`);
    }
    if (!response.ok) {
      await response.body?.cancel();
      const kind = response.status === 403 ? "forbidden" : "unauthorized";
      const phrase = await this.#sourcePhrase();
      this.#lookup = undefined;
      throw new RegistryError(
        kind,
        `the token service of ${this.host} (${tokenUrl.origin}) refused ${phrase}: ` +
          `HTTP ${response.status}`,
      );
    }
    const body = await response.json().catch(() => ({})) as Record<string, unknown>;
    const token = body.token ?? body.access_token;
    if (typeof token !== "string" || token === "") {
      throw new RegistryError("refused", `the token service of ${this.host} sent no token`);
    }
    this.#tokens.set(scope, token);
    return `Bearer ${token}`;
  }

  #credentials(): Promise<CredentialLookup> {
    this.#lookup ??= this.#options.credentials();
    return this.#lookup;
  }

  async #sourcePhrase(): Promise<string> {
    const lookup = await this.#credentials();
    return lookup.credentials === undefined
      ? `an anonymous request (${lookup.source})`
      : `the credentials from ${lookup.source}`;
  }

  #deadline(signal: AbortSignal | undefined): AbortSignal {
    const timeout = AbortSignal.timeout(this.#options.timeoutMs ?? 120_000);
    return signal === undefined ? timeout : AbortSignal.any([signal, timeout]);
  }

  #unreachable(error: unknown, where = ""): RegistryError {
    if (error instanceof RegistryError) return error;
    const cause = error instanceof Error && error.cause instanceof Error ? error.cause : error;
    let why = errorMessage(cause).split("\n")[0]!;
    if (/InvalidContentType|wrong version number|http response to https/i.test(why)) {
      why += `; it seems to speak plain HTTP, which veryfreshpod uses only for loopback hosts`;
    }
    return new RegistryError(
      "unreachable",
      `registry ${this.baseUrl}${where} does not answer: ${why}`,
      { cause: error },
    );
  }

  async #failure(
    method: string,
    path: string,
    response: Response,
    repository: string,
  ): Promise<RegistryError> {
    const what = `${method} ${this.host}/${repository} ${path.replace(/\?.*$/, "")}`;
    if (response.status === 401 || response.status === 403) {
      const kind = response.status === 401 ? "unauthorized" : "forbidden";
      const verb = response.status === 401 ? "refused" : "forbade";
      const phrase = await this.#sourcePhrase();
      // Read the credentials again next time: the user may log in meanwhile.
      this.#lookup = undefined;
      this.#tokens.clear();
      return new RegistryError(
        kind,
        `registry ${this.host} ${verb} ${phrase} (HTTP ${response.status}); ` +
          "run docker login " + this.host + " with an account that may push to " + repository,
      );
    }
    let detail = "";
    try {
      const body = JSON.parse(await response.text()) as { errors?: { message?: string }[] };
      detail = body.errors?.map((e) => e.message).filter(Boolean).join("; ") ?? "";
    } catch {
      // No JSON error body: the status says enough.
    }
    return new RegistryError(
      "refused",
      `${what}: HTTP ${response.status}${detail ? ` (${detail})` : ""}`,
    );
  }
}

function basic(credentials: { username: string; password: string }): string {
  const bytes = new TextEncoder().encode(`${credentials.username}:${credentials.password}`);
  return `Basic ${btoa(String.fromCharCode(...bytes))}`;
}
