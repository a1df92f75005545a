/**
 * Who the client is to the API server, per request: a bearer token (given,
 * from a file that is read again as it rotates, or from an exec plugin), basic
 * auth, a client certificate, or an `auth-provider`. Only `auth-provider`
 * (oidc, gcp, azure) needs @kubernetes/client-node, which is imported then and
 * only then.
 */
import type { ClusterConfig } from "./config.ts";
import { ExecAuth } from "./exec_auth.ts";
import { ExitCode, UserError } from "../errors.ts";

/** What goes with one request. */
export interface Credentials {
  /** The Authorization header's value. */
  readonly authorization?: string | undefined;
  /** A client certificate and key (PEM), for the TLS handshake. */
  readonly certPem?: string | undefined;
  readonly keyPem?: string | undefined;
}

/** The credentials for each request, and a way to renew them after a 401. */
export interface Authenticator {
  credentials(): Promise<Credentials>;
  /** After a 401: forgets what may be stale; true when asking again may succeed. */
  refresh(): Promise<boolean>;
}

/** A token file is read again at most this often (client-go: every minute), and after a 401. */
export const TOKEN_FILE_TTL_MS = 60_000;

/** The authenticator the selected user calls for. */
export function authenticator(config: ClusterConfig, now: () => number = Date.now): Authenticator {
  const user = config.user;
  const tls = { certPem: user.certPem, keyPem: user.keyPem };
  if (user.exec !== undefined) {
    const exec = new ExecAuth(user.exec, user.name ?? "", config, now);
    return {
      async credentials() {
        const credential = await exec.credential();
        return credential.token !== undefined
          ? { ...tls, authorization: `Bearer ${credential.token}` }
          : { certPem: credential.certPem, keyPem: credential.keyPem };
      },
      refresh() {
        exec.invalidate();
        return Promise.resolve(true);
      },
    };
  }
  if (user.authProvider !== undefined) return providerAuth(config, tls);
  if (user.token !== undefined) {
    const fixed = { ...tls, authorization: `Bearer ${user.token}` };
    return { credentials: () => Promise.resolve(fixed), refresh: () => Promise.resolve(false) };
  }
  if (user.tokenFile !== undefined) return tokenFileAuth(user.tokenFile, tls, now);
  if (user.username !== undefined || user.password !== undefined) {
    const basic = btoa(
      String.fromCharCode(
        ...new TextEncoder().encode(`${user.username ?? ""}:${user.password ?? ""}`),
      ),
    );
    const fixed = { ...tls, authorization: `Basic ${basic}` };
    return { credentials: () => Promise.resolve(fixed), refresh: () => Promise.resolve(false) };
  }
  return { credentials: () => Promise.resolve(tls), refresh: () => Promise.resolve(false) };
}

function tokenFileAuth(path: string, tls: Credentials, now: () => number): Authenticator {
  let token: string | undefined;
  let readAt = -Infinity;
  const read = async () => {
    try {
      token = (await Deno.readTextFile(path)).trim();
    } catch (error) {
      throw new UserError(
        `Cannot read the token file "${path}": ${
          error instanceof Deno.errors.NotFound ? "no such file" : String(error)
        }; fix the kubeconfig's tokenFile, or mount the service account token`,
        ExitCode.kubernetes,
        { cause: error },
      );
    }
    readAt = now();
  };
  return {
    async credentials() {
      if (token === undefined || now() - readAt >= TOKEN_FILE_TTL_MS) await read();
      return { ...tls, authorization: `Bearer ${token}` };
    },
    async refresh() {
      const before = token;
      await read();
      return token !== before;
    },
  };
}

/** What auth-provider users need of client_node_config.ts (typed here: no import of it). */
interface ClientNodeConfigModule {
  clientNodeConfig(config: ClusterConfig): {
    applyAuthorizationHeader(options: { headers: Record<string, string> }): Promise<void>;
  };
}

/** `auth-provider`: client-node's own code gives the Authorization header. */
function providerAuth(config: ClusterConfig, tls: Credentials): Authenticator {
  let header: (() => Promise<string | undefined>) | undefined;
  return {
    async credentials() {
      if (header === undefined) {
        // A computed specifier keeps client-node out of run's module graph
        // (`deno info`); install's static imports keep the module in a compiled binary.
        const module = "./client_node_config.ts";
        const { clientNodeConfig } = await import(module) as ClientNodeConfigModule;
        const kube = clientNodeConfig(config);
        header = async () => {
          const options = { headers: {} as Record<string, string> };
          await kube.applyAuthorizationHeader(options);
          return options.headers.Authorization;
        };
      }
      return { ...tls, authorization: await header() };
    },
    refresh: () => Promise.resolve(false),
  };
}
