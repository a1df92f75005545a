/**
 * Finds and loads the Kubernetes client configuration the way kubectl does:
 * `--kubeconfig`, else every existing, non-empty file in `$KUBECONFIG`
 * (merged as kubectl merges them: the first file to set a name or the current
 * context wins), else `~/.kube/config`; when that leaves nothing, the
 * in-cluster service account. The result is
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
import { ExitCode, UserError } from "../util/errors.ts";
import { exists } from "../util/exists.ts";
import {
  booleanField,
  dirname,
  firstLine,
  isRecord,
  loadError,
  pemOf,
  readProblem,
  stringField,
} from "./config_fields.ts";
import { userConfig } from "./config_user.ts";

/** Where to look, from flags and environment. */
export interface KubeConfigOptions {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  readonly env: (name: string) => string | undefined;
  /** The service account's directory (tests); default the one Kubernetes mounts. */
  readonly serviceAccountDir?: string;
}

/** When an exec plugin may talk to the user (client-go's `interactiveMode`). */
export type InteractiveMode = "Never" | "IfAvailable" | "Always";

/** An exec credential plugin, as the kubeconfig's `user.exec` names it. */
export interface ExecConfig {
  readonly apiVersion: string;
  /** Resolved against the kubeconfig's directory when it is a relative path with a `/`. */
  readonly command: string;
  readonly args: readonly string[];
  readonly env: readonly { readonly name: string; readonly value: string }[];
  readonly installHint: string | undefined;
  readonly provideClusterInfo: boolean;
  /** Default IfAvailable (v1beta1; v1 requires it, as kubectl does). */
  readonly interactiveMode?: InteractiveMode | undefined;
}

/** How to authenticate: whatever the selected user sets. */
export interface UserConfig {
  /** The user's name in the kubeconfig, for messages. */
  readonly name: string | undefined;
  readonly token?: string | undefined;
  /** Wins over `token` and is read again while running: service-account tokens rotate. */
  readonly tokenFile?: string | undefined;
  readonly certPem?: string | undefined;
  readonly keyPem?: string | undefined;
  /** The files certPem and keyPem came from: read again as they rotate. */
  readonly certFile?: string | undefined;
  readonly keyFile?: string | undefined;
  readonly username?: string | undefined;
  readonly password?: string | undefined;
  readonly exec?: ExecConfig | undefined;
  /** `auth-provider` (oidc, gcp, azure): handled by @kubernetes/client-node, loaded only then. */
  readonly authProvider?: { readonly name: string; readonly config?: Record<string, string> };
  /** `as`: the user to impersonate. */
  readonly impersonate?: string | undefined;
  /** `as-groups`, `as-uid`, `as-user-extra`: the rest of the impersonated identity. */
  readonly impersonateGroups?: readonly string[] | undefined;
  readonly impersonateUid?: string | undefined;
  readonly impersonateExtra?: Readonly<Record<string, readonly string[]>> | undefined;
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
  /** The file caPem came from: read again as it rotates. */
  readonly caFile?: string | undefined;
  readonly skipTlsVerify: boolean;
  readonly tlsServerName: string | undefined;
  readonly proxyUrl: string | undefined;
  /** `disable-compression`: ask for answers uncompressed. */
  readonly disableCompression?: boolean | undefined;
  /** The cluster's `client.authentication.k8s.io/exec` extension, passed to exec plugins. */
  readonly execExtension?: unknown;
  readonly user: UserConfig;
  /** What the configuration came from, for messages: `kubeconfig "…"` or the in-cluster account. */
  readonly origin: string;
}

const SERVICE_ACCOUNT_DIR = "/var/run/secrets/kubernetes.io/serviceaccount";
const EXEC_EXTENSION = "client.authentication.k8s.io/exec";

/** Loads the configuration and selects the context; throws UserError when it can't. */
export function loadKubeConfig(options: KubeConfigOptions): ClusterConfig {
  const { files, missing } = kubeconfigFiles(options);
  const accountDir = options.serviceAccountDir ?? SERVICE_ACCOUNT_DIR;
  const merged = emptyConfig();
  const empty: string[] = [];
  for (const file of files) {
    const parsed = parseFile(file);
    if (parsed === undefined) empty.push(file);
    else mergeInto(merged, parsed);
  }
  // kubectl: a configuration that holds nothing gives way to the in-cluster one.
  const nothing = files.length === empty.length;
  if (nothing && options.env("KUBERNETES_SERVICE_HOST") && exists(`${accountDir}/token`)) {
    return inCluster(options.env, accountDir);
  }
  if (!nothing) return selectContext(merged, options.context);
  if (empty.length > 0) {
    throw loadError(
      empty.join('", "'),
      `the file is empty; point --kubeconfig or KUBECONFIG at your cluster's configuration ` +
        "(kind get kubeconfig, minikube update-context, k3s: /etc/rancher/k3s/k3s.yaml)",
    );
  }
  if (missing.length > 0) {
    throw new UserError(
      `Cannot read kubeconfig: none of the files in KUBECONFIG exists (${missing.join(", ")})`,
      ExitCode.kubernetes,
    );
  }
  throw new UserError(
    "No Kubernetes configuration found: pass --kubeconfig, set KUBECONFIG, " +
      "create ~/.kube/config, or run inside the cluster",
    ExitCode.kubernetes,
  );
}

/**
 * `--kubeconfig`, else the existing files of `$KUBECONFIG` (`missing`: the
 * listed ones that do not exist), else `~/.kube/config` if present.
 */
function kubeconfigFiles(options: KubeConfigOptions): { files: string[]; missing: string[] } {
  if (options.kubeconfig !== undefined) {
    if (!exists(options.kubeconfig)) {
      throw new UserError(
        `Cannot read kubeconfig "${options.kubeconfig}": no such file; check --kubeconfig`,
        ExitCode.kubernetes,
      );
    }
    return { files: [options.kubeconfig], missing: [] };
  }
  const fromEnv = (options.env("KUBECONFIG") ?? "").split(":").filter((path) => path !== "");
  if (fromEnv.length > 0) {
    // kubectl skips files of the list that do not exist.
    const files = fromEnv.filter((path) => exists(path));
    return { files, missing: fromEnv.filter((path) => !files.includes(path)) };
  }
  const home = options.env("HOME");
  const defaultFile = home ? `${home}/.kube/config` : undefined;
  return { files: defaultFile && exists(defaultFile) ? [defaultFile] : [], missing: [] };
}

/** One named entry of a kubeconfig, with the file it came from. */
export interface Entry {
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

/** The file's entries; undefined for an empty or comment-only file, which kubectl skips. */
function parseFile(file: string): RawConfig | undefined {
  let document: unknown;
  try {
    document = yaml.load(Deno.readTextFileSync(file));
  } catch (error) {
    throw loadError(file, `${firstLine(error)}; fix or replace the file`, error);
  }
  if (document === null || document === undefined) return undefined;
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
      // kubectl refuses a name given twice in one file (across files, the first wins).
      if (config[key].has(item.name)) throw fail(`duplicate name "${item.name}" in ${key}`);
      config[key].set(item.name, { name: item.name, body, file });
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
  const known = names.join(", ") || "none";
  if (wanted !== undefined && !config.contexts.has(wanted)) {
    throw new UserError(
      `Context "${wanted}" not found in kubeconfig; available: ${known}`,
      ExitCode.kubernetes,
    );
  }
  const contextName = wanted ?? config.currentContext;
  if (contextName === undefined) {
    throw new UserError(
      names.length === 0
        ? "The kubeconfig has no contexts; point --kubeconfig at a cluster's configuration"
        : `The kubeconfig has no current context; pass --context (one of ${known})`,
      ExitCode.kubernetes,
    );
  }
  const context = config.contexts.get(contextName);
  if (context === undefined) {
    throw new UserError(
      `The current context "${contextName}" is not in the kubeconfig; pass --context ` +
        `(one of ${known}) or fix current-context`,
      ExitCode.kubernetes,
    );
  }
  const clusterName = stringField(context.body, "cluster");
  const cluster = clusterName === undefined ? undefined : config.clusters.get(clusterName);
  if (cluster === undefined) {
    throw loadError(
      context.file,
      clusterName === undefined
        ? `context "${contextName}" names no cluster; fix or replace the file`
        : `context "${contextName}" names the cluster "${clusterName}", which is not defined; ` +
          "fix or replace the file",
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
  const ca = pemOf(cluster.file, where, body, "certificate-authority", dir(cluster));
  return {
    contextName: context.name,
    clusterName: cluster.name,
    namespace: stringField(context.body, "namespace"),
    server: server.replace(/\/+$/, ""),
    caPem: ca.pem,
    caFile: ca.file,
    skipTlsVerify: booleanField(body, "insecure-skip-tls-verify"),
    tlsServerName: stringField(body, "tls-server-name"),
    proxyUrl: stringField(body, "proxy-url"),
    disableCompression: booleanField(body, "disable-compression"),
    execExtension: execExtension(body),
    user: user === undefined ? { name: userName } : userConfig(user),
    origin: `kubeconfig "${cluster.file}"`,
  };
}

function dir(entry: Entry): string {
  return dirname(entry.file);
}

/** The `extension` of the cluster's extension named client.authentication.k8s.io/exec. */
function execExtension(body: Record<string, unknown>): unknown {
  const extensions = body.extensions;
  if (!Array.isArray(extensions)) return undefined;
  const found = extensions.find((e) => isRecord(e) && e.name === EXEC_EXTENSION);
  return isRecord(found) ? found.extension : undefined;
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
    caFile,
    skipTlsVerify: false,
    tlsServerName: undefined,
    proxyUrl: undefined,
    user: { name: "inClusterUser", tokenFile: `${dir}/token` },
    origin: "the in-cluster service account",
  };
}
