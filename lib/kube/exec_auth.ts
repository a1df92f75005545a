/**
 * Exec credential plugins (client.authentication.k8s.io v1 and v1beta1), the
 * way kubectl runs them: the command with its args, its env added to ours and
 * `KUBERNETES_EXEC_INFO` describing the request; its stderr goes to ours (SSO
 * logins print their URL and device code there), and on a terminal it gets our
 * stdin and `interactive: true` (as `interactiveMode` allows). Its
 * ExecCredential's `status.token`, or `clientCertificateData` and
 * `clientKeyData`, are kept until `expirationTimestamp` and asked for again
 * after a 401.
 */
import { ExitCode, UserError } from "../util/errors.ts";
import type { ExecConfig } from "./config.ts";

/** Options of ExecAuth; the defaults are the real clock and terminal. */
export interface ExecAuthOptions {
  readonly now?: () => number;
  /** Whether standard input is a terminal the plugin may talk to the user on. */
  readonly stdinIsTerminal?: () => boolean;
  /** Where the plugin's stderr goes: ours (default), or piped and dropped (tests). */
  readonly stderr?: "inherit" | "null";
}

/** What a plugin gives: a bearer token, or a client certificate and key (PEM). */
export interface ExecCredential {
  readonly token?: string | undefined;
  readonly certPem?: string | undefined;
  readonly keyPem?: string | undefined;
  /** Milliseconds since the epoch; undefined: valid until a 401. */
  readonly expiresAt?: number | undefined;
}

/** The cluster as `provideClusterInfo: true` passes it to the plugin. */
export interface ExecClusterInfo {
  readonly server: string;
  readonly caPem: string | undefined;
  readonly tlsServerName: string | undefined;
  readonly skipTlsVerify: boolean;
  readonly proxyUrl?: string | undefined;
  readonly disableCompression?: boolean | undefined;
  /** The cluster's `client.authentication.k8s.io/exec` extension: the plugin's `config`. */
  readonly execExtension?: unknown;
}

const OUTPUT_LIMIT = 1024 * 1024;
const SUPPORTED = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"];

/** One user's plugin; shares one run between concurrent callers. */
export class ExecAuth {
  readonly #exec: ExecConfig;
  readonly #user: string;
  readonly #cluster: ExecClusterInfo;
  readonly #now: () => number;
  readonly #stdinIsTerminal: () => boolean;
  readonly #stderr: "inherit" | "null";
  #current: Promise<ExecCredential> | undefined;

  constructor(
    exec: ExecConfig,
    user: string,
    cluster: ExecClusterInfo,
    options: ExecAuthOptions = {},
  ) {
    if (!SUPPORTED.includes(exec.apiVersion)) {
      throw new UserError(
        `The credential plugin of user "${user}" asks for ${exec.apiVersion}, which veryfreshpod ` +
          `does not speak; use ${SUPPORTED.join(" or ")} in the kubeconfig's exec.apiVersion`,
        ExitCode.kubernetes,
      );
    }
    this.#exec = exec;
    this.#user = user;
    this.#cluster = cluster;
    this.#now = options.now ?? Date.now;
    this.#stdinIsTerminal = options.stdinIsTerminal ?? (() => Deno.stdin.isTerminal());
    this.#stderr = options.stderr ?? "inherit";
  }

  /** The current credential, running the plugin when there is none or it expired. */
  async credential(): Promise<ExecCredential> {
    const pending = this.#current;
    if (pending !== undefined) {
      // A failed run has already cleared itself; its waiters get its error.
      const credential = await pending;
      if ((credential.expiresAt ?? Infinity) > this.#now()) return credential;
      if (this.#current === pending) this.#current = undefined;
    }
    if (this.#current === undefined) {
      const run = this.#run();
      this.#current = run;
      run.catch(() => {
        if (this.#current === run) this.#current = undefined;
      });
    }
    return await this.#current;
  }

  /** Forgets the credential (after a 401), so the next call runs the plugin again. */
  invalidate(): void {
    this.#current = undefined;
  }

  async #run(): Promise<ExecCredential> {
    const exec = this.#exec;
    const name = `the credential plugin "${exec.command}" of user "${this.#user}"`;
    const interactive = this.#interactive(name);
    const cluster = this.#cluster;
    const info = {
      apiVersion: exec.apiVersion,
      kind: "ExecCredential",
      spec: {
        interactive,
        ...(exec.provideClusterInfo
          ? {
            cluster: {
              server: cluster.server,
              ...(cluster.caPem === undefined
                ? {}
                : { "certificate-authority-data": btoa(cluster.caPem) }),
              ...(cluster.tlsServerName === undefined
                ? {}
                : { "tls-server-name": cluster.tlsServerName }),
              "insecure-skip-tls-verify": cluster.skipTlsVerify,
              ...(cluster.proxyUrl === undefined ? {} : { "proxy-url": cluster.proxyUrl }),
              ...(cluster.disableCompression ? { "disable-compression": true } : {}),
              ...(cluster.execExtension === undefined ? {} : { config: cluster.execExtension }),
            },
          }
          : {}),
      },
    };
    let output: Deno.CommandOutput;
    try {
      output = await new Deno.Command(exec.command, {
        args: [...exec.args],
        env: {
          ...Object.fromEntries(exec.env.map((e) => [e.name, e.value])),
          KUBERNETES_EXEC_INFO: JSON.stringify(info),
        },
        // As kubectl: the user sees the plugin's prompts, and answers them on a terminal.
        stdin: interactive ? "inherit" : "null",
        stdout: "piped",
        stderr: this.#stderr,
      }).output();
    } catch (error) {
      const why = error instanceof Deno.errors.NotFound
        ? "not found"
        : error instanceof Deno.errors.PermissionDenied
        ? "permission denied"
        : (error instanceof Error ? error.message : String(error));
      throw new UserError(
        `Cannot run ${name}: ${why}; ${
          exec.installHint?.replaceAll("\n", " ").trim() ||
          "install it, or fix users[].user.exec.command in the kubeconfig"
        }`,
        ExitCode.kubernetes,
        { cause: error },
      );
    }
    if (!output.success) {
      throw new UserError(
        `${capitalise(name)} failed with exit code ${output.code}${
          this.#stderr === "inherit" ? " (its messages are above)" : ""
        }; run it yourself to see why`,
        ExitCode.kubernetes,
      );
    }
    return this.#parse(name, new TextDecoder().decode(output.stdout.subarray(0, OUTPUT_LIMIT)));
  }

  /** client-go's rule: a terminal and a mode that allows it; Always without one is refused. */
  #interactive(name: string): boolean {
    const mode = this.#exec.interactiveMode ?? "IfAvailable";
    if (mode === "Never") return false;
    const terminal = this.#stdinIsTerminal();
    if (mode === "Always" && !terminal) {
      throw new UserError(
        `${capitalise(name)} needs a terminal (interactiveMode: Always), and standard input ` +
          "is not one; run veryfreshpod in a terminal, or log in first so the plugin need not ask",
        ExitCode.kubernetes,
      );
    }
    return terminal;
  }

  #parse(name: string, text: string): ExecCredential {
    const bad = (detail: string) =>
      new UserError(`${capitalise(name)} ${detail}`, ExitCode.kubernetes);
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw bad("printed no ExecCredential JSON");
    }
    const status = (value as { status?: unknown } | null)?.status;
    if (typeof status !== "object" || status === null) {
      throw bad("printed an ExecCredential without a status");
    }
    const s = status as Record<string, unknown>;
    const str = (key: string) => typeof s[key] === "string" && s[key] !== "" ? s[key] : undefined;
    const token = str("token");
    const certPem = str("clientCertificateData");
    const keyPem = str("clientKeyData");
    if (token === undefined && (certPem === undefined || keyPem === undefined)) {
      throw bad("gave neither a token nor a client certificate and key");
    }
    const expiry = str("expirationTimestamp");
    const expiresAt = expiry === undefined ? undefined : Date.parse(expiry);
    return {
      token,
      certPem,
      keyPem,
      expiresAt: expiresAt !== undefined && Number.isFinite(expiresAt) ? expiresAt : undefined,
    };
  }
}

function capitalise(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}
