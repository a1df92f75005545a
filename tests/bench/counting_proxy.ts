/**
 * A plain-HTTP proxy on loopback in front of the test API server that counts
 * every request passing through it, by verb and resource. veryfreshpod gets a
 * kubeconfig pointing at it, so the counts are exactly its own requests (the
 * API server's metrics would mix in the controller-manager's).
 */

/** One request as counted: `PATCH deployments`, `WATCH deployments`, `CREATE events`. */
export interface CountedRequest {
  readonly key: string;
  /** performance.now() when it arrived. */
  readonly at: number;
}

/**
 * The verb and resource of an API request, kubectl-style: GET of a collection
 * is LIST, with `watch` it is WATCH, POST is CREATE, PUT is UPDATE; a
 * subresource is written `deployments/status`; other paths stay as they are.
 */
export function classify(method: string, url: string): string {
  const { pathname, searchParams } = new URL(url, "http://proxy");
  const parts = pathname.split("/").filter((part) => part !== "");
  let rest: string[] | undefined;
  if (parts[0] === "api" && parts.length >= 3) rest = parts.slice(2);
  else if (parts[0] === "apis" && parts.length >= 4) rest = parts.slice(3);
  if (!rest) return `${method.toUpperCase()} ${pathname}`;
  if (rest[0] === "namespaces" && rest.length >= 3) rest = rest.slice(2);
  const [resource, name, subresource] = rest;
  const watch = ["1", "true"].includes(searchParams.get("watch") ?? "");
  const verb = (() => {
    switch (method.toUpperCase()) {
      case "GET":
        return watch ? "WATCH" : name === undefined ? "LIST" : "GET";
      case "POST":
        return "CREATE";
      case "PUT":
        return "UPDATE";
      case "DELETE":
        return name === undefined ? "DELETECOLLECTION" : "DELETE";
      default:
        return method.toUpperCase();
    }
  })();
  return `${verb} ${resource}${subresource ? `/${subresource}` : ""}`;
}

/** Counts of requests by key. */
export function countByKey(requests: readonly CountedRequest[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const { key } of requests) counts[key] = (counts[key] ?? 0) + 1;
  return counts;
}

/** Headers that describe the upstream connection or encoding, not the content. */
const HOP_HEADERS = ["connection", "content-encoding", "content-length", "transfer-encoding"];

/** The running proxy. */
export class CountingProxy {
  /** Every request so far, in order of arrival. */
  readonly requests: CountedRequest[] = [];
  readonly url: string;
  readonly #server: Deno.HttpServer<Deno.NetAddr>;
  readonly #client: Deno.HttpClient;

  /** Listens on a free loopback port and forwards to `upstream` (https, CA in `caCert`). */
  constructor(upstream: string, caCert: string) {
    const client = Deno.createHttpClient({ caCerts: [caCert] });
    this.#client = client;
    this.#server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      async (request) => {
        this.requests.push({ key: classify(request.method, request.url), at: performance.now() });
        const url = new URL(request.url);
        const headers = new Headers(request.headers);
        headers.delete("host");
        const body = request.body ? await request.arrayBuffer() : undefined;
        try {
          const response = await fetch(`${upstream}${url.pathname}${url.search}`, {
            method: request.method,
            headers,
            body,
            client,
            redirect: "manual",
            // No request.signal: when the client goes away, Deno cancels the body
            // stream below, which ends the upstream request (a watch) as well.
          });
          const responseHeaders = new Headers(response.headers);
          for (const name of HOP_HEADERS) responseHeaders.delete(name);
          return new Response(response.body, { status: response.status, headers: responseHeaders });
        } catch (error) {
          return new Response(`proxy: ${error}`, { status: 502 });
        }
      },
    );
    this.url = `http://127.0.0.1:${this.#server.addr.port}`;
  }

  /** The requests that arrived in [from, to). */
  between(from: number, to = Infinity): CountedRequest[] {
    return this.requests.filter((request) => request.at >= from && request.at < to);
  }

  /** A kubeconfig file for the proxy with `token`; the caller removes it. */
  async writeKubeconfig(token: string): Promise<string> {
    const path = await Deno.makeTempFile({ prefix: "vfp-bench-kubeconfig-" });
    await Deno.writeTextFile(
      path,
      JSON.stringify({
        apiVersion: "v1",
        kind: "Config",
        // Plain HTTP on loopback, so that the proxy sees every request.
        clusters: [{ name: "proxy", cluster: { server: this.url } }],
        users: [{ name: "admin", user: { token } }],
        contexts: [{ name: "proxy", context: { cluster: "proxy", user: "admin" } }],
        "current-context": "proxy",
      }),
    );
    return path;
  }

  async close(): Promise<void> {
    await this.#server.shutdown();
    this.#client.close();
  }
}
