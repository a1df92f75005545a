/**
 * The HTTP endpoint `run` serves for Kubernetes probes and Prometheus:
 * `/healthz` (alive), `/readyz` (engine connected and workloads listed) and
 * `/metrics`.
 */
import { ExitCode, UserError } from "../util/errors.ts";
import type { Metrics } from "../util/metrics.ts";

/** What the endpoint reports on. */
export interface HealthSource {
  readonly ready: boolean;
  readonly metrics: Metrics;
}

/** Parses `host:port`, `:port` or `port` (an empty host means all interfaces). */
export function parseListenAddress(text: string): { hostname: string; port: number } {
  const match = /^(?:(?:\[([0-9a-fA-F:.]+)\]|([^:\[\]]*)):)?(\d+)$/.exec(text);
  const port = match ? Number(match[3]) : NaN;
  if (!match || !(port >= 0 && port <= 65535)) {
    throw new UserError(
      `Invalid listen address "${text}": use host:port, :port or port (e.g. 127.0.0.1:8081)`,
      ExitCode.usage,
    );
  }
  const hostname = match[1] ?? (match[2] || "0.0.0.0");
  return { hostname, port };
}

/** Starts serving; the server stops when `signal` aborts. */
export function serveHealth(
  address: string,
  source: HealthSource,
  signal: AbortSignal,
): Deno.HttpServer<Deno.NetAddr> {
  const { hostname, port } = parseListenAddress(address);
  try {
    return Deno.serve({ hostname, port, signal, onListen: () => {} }, (request) => {
      const path = new URL(request.url).pathname;
      switch (path) {
        case "/healthz":
        case "/livez":
          return new Response("ok\n");
        case "/readyz":
          return source.ready ? new Response("ok\n") : new Response("not ready\n", { status: 503 });
        case "/metrics":
          return new Response(source.metrics.render(), {
            headers: { "content-type": "text/plain; version=0.0.4; charset=utf-8" },
          });
        default:
          return new Response("not found\n", { status: 404 });
      }
    });
  } catch (error) {
    const reason = error instanceof Deno.errors.AddrInUse
      ? "address already in use"
      : String(error);
    throw new UserError(
      `Cannot serve the health endpoint on "${address}": ${reason}; pick another --health-addr`,
      ExitCode.usage,
      { cause: error },
    );
  }
}
