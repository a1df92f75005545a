/**
 * Finds and loads the Kubernetes client configuration the way kubectl does:
 * `--kubeconfig`, else every existing file in `$KUBECONFIG` (merged as kubectl
 * merges them: the first file to set a name or the current context wins),
 * else `~/.kube/config`, else the in-cluster service account. The result is
 * plain data for the selected context, with every file it names already read
 * (paths relative to the kubeconfig's own directory). Every failure is a
 * one-line UserError that names the fix.
 *
 * No Kubernetes client is loaded here: `run` talks to the API server with its
 * own small client (rest.ts). The YAML parser is js-yaml, the one
 * @kubernetes/client-node wraps.
 */
// @ts-types="npm:@types/js-yaml@4.0.9"
import yaml from "js-yaml";
import { ExitCode, UserError } from "../errors.ts";
import { exists } from "../exists.ts";

/** Where to look, from flags and environment. */
export interface KubeConfigOptions {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  readonly env: (name: string) => string | undefined;
  /** The service account's directory (tests); default the one Kubernetes mounts. */
  readonly serviceAccountDir?: string;
}

/** An exec credential plugin, as the kubeconfig's `user.exec` names it. */
export interface ExecConfig {
  readonly apiVersion: string;
  /** Resolved against the kubeconfig's directory when it is a relative path with a `/`. */
  readonly command: string;
  readonly args: readonly string[];
  readonly env: readonly { readonly name: string; readonly value: string }[];
  readonly installHint: string | undefined;
  readonly provideClusterInfo: boolean;
}

/** How to authenticate: whatever the selected user sets. */
export interface UserConfig {
  /** The user's name in the kubeconfig, for messages. */
  readonly name: string | undefined;
  readonly token?: string | undefined;
  /** Read again while running: service-account tokens rotate. */
  readonly tokenFile?: string | undefined;
  readonly certPem?: string | undefined;
  readonly keyPem?: string | undefined;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly exec?: ExecConfig | undefined;
  /** `auth-provider` (oidc, gcp, azure): handled by @kubernetes/client-node, loaded only then. */
  readonly authProvider?: { readonly name: string; readonly config?: Record<string, string> };
  /** `as`: the user to impersonate. */
  readonly impersonate?: string | undefined;
}

/** The selected context, ready to talk to its cluster. */
export interface ClusterConfig {
  readonly contextName: string;
  readonly clusterName: string;
  readonly namespace: string | undefined;
  /** `https://host:port`, without a trailing slash. */
  readonly server: string;
  /** The CA bundle to verify the server with (PEM); undefined: the system's roots. */
  readonly caPem: string | undefined;
  readonly skipTlsVerify: boolean;
  readonly tlsServerName: string | undefined;
  readonly proxyUrl: string | undefined;
  readonly user: UserConfig;
  /** What the configuration came from, for messages: `kubeconfig "…"` or the in-cluster account. */
  readonly origin: string;
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";

/** Loads the configuration and selects the context; throws UserError when it can't. */
export function loadKubeConfig(options: KubeConfigOptions): ClusterConfig {
  const files = kubeconfigFiles(options);
  const accountDir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  if (files.length > 0) {
    const merged = emptyConfig();
    for (const file of files) mergeInto(merged, parseFile(file));
    return selectContext(merged, options.context);
  }
  if (options.env("KUBERNETES_SERVICE_HOST") && exists(`${accountDir}/token`)) {
    return inCluster(options.env, accountDir);
  }
  throw new UserError(
    "No Kubernetes configuration found: pass --kubeconfig, set KUBECONFIG, " +
      "create ~/.kube/config, or run inside the cluster",
    ExitCode.kubernetes,
  );
}

/** `--kubeconfig`, else the existing files of `$KUBECONFIG`, else `~/.kube/config` if present. */
function kubeconfigFiles(options: KubeConfigOptions): string[] {
  if (options.kubeconfig !== undefined) {
    if (!exists(options.kubeconfig)) {
      throw new UserError(
        `Cannot read kubeconfig "${options.kubeconfig}": no such file; check --kubeconfig`,
        ExitCode.kubernetes,
      );
    }
    return [options.kubeconfig];
  }
  const fromEnv = (options.env("KUBECONFIG") ?? "").split(":").filter((path) => path !== "");
  if (fromEnv.length > 0) {
    // kubectl skips files of the list that do not exist; so do we, unless none does.
    const present = fromEnv.filter((path) => exists(path));
    if (present.length === 0) {
      throw new UserError(
        `Cannot read kubeconfig: none of the files in KUBECONFIG exists (${fromEnv.join(", ")})`,
        ExitCode.kubernetes,
      );
    }
    return present;
  }
  const home = options.env("HOME");
  const defaultFile = home ? `${home}/.kube/config` : undefined;
  return defaultFile && exists(defaultFile) ? [defaultFile] : [];
}

/** One named entry of a kubeconfig, with the file it came from. */
interface Entry {
  readonly name: string;
  readonly body: Record<string, unknown>;
  readonly file: string;
}

interface RawConfig {
  clusters: Map<string, Entry>;
  users: Map<string, Entry>;
  contexts: Map<string, Entry>;
  currentContext: string | undefined;
}

function emptyConfig(): RawConfig {
  return { clusters: new Map(), users: new Map(), contexts: new Map(), currentContext: undefined };
}

/** kubectl's merge: the first file to set a name, or the current context, wins. */
function mergeInto(into: RawConfig, from: RawConfig): void {
  for (const section of ["clusters", "users", "contexts"] as const) {
    for (const [name, entry] of from[section]) {
      if (!into[section].has(name)) into[section].set(name, entry);
    }
  }
  into.currentContext ??= from.currentContext;
}

function loadError(file: string, detail: string, cause?: unknown): UserError {
  return new UserError(
    `Cannot load kubeconfig "${file}": ${detail}`,
    ExitCode.kubernetes,
    cause === undefined ? undefined : { cause },
  );
}

function parseFile(file: string): RawConfig {
  let document: unknown;
  try {
    document = yaml.load(Deno.readTextFileSync(file));
  } catch (error) {
    throw loadError(file, `${firstLine(error)}; fix or replace the file`, error);
  }
  if (document === null || document === undefined) {
    throw loadError(
      file,
      "the file is empty; point --kubeconfig or KUBECONFIG at your cluster's configuration " +
        "(kind get kubeconfig, minikube update-context, k3s: /etc/rancher/k3s/k3s.yaml)",
    );
  }
  const config = emptyConfig();
  // A document that is not a mapping holds no contexts (reported when one is selected).
  if (!isRecord(document)) return config;
  const fail = (detail: string) => loadError(file, `${detail}; fix or replace the file`);
  const section = (key: "clusters" | "users" | "contexts", field: string) => {
    const list = document[key];
    if (list === undefined || list === null) return;
    if (!Array.isArray(list)) throw fail(`${key} is not a list`);
    list.forEach((item, i) => {
      if (!isRecord(item) || typeof item.name !== "string" || item.name === "") {
        throw fail(`${key}[${i}].name is missing`);
      }
      const body = item[field] ?? (key === "users" ? {} : undefined);
      if (!isRecord(body)) throw fail(`${key}[${i}].${field} is missing`);
      if (!config[key].has(item.name)) config[key].set(item.name, { name: item.name, body, file });
    });
  };
  section("clusters", "cluster");
  section("users", "user");
  section("contexts", "context");
  const current = document["current-context"];
  if (typeof current === "string" && current !== "") config.currentContext = current;
  return config;
}

function selectContext(config: RawConfig, wanted: string | undefined): ClusterConfig {
  const names = [...config.contexts.keys()];
  if (wanted !== undefined && !config.contexts.has(wanted)) {
    throw new UserError(
      `Context "${wanted}" not found in kubeconfig; available: ${names.join(", ") || "none"}`,
      ExitCode.kubernetes,
    );
  }
  const contextName = wanted ?? config.currentContext;
  const context = contextName === undefined ? undefined : config.contexts.get(contextName);
  const clusterName = context?.body.cluster;
  const cluster = typeof clusterName === "string" ? config.clusters.get(clusterName) : undefined;
  if (context === undefined || cluster === undefined) {
    throw new UserError(
      names.length === 0
        ? "The kubeconfig has no contexts; point --kubeconfig at a cluster's configuration"
        : `The kubeconfig has no usable current context; pass --context (one of ${
          names.join(", ")
        })`,
      ExitCode.kubernetes,
    );
  }
  const userName = stringField(context.body, "user");
  const user = userName === undefined ? undefined : config.users.get(userName);
  const body = cluster.body;
  const where = `cluster "${cluster.name}"`;
  const server = stringField(body, "server");
  if (server === undefined) {
    throw loadError(cluster.file, `${where} has no server; fix or replace the file`);
  }
  if (!/^https?:\/\/[^/]/.test(server)) {
    throw loadError(
      cluster.file,
      `${where} has the server "${server}", which is not an http(s) URL; fix or replace the file`,
    );
  }
  const dir = dirname(cluster.file);
  return {
    contextName: context.name,
    clusterName: cluster.name,
    namespace: stringField(context.body, "namespace"),
    server: server.replace(/\/+$/, ""),
    caPem: pemOf(cluster.file, where, body, "certificate-authority", dir),
    skipTlsVerify: body["insecure-skip-tls-verify"] === true,
    tlsServerName: stringField(body, "tls-server-name"),
    proxyUrl: stringField(body, "proxy-url"),
    user: user === undefined ? { name: userName } : userConfig(user),
    origin: `kubeconfig "${cluster.file}"`,
  };
}

function userConfig(entry: Entry): UserConfig {
  const body = entry.body;
  const where = `user "${entry.name}"`;
  const dir = dirname(entry.file);
  const tokenFile = stringField(body, "tokenFile") ?? stringField(body, "token-file");
  const provider = body["auth-provider"];
  return {
    name: entry.name,
    token: stringField(body, "token"),
    tokenFile: tokenFile === undefined ? undefined : resolvePath(dir, tokenFile),
    certPem: pemOf(entry.file, where, body, "client-certificate", dir),
    keyPem: pemOf(entry.file, where, body, "client-key", dir),
    username: stringField(body, "username"),
    password: stringField(body, "password"),
    exec: execConfig(entry, body.exec, dir),
    impersonate: stringField(body, "as"),
    ...(isRecord(provider) && typeof provider.name === "string"
      ? {
        authProvider: {
          name: provider.name,
          config: isRecord(provider.config) ? provider.config as Record<string, string> : {},
        },
      }
      : {}),
  };
}

function execConfig(entry: Entry, exec: unknown, dir: string): ExecConfig | undefined {
  if (exec === undefined || exec === null) return undefined;
  const fail = (detail: string) =>
    loadError(entry.file, `user "${entry.name}": exec ${detail}; fix or replace the file`);
  if (!isRecord(exec)) throw fail("is not a mapping");
  const command = stringField(exec, "command");
  if (command === undefined) throw fail("has no command");
  const args = exec.args ?? [];
  if (!Array.isArray(args) || !args.every((a) => typeof a === "string")) {
    throw fail("args is not a list of strings");
  }
  const env = exec.env ?? [];
  if (
    !Array.isArray(env) ||
    !env.every((e) => isRecord(e) && typeof e.name === "string" && typeof e.value === "string")
  ) {
    throw fail("env is not a list of name/value pairs");
  }
  return {
    apiVersion: stringField(exec, "apiVersion") ?? "client.authentication.k8s.io/v1",
    // kubectl: a relative path with a separator is relative to the kubeconfig's directory.
    command: command.includes("/") ? resolvePath(dir, command) : command,
    args,
    env: env as { name: string; value: string }[],
    installHint: stringField(exec, "installHint"),
    provideClusterInfo: exec.provideClusterInfo === true,
  };
}

/**
 * The PEM text of `<field>-data` (base64) or the file `<field>` names;
 * undefined when neither is set.
 */
function pemOf(
  file: string,
  where: string,
  body: Record<string, unknown>,
  field: string,
  dir: string,
): string | undefined {
  const data = stringField(body, `${field}-data`);
  if (data !== undefined) {
    try {
      return new TextDecoder().decode(Uint8Array.from(atob(data), (c) => c.charCodeAt(0)));
    } catch {
      throw loadError(
        file,
        `${where} has a ${field}-data that is not base64; fix or replace the file`,
      );
    }
  }
  const path = stringField(body, field);
  if (path === undefined) return undefined;
  const resolved = resolvePath(dir, path);
  try {
    return Deno.readTextFileSync(resolved);
  } catch (error) {
    throw loadError(
      file,
      `cannot read the ${field} "${resolved}" of ${where} (${readProblem(error)}); fix the path`,
      error,
    );
  }
}

/** The in-cluster configuration: the service's address and the mounted account. */
function inCluster(env: (name: string) => string | undefined, dir: string): ClusterConfig {
  const host = env("KUBERNETES_SERVICE_HOST")!;
  const port = env("KUBERNETES_SERVICE_PORT") ?? "443";
  const caFile = `${dir}/ca.crt`;
  let caPem: string;
  try {
    caPem = Deno.readTextFileSync(caFile);
  } catch (error) {
    throw new UserError(
      `Cannot read the service account's CA "${caFile}" (${readProblem(error)}); ` +
        "mount the service account token (automountServiceAccountToken: true)",
      ExitCode.kubernetes,
      { cause: error },
    );
  }
  const bracketed = host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
  return {
    contextName: "inClusterContext",
    clusterName: "inCluster",
    namespace: undefined,
    server: `https://${bracketed}:${port}`,
    caPem,
    skipTlsVerify: false,
    tlsServerName: undefined,
    proxyUrl: undefined,
    user: { name: "inClusterUser", tokenFile: `${dir}/token` },
    origin: "the in-cluster service account",
  };
}

function readProblem(error: unknown): string {
  if (error instanceof Deno.errors.NotFound) return "no such file";
  if (error instanceof Deno.errors.PermissionDenied) return "permission denied";
  if (error instanceof Deno.errors.IsADirectory) return "it is a directory";
  return firstLine(error);
}

function stringField(record: Record<string, unknown>, key: string): string | undefined {
  const value = record[key];
  return typeof value === "string" && value !== "" ? value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function dirname(path: string): string {
  const slash = path.lastIndexOf("/");
  return slash < 0 ? "." : slash === 0 ? "/" : path.slice(0, slash);
}

function resolvePath(dir: string, path: string): string {
  return path.startsWith("/") ? path : `${dir}/${path}`;
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "";
}
