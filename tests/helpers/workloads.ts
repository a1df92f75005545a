/**
 * Workloads for end-to-end tests, created and read through the real API
 * server with the admin token.
 */
import assert from "node:assert/strict";
import { type Kubernetes, kubernetes } from "../env/mod.ts";
import { kindInfo } from "../../lib/kube/kinds.ts";
import type { WorkloadKind } from "../../lib/model/workload.ts";

/** A request that must succeed; returns the body. */
export async function api(method: string, path: string, body?: unknown, contentType?: string) {
  const kube: Kubernetes = await kubernetes();
  const response = await kube.request(method, path, { body, contentType });
  assert.ok(
    response.status >= 200 && response.status < 300,
    `${method} ${path} answered ${response.status}: ${JSON.stringify(response.body)}`,
  );
  return response.body;
}

let namespaces = 0;

/** Creates a fresh namespace for one test; returns its name. */
export async function createNamespace(prefix = "e2e"): Promise<string> {
  const name = `${prefix}-${Date.now().toString(36)}-${namespaces++}`;
  await api("POST", "/api/v1/namespaces", { metadata: { name } });
  return name;
}

interface ContainerSpec {
  name: string;
  image: string;
  imagePullPolicy?: string;
}

/** The object for a workload of `kind` whose pod template has these containers. */
export function workloadObject(
  kind: WorkloadKind,
  namespace: string,
  name: string,
  containers: ContainerSpec[],
  options: {
    initContainers?: ContainerSpec[];
    annotations?: Record<string, string>;
    labels?: Record<string, string>;
  } = {},
): Record<string, unknown> {
  const labels = { app: name };
  const template = {
    metadata: { labels },
    spec: {
      containers: containers.map((c) => ({ imagePullPolicy: "IfNotPresent", ...c })),
      ...(options.initContainers
        ? {
          initContainers: options.initContainers.map((c) => ({
            imagePullPolicy: "IfNotPresent",
            ...c,
          })),
        }
        : {}),
      ...(kind === "CronJob" ? { restartPolicy: "Never" } : {}),
    },
  };
  const selector = { matchLabels: labels };
  const spec = kind === "CronJob"
    ? { schedule: "0 0 1 1 *", jobTemplate: { spec: { template } } }
    : kind === "StatefulSet"
    ? { selector, serviceName: name, template }
    : { selector, template };
  return {
    apiVersion: kindInfo(kind).apiVersion,
    kind,
    metadata: {
      name,
      namespace,
      ...(options.annotations ? { annotations: options.annotations } : {}),
      ...(options.labels ? { labels: options.labels } : {}),
    },
    spec,
  };
}

function objectPath(kind: WorkloadKind, namespace: string, name?: string): string {
  const info = kindInfo(kind);
  return `/apis/${info.apiVersion}/namespaces/${namespace}/${info.plural}${name ? `/${name}` : ""}`;
}

/** Creates a workload; returns the created object. */
export async function createWorkload(object: Record<string, unknown>) {
  const { kind, metadata } = object as { kind: WorkloadKind; metadata: { namespace: string } };
  return await api("POST", objectPath(kind, metadata.namespace), object);
}

/** Reads a workload. */
export async function getWorkload(kind: WorkloadKind, namespace: string, name: string) {
  return await api("GET", objectPath(kind, namespace, name));
}

/** Replaces a workload (a plain API update, as kubectl edit would do). */
export async function replaceWorkload(object: Record<string, unknown>) {
  const { kind, metadata } = object as {
    kind: WorkloadKind;
    metadata: { namespace: string; name: string };
  };
  return await api("PUT", objectPath(kind, metadata.namespace, metadata.name), object);
}

/** The pod template of a workload object. */
// deno-lint-ignore no-explicit-any
export function podTemplate(object: any): any {
  return object.kind === "CronJob" ? object.spec.jobTemplate.spec.template : object.spec.template;
}

/**
 * A workload for the real node: one container `app` running `image` with
 * `command` (the test images' default command is an interactive shell, which
 * would end at once), and a short grace period so that old pods go quickly.
 */
export function nodeWorkload(
  kind: WorkloadKind,
  namespace: string,
  name: string,
  image: string,
  options: { command: string[]; pullPolicy?: string; replicas?: number },
): Record<string, unknown> {
  const object = workloadObject(kind, namespace, name, [
    { name: "app", image, imagePullPolicy: options.pullPolicy ?? "IfNotPresent" },
  ]) as { spec: Record<string, unknown> };
  if (options.replicas !== undefined) object.spec.replicas = options.replicas;
  const spec = podTemplate(object).spec;
  spec.containers[0].command = options.command;
  spec.terminationGracePeriodSeconds = 1;
  return object;
}

/** `container=image` for every container and initContainer of a workload object. */
// deno-lint-ignore no-explicit-any
export function imagesOf(object: any): Record<string, string> {
  const spec = podTemplate(object).spec;
  const all = [...(spec.initContainers ?? []), ...spec.containers] as ContainerSpec[];
  return Object.fromEntries(all.map((c) => [c.name, c.image]));
}

/** Events recorded on objects in a namespace, as `kind/name reason message`. */
export async function eventsIn(namespace: string): Promise<string[]> {
  const list = await api("GET", `/api/v1/namespaces/${namespace}/events`);
  // deno-lint-ignore no-explicit-any
  return list.items.map((e: any) =>
    `${e.involvedObject.kind}/${e.involvedObject.name} ${e.reason} ${e.message}`
  );
}
