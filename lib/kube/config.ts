/**
 * Finds and loads the Kubernetes client configuration the way kubectl does:
 * `--kubeconfig`, else every existing file in `$KUBECONFIG`, else
 * `~/.kube/config`, else the in-cluster service account. Every failure is a
 * one-line UserError that names the fix.
 */
import "../quiet_deprecations.ts";
import { KubeConfig } from "@kubernetes/client-node";
import { ExitCode, UserError } from "../errors.ts";

/** Where to look, from flags and environment. */
export interface KubeConfigOptions {
  readonly kubeconfig?: string | undefined;
  readonly context?: string | undefined;
  readonly env: (name: string) => string | undefined;
}

const IN_CLUSTER_TOKEN = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/** Loads the configuration and selects the context; throws UserError when it can't. */
export function loadKubeConfig(options: KubeConfigOptions): KubeConfig {
  const config = new KubeConfig();
  const files = kubeconfigFiles(options);
  if (files.length > 0) {
    const [first, ...rest] = files;
    loadFile(config, first!);
    for (const file of rest) {
      const more = new KubeConfig();
      loadFile(more, file);
      config.mergeConfig(more);
    }
  } else if (options.env("KUBERNETES_SERVICE_HOST") && exists(IN_CLUSTER_TOKEN)) {
    config.loadFromCluster();
  } else {
    throw new UserError(
      "No Kubernetes configuration found: pass --kubeconfig, set KUBECONFIG, " +
        "create ~/.kube/config, or run inside the cluster",
      ExitCode.kubernetes,
    );
  }
  selectContext(config, options.context);
  return config;
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
    const present = fromEnv.filter(exists);
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

function loadFile(config: KubeConfig, path: string): void {
  try {
    config.loadFromFile(path);
  } catch (error) {
    // client-node reads fields of whatever the YAML held: a file with no
    // document (empty, comments only, `null`) fails with a TypeError.
    const empty = error instanceof TypeError && /reading 'clusters'/.test(error.message);
    const detail = empty
      ? "the file is empty; point --kubeconfig or KUBECONFIG at your cluster's configuration " +
        "(kind get kubeconfig, minikube update-context, k3s: /etc/rancher/k3s/k3s.yaml)"
      : `${firstLine(error)}; fix or replace the file`;
    throw new UserError(`Cannot load kubeconfig "${path}": ${detail}`, ExitCode.kubernetes, {
      cause: error,
    });
  }
}

function firstLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split("\n")[0] ?? "";
}

function selectContext(config: KubeConfig, context: string | undefined): void {
  const names = config.getContexts().map((c) => c.name);
  if (context !== undefined) {
    if (!names.includes(context)) {
      throw new UserError(
        `Context "${context}" not found in kubeconfig; available: ${names.join(", ") || "none"}`,
        ExitCode.kubernetes,
      );
    }
    config.setCurrentContext(context);
  }
  if (!config.getCurrentCluster()) {
    throw new UserError(
      names.length === 0
        ? "The kubeconfig has no contexts; point --kubeconfig at a cluster's configuration"
        : `The kubeconfig has no usable current context; pass --context (one of ${
          names.join(", ")
        })`,
      ExitCode.kubernetes,
    );
  }
}

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
