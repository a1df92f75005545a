/**
 * The workload kinds veryfreshpod updates, in one table: where each keeps its
 * pod template, how to list and watch it. Everything kind-specific lives here.
 */
import type { KubeClient } from "./rest.ts";
import { rolloutFields } from "../model/rollout_fields.ts";
import type { TrackedContainer, TrackedWorkload, WorkloadKind } from "../model/workload.ts";

/** A list as the API server returns it: items plus the resourceVersion to watch from. */
export interface ObjectList {
  readonly metadata?: { readonly resourceVersion?: string | undefined };
  readonly items: readonly KubeObject[];
}

/** The parts of a Kubernetes object veryfreshpod reads (raw JSON). */
export interface KubeObject {
  readonly metadata?: {
    readonly name?: string | undefined;
    readonly namespace?: string | undefined;
    readonly uid?: string | undefined;
    readonly resourceVersion?: string | undefined;
    readonly generation?: number | undefined;
    readonly labels?: Record<string, string> | undefined;
    readonly annotations?: Record<string, string> | undefined;
  } | undefined;
  // deno-lint-ignore no-explicit-any -- pod templates are walked by path below
  readonly spec?: any;
  // deno-lint-ignore no-explicit-any -- differs per kind; only rollout_fields.ts reads it
  readonly status?: any;
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
}

/** One page of a list, as the API server sends it; `continue` is set while more follow. */
export interface ObjectPage {
  readonly metadata?: {
    readonly resourceVersion?: string | undefined;
    readonly continue?: string | undefined;
  };
  readonly items?: readonly KubeObject[] | null;
}

/**
 * Objects per page. Pages as client-go's informers do (500): a cluster's
 * whole list never sits in memory as parsed JSON at once, only one page of it
 * beside the slim copies kept so far.
 */
export const LIST_PAGE_SIZE = 500;

/**
 * Lists a kind in one namespace, or all when namespace is undefined; only
 * matches of `labelSelector`. Items carry only what toTrackedWorkload reads.
 */
export function listWorkloads(
  client: KubeClient,
  info: WorkloadKindInfo,
  namespace: string | undefined,
  labelSelector?: string,
  signal?: AbortSignal,
): Promise<ObjectList> {
  return listAll(
    (object) => slimObject(info.templatePath, object, info.kind),
    listPages(client, collectionPath(info, namespace), labelSelector, signal),
  );
}

/**
 * Lists whole objects, status and selector included, for readers that need
 * more than the watch loop (`veryfreshpod status`).
 */
export function listWholeWorkloads(
  client: KubeClient,
  info: WorkloadKindInfo,
  namespace: string | undefined,
): Promise<ObjectList> {
  return listAll((object) => object, listPages(client, collectionPath(info, namespace)));
}

/** The pages of a list at `path`, LIST_PAGE_SIZE objects each. */
export function listPages(
  client: KubeClient,
  path: string,
  labelSelector?: string,
  signal?: AbortSignal,
): (continueToken: string | undefined) => Promise<ObjectPage> {
  return (continueToken) =>
    client.json<ObjectPage>("GET", path, {
      query: { labelSelector, limit: LIST_PAGE_SIZE, continue: continueToken },
      signal,
    });
}

/**
 * Reads every page (`next` with the last page's continue token) and keeps
 * what `keep` makes of each object; the pages share the first page's
 * resourceVersion.
 */
export async function listAll(
  keep: (object: KubeObject) => KubeObject,
  next: (continueToken: string | undefined) => Promise<ObjectPage>,
): Promise<ObjectList> {
  const items: KubeObject[] = [];
  let resourceVersion: string | undefined;
  let continueToken: string | undefined;
  do {
    const page = await next(continueToken);
    resourceVersion ??= page.metadata?.resourceVersion;
    for (const item of page.items ?? []) items.push(keep(item));
    continueToken = page.metadata?.continue || undefined;
  } while (continueToken !== undefined);
  return { metadata: { resourceVersion }, items };
}

/** The annotation `kubectl apply` keeps a whole copy of the object in; never read here. */
const LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration";

/**
 * An object without what veryfreshpod never reads: managed fields, kubectl's
 * last-applied copy, and everything in the spec but the pod template's
 * metadata and containers; with `kind`, also the few spec and status fields
 * that tell how its rollout stands (rollout_fields.ts), else no status.
 */
export function slimObject(
  templatePath: readonly string[],
  object: KubeObject,
  kind?: WorkloadKind,
): KubeObject {
  let template = object.spec;
  for (const step of templatePath) template = template?.[step];
  let spec: unknown = undefined;
  if (typeof template === "object" && template !== null) {
    const podSpec = template.spec ?? {};
    spec = {
      metadata: template.metadata,
      spec: { initContainers: podSpec.initContainers, containers: podSpec.containers },
    };
    for (const step of [...templatePath].reverse()) spec = { [step]: spec };
  }
  const rollout = kind === undefined ? undefined : rolloutFields(kind, object);
  if (rollout !== undefined) {
    // A CronJob's Jobs' pod labels are read from its template, which is kept anyway.
    const { jobPodLabels: _, ...fields } = rollout.spec;
    spec = { ...fields, ...spec as object };
  }
  const status = rollout === undefined || kind === "CronJob" ? {} : { status: rollout.status };
  if (object.metadata === undefined) return { spec, ...status };
  const { managedFields: _, ...metadata } = object.metadata as KubeObject["metadata"] & {
    managedFields?: unknown;
  };
  return {
    metadata: { ...metadata, annotations: withoutLastApplied(metadata.annotations) },
    spec,
    ...status,
  };
}

function withoutLastApplied(
  annotations: Record<string, string> | undefined,
): Record<string, string> | undefined {
  if (annotations === undefined || !Object.hasOwn(annotations, LAST_APPLIED)) return annotations;
  const { [LAST_APPLIED]: _, ...rest } = annotations;
  return rest;
}

export const WORKLOAD_KINDS: readonly WorkloadKindInfo[] = [
  {
    kind: "Deployment",
    apiVersion: "apps/v1",
    group: "apps",
    plural: "deployments",
    templatePath: ["template"],
  },
  {
    kind: "StatefulSet",
    apiVersion: "apps/v1",
    group: "apps",
    plural: "statefulsets",
    templatePath: ["template"],
  },
  {
    kind: "DaemonSet",
    apiVersion: "apps/v1",
    group: "apps",
    plural: "daemonsets",
    templatePath: ["template"],
  },
  {
    kind: "CronJob",
    apiVersion: "batch/v1",
    group: "batch",
    plural: "cronjobs",
    templatePath: ["jobTemplate", "spec", "template"],
  },
];

/** The row for a kind. */
export function kindInfo(kind: WorkloadKind): WorkloadKindInfo {
  const info = WORKLOAD_KINDS.find((row) => row.kind === kind);
  if (!info) throw new TypeError(`Unknown workload kind "${kind}"`);
  return info;
}

/** The API path of one object of a kind. */
export function objectPath(info: WorkloadKindInfo, namespace: string, name: string): string {
  return `${collectionPath(info, namespace)}/${encodeURIComponent(name)}`;
}

/** The API path to list or watch a kind, in one namespace or all. */
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
    ...(metadata.uid && { uid: metadata.uid }),
    labels: { ...metadata.labels },
    // Watch events bring whole objects: the last-applied copy must not stay in the index.
    annotations: { ...withoutLastApplied(metadata.annotations) },
    templateAnnotations: { ...template.metadata?.annotations },
    containers: [
      ...containersOf(podSpec.initContainers, true),
      ...containersOf(podSpec.containers, false),
    ],
    ...rolloutOf(info.kind, object),
  };
}

/** The rollout fields as a property (a CronJob's: its schedule and its Jobs' pod labels). */
function rolloutOf(
  kind: WorkloadKind,
  object: KubeObject,
): { rollout?: TrackedWorkload["rollout"] } {
  const rollout = rolloutFields(kind, object);
  return rollout === undefined ? {} : { rollout };
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
