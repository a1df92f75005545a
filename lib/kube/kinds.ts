/**
 * The workload kinds veryfreshpod updates, in one table: where each keeps its
 * pod template, how to list and watch it. Everything kind-specific lives here.
 */
import "../quiet_deprecations.ts";
import { AppsV1Api, BatchV1Api, type KubeConfig } from "@kubernetes/client-node";
import type { TrackedContainer, TrackedWorkload, WorkloadKind } from "./workload.ts";

/** A list as the API server returns it: items plus the resourceVersion to watch from. */
export interface ObjectList {
  readonly metadata?: { readonly resourceVersion?: string | undefined };
  readonly items: readonly KubeObject[];
}

/** The parts of a Kubernetes object veryfreshpod reads (raw JSON or client model). */
export interface KubeObject {
  readonly metadata?: {
    readonly name?: string | undefined;
    readonly namespace?: string | undefined;
    readonly uid?: string | undefined;
    readonly resourceVersion?: string | undefined;
    readonly labels?: Record<string, string> | undefined;
    readonly annotations?: Record<string, string> | undefined;
  } | undefined;
  // deno-lint-ignore no-explicit-any -- pod templates are walked by path below
  readonly spec?: any;
}

/** One row of the kinds table. */
export interface WorkloadKindInfo {
  readonly kind: WorkloadKind;
  readonly apiVersion: string;
  /** API group, for RBAC messages (`deployments.apps`). */
  readonly group: string;
  readonly plural: string;
  /** Path from `spec` to the pod template. */
  readonly templatePath: readonly string[];
  /** Lists in one namespace, or all when namespace is undefined; only matches of `labelSelector`. */
  list(
    config: KubeConfig,
    namespace: string | undefined,
    labelSelector?: string,
  ): Promise<ObjectList>;
}

export const WORKLOAD_KINDS: readonly WorkloadKindInfo[] = [
  {
    kind: "Deployment",
    apiVersion: "apps/v1",
    group: "apps",
    plural: "deployments",
    templatePath: ["template"],
    list: (config, namespace, labelSelector) => {
      const api = config.makeApiClient(AppsV1Api);
      return namespace === undefined
        ? api.listDeploymentForAllNamespaces({ labelSelector })
        : api.listNamespacedDeployment({ namespace, labelSelector });
    },
  },
  {
    kind: "StatefulSet",
    apiVersion: "apps/v1",
    group: "apps",
    plural: "statefulsets",
    templatePath: ["template"],
    list: (config, namespace, labelSelector) => {
      const api = config.makeApiClient(AppsV1Api);
      return namespace === undefined
        ? api.listStatefulSetForAllNamespaces({ labelSelector })
        : api.listNamespacedStatefulSet({ namespace, labelSelector });
    },
  },
  {
    kind: "DaemonSet",
    apiVersion: "apps/v1",
    group: "apps",
    plural: "daemonsets",
    templatePath: ["template"],
    list: (config, namespace, labelSelector) => {
      const api = config.makeApiClient(AppsV1Api);
      return namespace === undefined
        ? api.listDaemonSetForAllNamespaces({ labelSelector })
        : api.listNamespacedDaemonSet({ namespace, labelSelector });
    },
  },
  {
    kind: "CronJob",
    apiVersion: "batch/v1",
    group: "batch",
    plural: "cronjobs",
    templatePath: ["jobTemplate", "spec", "template"],
    list: (config, namespace, labelSelector) => {
      const api = config.makeApiClient(BatchV1Api);
      return namespace === undefined
        ? api.listCronJobForAllNamespaces({ labelSelector })
        : api.listNamespacedCronJob({ namespace, labelSelector });
    },
  },
];

/** The row for a kind. */
export function kindInfo(kind: WorkloadKind): WorkloadKindInfo {
  const info = WORKLOAD_KINDS.find((row) => row.kind === kind);
  if (!info) throw new TypeError(`Unknown workload kind "${kind}"`);
  return info;
}

/** The API path to watch a kind, in one namespace or all. */
export function collectionPath(info: WorkloadKindInfo, namespace: string | undefined): string {
  const prefix = `/apis/${info.apiVersion}`;
  return namespace === undefined
    ? `${prefix}/${info.plural}`
    : `${prefix}/namespaces/${encodeURIComponent(namespace)}/${info.plural}`;
}

/**
 * The plain-data view of a workload object; undefined when the object lacks a
 * name or a pod template (never throws on odd objects).
 */
export function toTrackedWorkload(
  info: WorkloadKindInfo,
  object: KubeObject,
): TrackedWorkload | undefined {
  const metadata = object.metadata;
  if (!metadata?.name || !metadata.namespace) return undefined;
  let template = object.spec;
  for (const step of info.templatePath) template = template?.[step];
  if (typeof template !== "object" || template === null) return undefined;
  const podSpec = template.spec ?? {};
  return {
    key: { kind: info.kind, namespace: metadata.namespace, name: metadata.name },
    resourceVersion: metadata.resourceVersion ?? "",
    labels: { ...metadata.labels },
    annotations: { ...metadata.annotations },
    templateAnnotations: { ...template.metadata?.annotations },
    containers: [
      ...containersOf(podSpec.initContainers, true),
      ...containersOf(podSpec.containers, false),
    ],
  };
}

function containersOf(list: unknown, init: boolean): TrackedContainer[] {
  if (!Array.isArray(list)) return [];
  return list
    .filter((c) => typeof c?.name === "string" && typeof c?.image === "string")
    .map((c) => ({
      name: c.name,
      init,
      image: c.image,
      pullPolicy: typeof c.imagePullPolicy === "string" ? c.imagePullPolicy : undefined,
    }));
}
