/**
 * HTTPS through Node's `https` module, for the two kubeconfig settings that
 * Deno's fetch cannot honour per client: `insecure-skip-tls-verify` (fetch
 * can skip certificate checks only for the whole process) and
 * `tls-server-name` (fetch verifies the URL's host). Imported only for a
 * cluster that sets one of them.
 */
import https from "node:https";
import { Readable } from "node:stream";
import type { ClusterConfig } from "./config.ts";
import type { Send } from "./rest.ts";

/** A `Send` over node:https with this cluster's TLS settings. */
export function nodeSend(config: ClusterConfig): { send: Send; close(): void } {
  const agent = new https.Agent({ keepAlive: true });
  const send: Send = (url, init, identity) =>
    new Promise((resolve, reject) => {
      const target = new URL(url);
      const request = https.request({
        agent,
        host: target.hostname.replace(/^\[|\]$/g, ""),
        port: target.port || 443,
        path: target.pathname + target.search,
        method: init.method,
        headers: Object.fromEntries(init.headers),
        ...(config.caPem === undefined ? {} : { ca: config.caPem }),
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
  return { send, close: () => agent.destroy() };
}
