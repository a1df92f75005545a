import type { RolloutFields } from "./rollout_fields.ts";

/**
 * The plain-data view of a workload that the plan works on: which containers
 * run which image. Built from Kubernetes objects by the watcher; the plan and
 * its tests never see a Kubernetes object.
 */

/** The workload kinds veryfreshpod updates. */
export type WorkloadKind = "Deployment" | "StatefulSet" | "DaemonSet" | "CronJob";

/** Identifies one workload. */
export interface WorkloadKey {
  readonly kind: WorkloadKind;
  readonly namespace: string;
  readonly name: string;
}

/** One container (or initContainer) of a workload's pod template. */
export interface TrackedContainer {
  readonly name: string;
  readonly init: boolean;
  /** The image exactly as the workload spells it. */
  readonly image: string;
  /** `Always`, `IfNotPresent`, `Never`, or undefined when not set. */
  readonly pullPolicy: string | undefined;
  /**
   * When veryfreshpod first saw this container run this image, in
   * milliseconds since the epoch on its own clock (the index stamps it);
   * undefined when unknown. A rebuilt tag rolls only workloads that ran it
   * before the rebuild.
   */
  readonly since?: number | undefined;
}

/** A workload as last seen from the API server. */
export interface TrackedWorkload {
  readonly key: WorkloadKey;
  readonly resourceVersion: string;
  /** Its uid: Events on it show in `kubectl describe` only with it. */
  readonly uid?: string | undefined;
  /** The workload's own labels and annotations (tell who manages it, opt-out). */
  readonly labels: Readonly<Record<string, string>>;
  readonly annotations: Readonly<Record<string, string>>;
  /** The pod template's annotations (holds veryfreshpod's rollout record). */
  readonly templateAnnotations: Readonly<Record<string, string>>;
  readonly containers: readonly TrackedContainer[];
  /**
   * How its rollout stands (generation, selector, the status counters), for
   * the rollout follower (a CronJob: its schedule, for its next Job).
   */
  readonly rollout?: RolloutFields | undefined;
}

/** `Deployment default/web`, for log lines and messages. */
export function describeWorkload(key: WorkloadKey): string {
  return `${key.kind} ${key.namespace}/${key.name}`;
}

/** A stable string key for maps. */
export function workloadId(key: WorkloadKey): string {
  return `${key.kind}/${key.namespace}/${key.name}`;
}
