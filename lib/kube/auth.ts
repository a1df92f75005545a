/**
 * Who the client is to the API server, per request, in client-go's order: a
 * bearer token (`tokenFile`, read again as it rotates, wins over `token`),
 * basic auth, a client certificate (its files read again as they rotate);
 * only when none of these is set, an exec plugin; else an `auth-provider`.
 * Only `auth-provider` (oidc, gcp, azure) needs @kubernetes/client-node, which
 * is imported then and only then.
 */
import type { ClusterConfig } from "./config.ts";
import { ExecAuth } from "./exec_auth.ts";
import { ExitCode, UserError } from "../util/errors.ts";
import { FILE_TTL_MS, fileOrText } from "./rotating_file.ts";

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
export const TOKEN_FILE_TTL_MS = FILE_TTL_MS;

/** Options of `authenticator`. */
export interface AuthenticatorOptions {
  readonly now?: () => number;
  /** Whether standard input is a terminal, for interactive exec plugins (tests). */
  readonly stdinIsTerminal?: () => boolean;
}

/** The authenticator the selected user calls for. */
export function authenticator(
  config: ClusterConfig,
  options: AuthenticatorOptions = {},
): Authenticator {
  const now = options.now ?? Date.now;
  const user = config.user;
  const certPem = fileOrText(user.certFile, user.certPem, now);
  const keyPem = fileOrText(user.keyFile, user.keyPem, now);
  const tls = (force = false): Credentials => ({ certPem: certPem(force), keyPem: keyPem(force) });
  const fixed = (authorization: string | undefined): Authenticator => ({
    credentials: () => Promise.resolve({ ...tls(), authorization }),
    refresh() {
      // A rotated certificate may be what the server now wants.
      const before = tls();
      const after = tls(true);
      return Promise.resolve(before.certPem !== after.certPem || before.keyPem !== after.keyPem);
    },
  });
  if (user.tokenFile !== undefined) return tokenFileAuth(user.tokenFile, tls, now);
  if (user.token !== undefined) return fixed(`Bearer ${user.token}`);
  if (user.username !== undefined || user.password !== undefined) {
    const basic = btoa(
      String.fromCharCode(
        ...new TextEncoder().encode(`${user.username ?? ""}:${user.password ?? ""}`),
      ),
    );
    return fixed(`Basic ${basic}`);
  }
  // client-go: a client certificate in the kubeconfig means the plugin is not run.
  if (user.certPem !== undefined || user.keyPem !== undefined) return fixed(undefined);
  if (user.exec !== undefined) {
    const exec = new ExecAuth(user.exec, user.name ?? "", config, {
      now,
      ...(options.stdinIsTerminal ? { stdinIsTerminal: options.stdinIsTerminal } : {}),
    });
    return {
      async credentials() {
        const credential = await exec.credential();
        return credential.token !== undefined
          ? { authorization: `Bearer ${credential.token}` }
          : { certPem: credential.certPem, keyPem: credential.keyPem };
      },
      refresh() {
        exec.invalidate();
        return Promise.resolve(true);
      },
    };
  }
  if (user.authProvider !== undefined) return providerAuth(config, tls());
  return fixed(undefined);
}

function tokenFileAuth(
  path: string,
  tls: (force?: boolean) => Credentials,
  now: () => number,
): Authenticator {
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
      return { ...tls(), authorization: `Bearer ${token}` };
    },
    async refresh() {
      const before = token;
      const identity = tls();
      await read();
      const rotated = tls(true);
      return token !== before || rotated.certPem !== identity.certPem ||
        rotated.keyPem !== identity.keyPem;
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
