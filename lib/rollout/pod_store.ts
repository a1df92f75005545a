/**
 * One shared list+watch of pods for every rollout being followed (in all
 * namespaces, or in each one `-n` names), on the workload watcher's loop
 * (re-list after 410 Gone, backoff, a refusal reported once). Started by the
 * first follow that needs pods and kept until veryfreshpod stops, so a
 * rollout costs no request of its own. It holds slim copies: only what
 * pod_diagnosis.ts and verdict.ts read. A change wakes only the follows whose
 * selector picks the pod (before or after the change).
 */
import { ROLLOUT_ANNOTATION } from "../model/plan_types.ts";
import type { KubeObject } from "../kube/kinds.ts";
import { type LabelSelector, selectorMatches } from "../model/rollout_fields.ts";
import {
  ListWatchLoop,
  type ListWatchSource,
  type ListWatchStore,
  type LoopScope,
  type WatcherOptions,
} from "../kube/watcher.ts";
import type { Condition, ContainerState, ContainerStatus, Pod, PodContainer } from "./objects.ts";

/** The pods resource, as the loop names it in its log lines. */
export const POD_RESOURCE = { kind: "Pod", plural: "pods", group: "" } as const;

/** One pod list+watch: all namespaces (undefined) or one. */
export interface PodScope extends LoopScope {
  readonly info: typeof POD_RESOURCE;
}

/**
 * Told of a change: in which namespace (undefined: all of them, after a
 * re-list) and which selectors it concerns.
 */
export type PodListener = (
  namespace: string | undefined,
  concerns: (selector: LabelSelector) => boolean,
) => void;

/** What the follower asks of the pods. */
export interface PodStates {
  /** Starts the shared watch (once; later calls do nothing). */
  start(): void;
  /**
   * True once the first list came (or was refused): before, no pod is known,
   * which must not read as "no pod was deleted yet" or "no pod crashes".
   */
  readonly listed: boolean;
  /** The pods of `namespace` that `selector` picks, as last seen. */
  select(namespace: string, selector: LabelSelector): readonly Pod[];
  /** Calls `listener` after every change; returns the function that stops it. */
  listen(listener: PodListener): () => void;
}

/** The pods as last listed and watched, by namespace and name. */
export class PodStore implements ListWatchStore<PodScope> {
  readonly #byNamespace = new Map<string, Map<string, Pod>>();
  readonly #listeners = new Set<PodListener>();

  replaceAll(scope: PodScope, items: readonly KubeObject[]): number {
    if (scope.namespace === undefined) this.#byNamespace.clear();
    else this.#byNamespace.delete(scope.namespace);
    let kept = 0;
    for (const item of items) {
      const pod = slimPod(item);
      const { name, namespace } = pod.metadata ?? {};
      if (!name || !namespace) continue;
      this.#pods(namespace).set(name, pod);
      kept++;
    }
    this.#tell(scope.namespace, () => true);
    return kept;
  }

  apply(_scope: PodScope, type: string, object: KubeObject): void {
    const { name, namespace } = object.metadata ?? {};
    if (!name || !namespace) return;
    const pods = this.#pods(namespace);
    const before = pods.get(name);
    const after = type === "DELETED" ? undefined : slimPod(object);
    if (after) pods.set(name, after);
    else pods.delete(name);
    if (pods.size === 0) this.#byNamespace.delete(namespace);
    this.#tell(
      namespace,
      (selector) =>
        selectorMatches(selector, before?.metadata?.labels) ||
        selectorMatches(selector, after?.metadata?.labels),
    );
  }

  select(namespace: string, selector: LabelSelector): Pod[] {
    const pods = this.#byNamespace.get(namespace);
    if (!pods) return [];
    return [...pods.values()].filter((pod) => selectorMatches(selector, pod.metadata?.labels));
  }

  listen(listener: PodListener): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** How many pods are held. */
  get size(): number {
    let total = 0;
    for (const pods of this.#byNamespace.values()) total += pods.size;
    return total;
  }

  #pods(namespace: string): Map<string, Pod> {
    let pods = this.#byNamespace.get(namespace);
    if (!pods) this.#byNamespace.set(namespace, pods = new Map());
    return pods;
  }

  #tell(namespace: string | undefined, concerns: (selector: LabelSelector) => boolean): void {
    for (const listener of this.#listeners) listener(namespace, concerns);
  }
}

/** The shared pod watch over a store: started on first use, until `signal` aborts. */
export class PodWatch implements PodStates {
  readonly store = new PodStore();
  readonly #loop: ListWatchLoop<PodScope>;
  readonly #signal: AbortSignal;
  #done: Promise<void> | undefined;
  #listed = false;

  /** `namespaces`: the scopes, as the workload watcher's (`[undefined]`: all). */
  constructor(
    source: ListWatchSource<PodScope>,
    namespaces: readonly (string | undefined)[],
    signal: AbortSignal,
    options: WatcherOptions = {},
  ) {
    const scopes = namespaces.map((namespace) => ({ info: POD_RESOURCE, namespace }));
    this.#loop = new ListWatchLoop(source, this.store, scopes, options);
    this.#signal = signal;
  }

  /** True once started. */
  get started(): boolean {
    return this.#done !== undefined;
  }

  start(): void {
    if (this.#done !== undefined || this.#signal.aborted) return;
    this.#done = this.#loop.start(this.#signal).then(({ done }) => {
      this.#listed = true;
      return done;
    });
  }

  get listed(): boolean {
    return this.#listed;
  }

  select(namespace: string, selector: LabelSelector): readonly Pod[] {
    return this.store.select(namespace, selector);
  }

  listen(listener: PodListener): () => void {
    return this.store.listen(listener);
  }

  /** Resolves when the watch has stopped (at once when it never started). */
  async done(): Promise<void> {
    await this.#done;
  }
}

/** A pod cut down to what the diagnosis and the verdict read. */
export function slimPod(object: KubeObject): Pod {
  // deno-lint-ignore no-explicit-any -- a raw pod or a client model, read by path
  const pod = object as any;
  const metadata = pod.metadata ?? {};
  const rollout = metadata.annotations?.[ROLLOUT_ANNOTATION];
  const spec = pod.spec ?? {};
  const status = pod.status ?? {};
  return {
    metadata: {
      name: metadata.name,
      namespace: metadata.namespace,
      labels: metadata.labels,
      // Only veryfreshpod's own record tells a rebuild's new pods apart.
      ...(typeof rollout === "string" && { annotations: { [ROLLOUT_ANNOTATION]: rollout } }),
      ...(metadata.deletionTimestamp && { deletionTimestamp: metadata.deletionTimestamp }),
      // When a CronJob's Job ran, and which Job: its verdict is timed from the pod.
      ...(metadata.creationTimestamp && { creationTimestamp: metadata.creationTimestamp }),
      ...(Array.isArray(metadata.ownerReferences) && {
        ownerReferences: metadata.ownerReferences.map((o: { kind?: string; name?: string }) => ({
          kind: o.kind,
          name: o.name,
        })),
      }),
    },
    spec: {
      nodeName: spec.nodeName,
      containers: containers(spec.containers),
      ...(Array.isArray(spec.initContainers) &&
        { initContainers: containers(spec.initContainers) }),
    },
    status: {
      phase: status.phase,
      ...(status.reason && { reason: status.reason }),
      ...(status.message && { message: status.message }),
      conditions: conditions(status.conditions),
      containerStatuses: statuses(status.containerStatuses),
      ...(Array.isArray(status.initContainerStatuses) &&
        { initContainerStatuses: statuses(status.initContainerStatuses) }),
    },
  };
}

// deno-lint-ignore no-explicit-any
function containers(list: any): PodContainer[] {
  if (!Array.isArray(list)) return [];
  return list.map((c) => ({ name: c.name, image: c.image, imagePullPolicy: c.imagePullPolicy }));
}

/** Only the conditions read: whether it is scheduled, whether it is ready. */
// deno-lint-ignore no-explicit-any
function conditions(list: any): Condition[] {
  if (!Array.isArray(list)) return [];
  return list
    .filter((c) => c?.type === "PodScheduled" || c?.type === "Ready")
    .map((c) => ({
      type: c.type,
      status: c.status,
      ...(c.reason && { reason: c.reason }),
      ...(c.message && { message: c.message }),
      ...(c.lastTransitionTime && { lastTransitionTime: c.lastTransitionTime }),
    }));
}

// deno-lint-ignore no-explicit-any
function statuses(list: any): ContainerStatus[] {
  if (!Array.isArray(list)) return [];
  return list.map((s) => ({
    name: s.name,
    image: s.image,
    ready: s.ready,
    restartCount: s.restartCount,
    state: state(s.state),
    lastState: state(s.lastState),
  }));
}

// deno-lint-ignore no-explicit-any
function state(value: any): ContainerState | undefined {
  if (!value) return undefined;
  const { waiting, running, terminated } = value;
  return {
    ...(waiting && { waiting: { reason: waiting.reason, message: waiting.message } }),
    ...(running && { running: { startedAt: running.startedAt } }),
    ...(terminated && {
      terminated: {
        exitCode: terminated.exitCode,
        signal: terminated.signal,
        reason: terminated.reason,
        message: terminated.message,
        startedAt: terminated.startedAt,
        finishedAt: terminated.finishedAt,
      },
    }),
  };
}
