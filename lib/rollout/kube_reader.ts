/**
 * The cluster side of rollout following: reads a workload and its pods (by
 * the workload's own selector), watches those pods so that a change is seen
 * at once, and reads the tail of a container's log. Needs exactly get on the
 * workload kinds, get/list/watch on pods and get on pods/log.
 */
import "../quiet_deprecations.ts";
import {
  CoreV1Api,
  type KubeConfig,
  type KubernetesObject,
  KubernetesObjectApi,
  Watch,
} from "@kubernetes/client-node";
import { Backoff } from "../backoff.ts";
import { logger } from "../log.ts";
import { apiMessage, apiStatus } from "../kube/api_errors.ts";
import { kindInfo } from "../kube/kinds.ts";
import type { WorkloadKey } from "../kube/workload.ts";
import type { RolloutReader } from "./follower.ts";
import type { Pod, WorkloadObject } from "./objects.ts";

const log = logger("rollout");

/** At most this many pod watches at once; beyond, follows poll (a fan-out over many workloads). */
export const MAX_WATCHES = 16;
const LOG_LIMIT_BYTES = 16 * 1024;

interface LabelSelector {
  readonly matchLabels?: Record<string, string> | undefined;
  readonly matchExpressions?:
    | ReadonlyArray<{ key: string; operator: string; values?: readonly string[] | undefined }>
    | undefined;
}

/**
 * A LabelSelector as the `labelSelector` query parameter (`app=web,tier in (a,b)`);
 * undefined when it selects nothing (no selector: never list every pod).
 */
export function selectorQuery(selector: LabelSelector | undefined): string | undefined {
  if (!selector) return undefined;
  const parts = Object.entries(selector.matchLabels ?? {}).map(([k, v]) => `${k}=${v}`);
  for (const { key, operator, values = [] } of selector.matchExpressions ?? []) {
    switch (operator) {
      case "In":
        parts.push(`${key} in (${values.join(",")})`);
        break;
      case "NotIn":
        parts.push(`${key} notin (${values.join(",")})`);
        break;
      case "Exists":
        parts.push(key);
        break;
      case "DoesNotExist":
        parts.push(`!${key}`);
        break;
      default:
        return undefined;
    }
  }
  return parts.length > 0 ? parts.join(",") : undefined;
}

/** Reads rollouts from the API server. */
export class KubeRolloutReader implements RolloutReader {
  readonly #config: KubeConfig;
  readonly #objects: KubernetesObjectApi;
  readonly #core: CoreV1Api;
  #watches = 0;

  constructor(config: KubeConfig) {
    this.#config = config;
    this.#objects = KubernetesObjectApi.makeApiClient(config);
    this.#core = config.makeApiClient(CoreV1Api);
  }

  async read(key: WorkloadKey): Promise<{ workload: WorkloadObject; pods: Pod[] } | undefined> {
    let workload: WorkloadObject;
    try {
      const header = {
        apiVersion: kindInfo(key.kind).apiVersion,
        kind: key.kind,
        metadata: { name: key.name, namespace: key.namespace },
      };
      workload = await this.#objects.read<KubernetesObject>(header) as WorkloadObject;
    } catch (error) {
      if (apiStatus(error) === 404) return undefined;
      throw error;
    }
    return { workload, pods: await this.listPods(key.namespace, workload) };
  }

  /** The pods the workload's selector picks (none for a CronJob: its Jobs come later). */
  async listPods(namespace: string, workload: WorkloadObject): Promise<Pod[]> {
    const labelSelector = selectorQuery(workload.spec?.selector);
    if (labelSelector === undefined) return [];
    const list = await this.#core.listNamespacedPod({ namespace, labelSelector });
    return list.items as Pod[];
  }

  async *changes(key: WorkloadKey, workload: WorkloadObject, signal: AbortSignal) {
    const labelSelector = selectorQuery(workload.spec?.selector);
    if (labelSelector === undefined || this.#watches >= MAX_WATCHES) return;
    this.#watches++;
    const backoff = new Backoff(250, 5_000);
    let changed = false;
    let wake: (() => void) | undefined;
    const notify = () => {
      changed = true;
      wake?.();
    };
    try {
      while (!signal.aborted) {
        let ended = false;
        const path = `/api/v1/namespaces/${encodeURIComponent(key.namespace)}/pods`;
        let request: AbortController | undefined;
        try {
          request = await new Watch(this.#config).watch(
            path,
            { labelSelector, allowWatchBookmarks: false },
            () => {
              backoff.reset();
              notify();
            },
            (error) => {
              if (error && !signal.aborted) {
                log.debug("Pod watch for {workload} ended: {error}", {
                  workload: key.name,
                  error: apiMessage(error),
                });
              }
              ended = true;
              wake?.();
            },
          );
        } catch (error) {
          log.debug("Cannot watch the pods of {workload}: {error}", {
            workload: key.name,
            error: apiMessage(error),
          });
          ended = true;
        }
        const stop = () => request?.abort();
        signal.addEventListener("abort", stop, { once: true });
        try {
          while (!ended && !signal.aborted) {
            if (!changed) {
              await new Promise<void>((resolve) => {
                wake = resolve;
                signal.addEventListener("abort", () => resolve(), { once: true });
              });
              wake = undefined;
            }
            if (changed && !signal.aborted) {
              changed = false;
              yield;
            }
          }
        } finally {
          signal.removeEventListener("abort", stop);
          request?.abort();
        }
        if (!signal.aborted) await backoff.wait(signal);
      }
    } finally {
      this.#watches--;
    }
  }

  async logTail(
    key: WorkloadKey,
    pod: string,
    container: string,
    previous: boolean,
    lines: number,
  ): Promise<string> {
    return await this.#core.readNamespacedPodLog({
      name: pod,
      namespace: key.namespace,
      container,
      previous,
      tailLines: lines,
      limitBytes: LOG_LIMIT_BYTES,
    });
  }
}
