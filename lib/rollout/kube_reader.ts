/**
 * The requests about rollouts that are not the shared watches: the pods of
 * one workload by its selector (for `veryfreshpod status`, which runs once
 * and watches nothing), and the tail of a failing container's log (the one
 * request a follow makes, on a failure), and the probe failures the kubelet
 * recorded as Events on a stuck rollout's pods. Needs list on pods and on
 * events, and get on pods/log.
 */
import type { KubeClient } from "../kube/rest.ts";
import type { LabelSelector } from "../model/rollout_fields.ts";
import type { WorkloadKey } from "../model/workload.ts";
import type { LogReader } from "./follower.ts";
import type { Pod, WorkloadObject } from "./objects.ts";
import { type CoreEvent, type ProbeEvent, probeEventsOf } from "./probe_failures.ts";
import { cronJobPodSelector } from "./verdict.ts";

const LOG_LIMIT_BYTES = 16 * 1024;

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

/** Reads pods and logs from the API server. */
export class KubeRolloutReader implements LogReader {
  readonly #client: KubeClient;

  constructor(client: KubeClient) {
    this.#client = client;
  }

  /** The pods the workload's selector picks (a CronJob's: its Jobs' pods). */
  async listPods(namespace: string, kind: string, workload: WorkloadObject): Promise<Pod[]> {
    const selector = kind === "CronJob" ? cronJobPodSelector(workload) : workload.spec?.selector;
    const labelSelector = selectorQuery(selector);
    if (labelSelector === undefined) return [];
    const list = await this.#client.json<{ items?: Pod[] | null }>(
      "GET",
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`,
      { query: { labelSelector } },
    );
    return list.items ?? [];
  }

  async logTail(
    key: WorkloadKey,
    pod: string,
    container: string,
    previous: boolean,
    lines: number,
  ): Promise<string> {
    const path = `/api/v1/namespaces/${encodeURIComponent(key.namespace)}/pods/${
      encodeURIComponent(pod)
    }/log`;
    return await this.#client.text(path, {
      query: { container, previous, tailLines: lines, limitBytes: LOG_LIMIT_BYTES },
    });
  }

  async probeEvents(namespace: string, pods: readonly string[]): Promise<ProbeEvent[]> {
    const wanted = new Set(pods);
    const list = await this.#client.json<{ items?: CoreEvent[] | null }>(
      "GET",
      `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`,
      { query: { fieldSelector: "involvedObject.kind=Pod,reason=Unhealthy" } },
    );
    return probeEventsOf(list.items ?? [], wanted);
  }
}
