/**
 * The API server over Deno's fetch: one HttpClient per TLS identity and CA
 * (exec plugins may hand out new certificates; CA and certificate files are
 * read again as they rotate), the proxy chosen as client-go chooses it
 * (proxy.ts), and the operating system's trust store when the kubeconfig
 * names no CA (trust.ts).
 */
import { ExitCode, UserError } from "../util/errors.ts";
import type { Credentials } from "./auth.ts";
import type { ClusterConfig } from "./config.ts";
import { proxyFor, withoutProxyEnvironment } from "./proxy.ts";
import type { Transport } from "./rest.ts";
import { fileOrText } from "./rotating_file.ts";

const RETIRED_CLIENT_CLOSE_MS = 5 * 60_000;

/** What the transport reads of the process: its environment, the clock, the trust store. */
export interface TransportOptions {
  readonly env?: (name: string) => string | undefined;
  readonly now?: () => number;
  /** The operating system's trust store, for a cluster without a CA (KubeClient reads it). */
  readonly systemRoots?: () => string[];
}

/** A `Send` over fetch for this cluster. */
export function fetchTransport(
  config: ClusterConfig,
  options: TransportOptions = {},
): Transport {
  const caPem = fileOrText(config.caFile, config.caPem, options.now ?? Date.now);
  const proxy = proxyFor(config.server, config.proxyUrl, options.env ?? Deno.env.get);
  let roots: string[] | undefined;
  const trusted = (): string[] => {
    const ca = caPem();
    if (ca !== undefined) return [ca];
    roots ??= options.systemRoots?.() ?? [];
    return roots;
  };
  const clients = new Map<string, Deno.HttpClient>();
  const clientFor = (identity: Credentials): Deno.HttpClient => {
    const ca = trusted();
    const key = `${ca.join("")}\0${identity.certPem ?? ""}\0${identity.keyPem ?? ""}`;
    let client = clients.get(key);
    if (client === undefined) {
      client = makeHttpClient(config, identity, ca, proxy);
      clients.set(key, client);
    }
    return client;
  };
  // Fail at start, in one line, when the kubeconfig's own TLS material is unusable.
  if (config.server.startsWith("https:")) {
    clientFor({ certPem: config.user.certPem, keyPem: config.user.keyPem });
  }
  return {
    send: (url, init, identity) => fetch(url, { ...init, client: clientFor(identity) }),
    close() {
      for (const client of clients.values()) client.close();
      clients.clear();
    },
    reset() {
      // New HttpClients, new connections. The old ones are closed once every request they
      // may still carry is over (a watch lasts at most 45 s, a request 60 s of silence).
      const old = [...clients.values()];
      clients.clear();
      Deno.unrefTimer(setTimeout(() => {
        for (const client of old) client.close();
      }, RETIRED_CLIENT_CLOSE_MS));
    },
  };
}

/** Deno's proxy option for a proxy URL: its credentials as basicAuth, its scheme as transport. */
function denoProxy(proxy: URL): Deno.Proxy {
  const basicAuth = proxy.username === "" ? undefined : {
    username: decodeURIComponent(proxy.username),
    password: decodeURIComponent(proxy.password),
  };
  const bare = new URL(proxy.href);
  bare.username = "";
  bare.password = "";
  const transport = proxy.protocol === "https:"
    ? "https" as const
    : proxy.protocol.startsWith("socks5")
    ? "socks5" as const
    : undefined;
  return {
    url: bare.href.replace(/\/$/, ""),
    ...(transport ? { transport } : {}),
    ...(basicAuth ? { basicAuth } : {}),
  };
}

function makeHttpClient(
  config: ClusterConfig,
  identity: Credentials,
  caCerts: string[],
  proxy: URL | undefined,
): Deno.HttpClient {
  const options: Deno.CreateHttpClientOptions = {
    ...(caCerts.length === 0 ? {} : { caCerts }),
    ...(proxy === undefined ? {} : { proxy: denoProxy(proxy) }),
  };
  const hasCert = identity.certPem !== undefined || identity.keyPem !== undefined;
  if (hasCert && (identity.certPem === undefined || identity.keyPem === undefined)) {
    throw new UserError(
      `The user "${config.user.name}" in ${config.origin} has a client certificate without ` +
        "its key, or a key without its certificate; set both (client-certificate and client-key)",
      ExitCode.kubernetes,
    );
  }
  const all = hasCert ? { ...options, cert: identity.certPem!, key: identity.keyPem! } : options;
  try {
    // Direct: fetch would otherwise take HTTPS_PROXY for loopback servers, and ALL_PROXY.
    return proxy === undefined
      ? withoutProxyEnvironment(() => Deno.createHttpClient(all))
      : Deno.createHttpClient(all);
  } catch (error) {
    throw new UserError(
      `Cannot use the TLS settings of context "${config.contextName}" in ${config.origin}: ${
        (error instanceof Error ? error.message : String(error)).split("\n")[0]
      }; check certificate-authority, client-certificate and client-key`,
      ExitCode.kubernetes,
      { cause: error },
    );
  }
}
