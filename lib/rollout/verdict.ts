/**
 * How far a rollout has come, decided from the workload's status and its
 * pods: done, still in progress, or failed (and why). Pure: the follower calls
 * it after every change it sees, `veryfreshpod status` once per workload, and
 * the tests through tables.
 *
 * Completion follows `kubectl rollout status` per kind. Failures come from the
 * pods of the new revision (a crash, an image the node cannot get, a pod no
 * node takes) and from a Deployment's own conditions (progress deadline
 * exceeded, replicas it cannot create).
 */
import type { WorkloadKind } from "../kube/workload.ts";
import { ROLLOUT_ANNOTATION } from "../plan_types.ts";
import type { Condition, Pod, WorkloadObject } from "./objects.ts";
import { diagnosePod, oneLine, type PodProblem, podReady, podWaitingFor } from "./pod_diagnosis.ts";

/** One container's image as veryfreshpod set it. */
export interface SetImage {
  readonly container: string;
  /** The reference exactly as written into the workload. */
  readonly image: string;
}

/** What the rollout is meant to reach: the patch veryfreshpod applied. */
export interface RolloutTarget {
  readonly kind: WorkloadKind;
  /** metadata.generation the patch produced; undefined when not known. */
  readonly generation: number | undefined;
  readonly images: readonly SetImage[];
  /**
   * The pod-template annotation ROLLOUT_ANNOTATION as the patch wrote it, when
   * it rolled a rebuilt tag: then only pods carrying it are new.
   */
  readonly rolloutAnnotation: string | undefined;
}

/** The outcome so far. */
export type Verdict =
  | {
    readonly state: "progressing";
    readonly ready: number;
    readonly desired: number;
    readonly waitingFor: string | undefined;
  }
  | { readonly state: "done"; readonly ready: number; readonly desired: number }
  /** The pods change later: a CronJob's next Job, a StatefulSet or DaemonSet with OnDelete. */
  | { readonly state: "deferred"; readonly why: string }
  | {
    readonly state: "failed";
    /** A pod's problem, when one explains the failure. */
    readonly problem: PodProblem | undefined;
    /** The workload's own reason when no pod explains it (ProgressDeadlineExceeded…). */
    readonly reason: string | undefined;
    readonly detail: string | undefined;
  };

/** True when `pod` was made from the template the patch wrote (and is not going away). */
export function isNewPod(pod: Pod, target: RolloutTarget): boolean {
  if (pod.metadata?.deletionTimestamp) return false;
  const containers = [...pod.spec?.initContainers ?? [], ...pod.spec?.containers ?? []];
  for (const { container, image } of target.images) {
    if (containers.find((c) => c.name === container)?.image !== image) return false;
  }
  if (target.rolloutAnnotation !== undefined) {
    return pod.metadata?.annotations?.[ROLLOUT_ANNOTATION] === target.rolloutAnnotation;
  }
  return true;
}

/** Decides where the rollout of `target` stands, at time `now` (ms). */
export function decide(
  target: RolloutTarget,
  workload: WorkloadObject,
  pods: readonly Pod[],
  now: number,
): Verdict {
  if (target.kind === "CronJob") {
    return { state: "deferred", why: "its next Job will use it" };
  }
  const strategy = workload.spec?.updateStrategy?.type;
  if ((target.kind === "StatefulSet" || target.kind === "DaemonSet") && strategy === "OnDelete") {
    return {
      state: "deferred",
      why: "its updateStrategy is OnDelete, so each pod changes only once it is deleted",
    };
  }
  const fresh = pods.filter((pod) => isNewPod(pod, target));
  for (const pod of fresh) {
    const problem = diagnosePod(pod, now);
    if (problem) return { state: "failed", problem, reason: undefined, detail: undefined };
  }

  const status = workload.status ?? {};
  const observed = typeof status.observedGeneration === "number" ? status.observedGeneration : 0;
  const current = target.generation === undefined || observed >= target.generation;
  const waitingFor = firstWaiting(fresh, pods.length - fresh.length);
  const readyNew = fresh.filter(podReady).length;

  if (target.kind === "Deployment") {
    const desired = count(workload.spec?.replicas, 1);
    if (current) {
      const stuck = deploymentFailure(status.conditions);
      if (stuck) return { state: "failed", problem: undefined, ...stuck };
      const updated = count(status.updatedReplicas, 0);
      const available = count(status.availableReplicas, 0);
      if (updated >= desired && count(status.replicas, 0) <= updated && available >= updated) {
        return { state: "done", ready: Math.min(updated, available, desired), desired };
      }
    }
    return { state: "progressing", ready: readyNew, desired, waitingFor };
  }
  if (target.kind === "StatefulSet") {
    const desired = count(workload.spec?.replicas, 1);
    const partition = count(workload.spec?.updateStrategy?.rollingUpdate?.partition, 0);
    if (current && count(status.readyReplicas, 0) >= desired) {
      const updated = count(status.updatedReplicas, 0);
      const done = partition > 0
        ? updated >= desired - partition
        : status.updateRevision === status.currentRevision && updated >= desired;
      if (done) return { state: "done", ready: desired - partition, desired: desired - partition };
    }
    return { state: "progressing", ready: readyNew, desired: desired - partition, waitingFor };
  }
  // DaemonSet: one pod per node it is scheduled on.
  const desired = count(status.desiredNumberScheduled, 0);
  if (
    current && count(status.updatedNumberScheduled, 0) >= desired &&
    count(status.numberAvailable, 0) >= desired
  ) {
    return { state: "done", ready: desired, desired };
  }
  return { state: "progressing", ready: readyNew, desired, waitingFor };
}

/** A Deployment that says by itself it cannot go on. */
function deploymentFailure(
  conditions: readonly Condition[] | undefined,
): { reason: string; detail: string } | undefined {
  const progressing = conditions?.find((c) => c.type === "Progressing");
  if (progressing?.status === "False" && progressing.reason === "ProgressDeadlineExceeded") {
    return {
      reason: "ProgressDeadlineExceeded",
      detail: oneLine(progressing.message ?? "no progress within progressDeadlineSeconds"),
    };
  }
  const replicaFailure = conditions?.find((c) => c.type === "ReplicaFailure");
  if (replicaFailure?.status === "True") {
    return {
      reason: replicaFailure.reason ?? "ReplicaFailure",
      detail: oneLine(replicaFailure.message ?? "cannot create pods"),
    };
  }
  return undefined;
}

/** What the first not-ready new pod waits for, or that old pods still run. */
function firstWaiting(fresh: readonly Pod[], others: number): string | undefined {
  for (const pod of fresh) {
    const what = podWaitingFor(pod);
    if (what) return `pod ${pod.metadata?.name}: ${what}`;
  }
  if (fresh.length === 0) return "no pod of the new revision yet";
  return others > 0 ? `${others} old ${others === 1 ? "pod" : "pods"} still running` : undefined;
}

function count(value: unknown, fallback: number): number {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}
