/**
 * HTTPS through Node's `https` module, for what Deno's fetch cannot honour
 * per client: `insecure-skip-tls-verify` (fetch can skip certificate checks
 * only for the whole process), `tls-server-name` (fetch verifies the URL's
 * host) and a self-signed server certificate given as its own CA (rustls
 * refuses a CA:TRUE certificate as a server's). Its `ca` replaces the default
 * roots, as in kubectl. The proxy is client-go's choice (proxy.ts), reached
 * with HTTP CONNECT. Imported only for a cluster that needs it.
 */
import http from "node:http";
import https from "node:https";
import type { Duplex } from "node:stream";
import { Readable } from "node:stream";
import tls from "node:tls";
import { ExitCode, UserError } from "../util/errors.ts";
import type { ClusterConfig } from "./config.ts";
import type { TransportOptions } from "./fetch_transport.ts";
import { proxyFor } from "./proxy.ts";
import type { Send, Transport } from "./rest.ts";
import { fileOrText } from "./rotating_file.ts";

/** A `Send` over node:https with this cluster's TLS settings. */
export function nodeSend(
  config: ClusterConfig,
  options: TransportOptions = {},
): Transport {
  const proxy = proxyFor(config.server, config.proxyUrl, options.env ?? Deno.env.get);
  if (proxy !== undefined && proxy.protocol !== "http:") {
    throw new UserError(
      `The cluster "${config.clusterName}" in ${config.origin} is reached through the ` +
        `${proxy.protocol.slice(0, -1)} proxy ${proxy.host}, which veryfreshpod can combine with ` +
        `${reason(config)} only as an http:// proxy; use an http:// proxy, or give the ` +
        "cluster's CA and a server name its certificate carries instead",
      ExitCode.kubernetes,
    );
  }
  const caPem = fileOrText(config.caFile, config.caPem, options.now ?? Date.now);
  let roots: string[] | undefined;
  const ca = (): string | string[] | undefined => {
    const given = caPem();
    if (given !== undefined) return given;
    roots ??= options.systemRoots?.() ?? [];
    return roots.length === 0 ? undefined : roots;
  };
  const newAgent = () =>
    proxy === undefined
      ? new https.Agent({ keepAlive: true })
      : new TunnelAgent(proxy, { keepAlive: true });
  let agent = newAgent();
  const send: Send = (url, init, identity) =>
    new Promise((resolve, reject) => {
      const target = new URL(url);
      const trusted = ca();
      const request = https.request({
        agent,
        host: target.hostname.replace(/^\[|\]$/g, ""),
        port: target.port || 443,
        path: target.pathname + target.search,
        method: init.method,
        headers: Object.fromEntries(init.headers),
        ...(trusted === undefined ? {} : { ca: trusted }),
        ...(identity.certPem === undefined ? {} : { cert: identity.certPem }),
        ...(identity.keyPem === undefined ? {} : { key: identity.keyPem }),
        ...(config.tlsServerName === undefined ? {} : { servername: config.tlsServerName }),
        rejectUnauthorized: !config.skipTlsVerify,
        ...(init.signal === undefined ? {} : { signal: init.signal }),
      }, (response) => {
        const headers = new Headers();
        for (const [name, value] of Object.entries(response.headers)) {
          if (typeof value === "string") headers.set(name, value);
          else if (Array.isArray(value)) { for (const v of value) headers.append(name, v); }
        }
        const body = Readable.toWeb(response) as unknown as ReadableStream<Uint8Array>;
        resolve(new Response(body, { status: response.statusCode ?? 500, headers }));
      });
      request.on("error", reject);
      if (init.body !== undefined) request.write(init.body);
      request.end();
    });
  return {
    send,
    close: () => agent.destroy(),
    reset() {
      agent.destroy();
      agent = newAgent();
    },
  };
}

function reason(config: ClusterConfig): string {
  return config.skipTlsVerify
    ? "insecure-skip-tls-verify"
    : config.tlsServerName !== undefined
    ? "tls-server-name"
    : "a self-signed server certificate";
}

/**
 * An https.Agent whose connections are tunnels through an HTTP proxy
 * (CONNECT host:port), with TLS to the API server inside them.
 */
class TunnelAgent extends https.Agent {
  readonly #proxy: URL;

  constructor(proxy: URL, options: https.AgentOptions) {
    super(options);
    this.#proxy = proxy;
  }

  // Node takes the connection from the callback when createConnection returns nothing.
  override createConnection(
    options: http.ClientRequestArgs,
    callback?: (error: Error | null, socket: Duplex) => void,
  ): Duplex {
    const done = callback ?? (() => {});
    const fail = (error: Error) => done(error, undefined as unknown as Duplex);
    const host = options.host ?? "localhost";
    const authority = `${host.includes(":") ? `[${host}]` : host}:${options.port ?? 443}`;
    const proxy = this.#proxy;
    const headers: Record<string, string> = { host: authority };
    if (proxy.username !== "") {
      const credentials = `${decodeURIComponent(proxy.username)}:${
        decodeURIComponent(proxy.password)
      }`;
      headers["proxy-authorization"] = `Basic ${btoa(credentials)}`;
    }
    const connect = http.request({
      host: proxy.hostname.replace(/^\[|\]$/g, ""),
      port: proxy.port || 80,
      method: "CONNECT",
      path: authority,
      headers,
    });
    connect.once("connect", (response, socket) => {
      if (response.statusCode !== 200) {
        socket.destroy();
        fail(
          new Error(`the proxy ${proxy.host} refused CONNECT ${authority}: ${response.statusCode}`),
        );
        return;
      }
      const secure = tls.connect({ ...(options as tls.ConnectionOptions), socket });
      secure.once("secureConnect", () => done(null, secure));
      secure.once("error", fail);
    });
    connect.once("error", fail);
    connect.end();
    return undefined as unknown as Duplex;
  }
}
