/**
 * Which registry the cluster's nodes pull from: the one the developer names
 * (`--registry HOST[,from-runtime=HOST2]`, or VERYFRESHPOD_REGISTRY), else the
 * one the cluster announces (KEP-1755: ConfigMap `local-registry-hosting` in
 * `kube-public`, key `localRegistryHosting.v1`, as kind's, k3d's, minikube's
 * and microk8s's registry set-ups publish it). `host` is where this machine
 * pushes; `hostFromContainerRuntime` is how the nodes' runtime names the same
 * registry, and what image fields say.
 */
import jsYaml from "js-yaml";
import { parseReference } from "../model/image_ref.ts";

/** The registry builds go through, and where that was learned. */
export interface ClusterRegistry {
  /** Where this machine pushes: `localhost:5001`. */
  readonly host: string;
  /** How image fields name it, as the nodes reach it: `kind-registry:5000` (defaults to `host`). */
  readonly fromRuntime: string;
  /** The cluster's own help text or link, shown with failures. */
  readonly help?: string | undefined;
  /** `--registry`, `VERYFRESHPOD_REGISTRY`, `ConfigMap kube-public/local-registry-hosting`. */
  readonly origin: string;
}

export const HOSTING_NAMESPACE = "kube-public";
export const HOSTING_CONFIGMAP = "local-registry-hosting";
export const HOSTING_KEY = "localRegistryHosting.v1";
export const HOSTING_ORIGIN = `ConfigMap ${HOSTING_NAMESPACE}/${HOSTING_CONFIGMAP}`;

/** The keys `--registry` takes after the host. */
const FROM_RUNTIME_KEYS = ["from-runtime", "from_runtime", "hostfromcontainerruntime"];

/** Why `host` cannot be a registry host, or undefined when it can (`localhost:5001`, `reg.example.com`). */
export function registryHostProblem(host: string): string | undefined {
  if (host === "") return "it is empty";
  if (/^[a-z]+:\/\//i.test(host)) return `"${host}" has a scheme; give only the host and port`;
  if (host.includes("/")) return `"${host}" has a path; give only the host and port`;
  try {
    const ref = parseReference(`${host}/probe`);
    if (ref.domain !== host) return `"${host}" is not a registry host (add a port or a dot)`;
  } catch {
    return `"${host}" is not a registry host`;
  }
  return undefined;
}

/**
 * Parses `HOST` or `HOST,from-runtime=HOST2`; throws an Error whose message
 * says what is wrong and how to write it.
 */
export function parseRegistryFlag(text: string, origin: string): ClusterRegistry {
  const [host = "", ...rest] = text.split(",").map((part) => part.trim());
  const hostProblem = registryHostProblem(host);
  if (hostProblem !== undefined) throw new Error(hostProblem);
  let fromRuntime = host;
  for (const part of rest) {
    const eq = part.indexOf("=");
    const key = part.slice(0, eq).toLowerCase();
    if (eq < 0 || !FROM_RUNTIME_KEYS.includes(key)) {
      throw new Error(`"${part}" is not from-runtime=HOST; write HOST or HOST,from-runtime=HOST2`);
    }
    fromRuntime = part.slice(eq + 1);
    const problem = registryHostProblem(fromRuntime);
    if (problem !== undefined) throw new Error(`from-runtime: ${problem}`);
  }
  return { host, fromRuntime, origin };
}

/**
 * The registry a `localRegistryHosting.v1` value announces; throws an Error
 * naming the problem when it announces none usable.
 */
export function parseHostingValue(text: string): ClusterRegistry {
  let value: unknown;
  try {
    value = jsYaml.load(text);
  } catch {
    throw new Error(`${HOSTING_KEY} is not YAML`);
  }
  const fields = typeof value === "object" && value !== null
    ? value as Record<string, unknown>
    : {};
  const text_ = (key: string) =>
    typeof fields[key] === "string" ? fields[key] as string : undefined;
  const host = text_("host");
  if (host === undefined || host === "") throw new Error(`${HOSTING_KEY} has no host`);
  const problem = registryHostProblem(host);
  if (problem !== undefined) throw new Error(`${HOSTING_KEY} host: ${problem}`);
  const fromRuntime = text_("hostFromContainerRuntime") || host;
  const runtimeProblem = registryHostProblem(fromRuntime);
  if (runtimeProblem !== undefined) {
    throw new Error(`${HOSTING_KEY} hostFromContainerRuntime: ${runtimeProblem}`);
  }
  return { host, fromRuntime, help: text_("help") || undefined, origin: HOSTING_ORIGIN };
}

/** What a registry line says: `localhost:5001 (image fields: kind-registry:5000), from …`. */
export function describeRegistry(registry: ClusterRegistry): string {
  const runtime = registry.fromRuntime === registry.host
    ? ""
    : ` (the nodes pull it as ${registry.fromRuntime})`;
  return `${registry.host}${runtime}, from ${registry.origin}`;
}

/** True when `host` names this machine's loopback: only the machine itself reaches it. */
export function isLoopbackHost(host: string): boolean {
  const name = host.startsWith("[") ? host.slice(1, host.indexOf("]")) : host.split(":")[0]!;
  return name === "localhost" || name === "::1" || /^127\./.test(name);
}

/** What reading the announcement needs of a Kubernetes client (KubeClient.json). */
export interface ConfigMapReader {
  json<T>(method: string, path: string): Promise<T>;
}

/** What the cluster announces, and why nothing when it announces nothing usable. */
export interface Announcement {
  readonly registry?: ClusterRegistry;
  /** Why there is none; `warn` when that is worth a warning rather than a debug line. */
  readonly why?: string;
  readonly warn?: boolean;
}

/**
 * Reads the cluster's announcement. A missing ConfigMap is the usual case
 * (no registry), not a fault; one that cannot be read or makes no sense is
 * worth a warning, and veryfreshpod goes on without a registry.
 */
export async function readAnnouncement(kube: ConfigMapReader): Promise<Announcement> {
  const path = `/api/v1/namespaces/${HOSTING_NAMESPACE}/configmaps/${HOSTING_CONFIGMAP}`;
  let configMap: { data?: Record<string, string> };
  try {
    configMap = await kube.json("GET", path);
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    if (code === 404) return { why: `no ${HOSTING_ORIGIN}`, warn: false };
    if (code === 403) {
      return {
        why: `Kubernetes refused to get ${HOSTING_ORIGIN} (403 Forbidden); grant get on it ` +
          "(the install manifest does) or name the registry with --registry",
        warn: true,
      };
    }
    return {
      why: `cannot read ${HOSTING_ORIGIN}: ${(error as Error).message}`,
      warn: true,
    };
  }
  const value = configMap.data?.[HOSTING_KEY];
  if (value === undefined) return { why: `${HOSTING_ORIGIN} has no ${HOSTING_KEY}`, warn: true };
  try {
    return { registry: parseHostingValue(value) };
  } catch (error) {
    return { why: `${HOSTING_ORIGIN}: ${(error as Error).message}`, warn: true };
  }
}
