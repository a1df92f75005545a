/**
 * How far a rollout has come, decided from the workload's status and its
 * pods: done, still in progress, or failed (and why). Pure: the follower calls
 * it after every change it sees, `veryfreshpod status` once per workload, and
 * the tests through tables.
 *
 * Completion follows `kubectl rollout status` per kind. Failures come from the
 * pods of the new revision (a crash, also one a restart hides; an exit 0 of a
 * container that must keep running; an image the node cannot get; a command
 * the image lacks; a pod no node takes) and from a Deployment's own
 * conditions (progress deadline exceeded, explained by a failing probe when
 * the pods' Events name one; replicas it cannot create). A paused Deployment,
 * OnDelete, a partition, no replica and a CronJob's next Job each say so.
 */
import type { LabelSelector } from "../model/rollout_fields.ts";
import type { WorkloadKind } from "../model/workload.ts";
import { ROLLOUT_ANNOTATION } from "../model/plan_types.ts";
import { nextRun, runTimeText } from "./cron_schedule.ts";
import { type Condition, type Pod, timeOf, type WorkloadObject } from "./objects.ts";
import { type ProbeEvent, probeProblem } from "./probe_failures.ts";
import {
  CRASH_WINDOW_MS,
  diagnosePod,
  oneLine,
  type PodProblem,
  podReady,
  podWaitingFor,
} from "./pod_diagnosis.ts";

/** One container's image as veryfreshpod set it. */
export interface SetImage {
  readonly container: string;
  /** The reference exactly as written into the workload. */
  readonly image: string;
  /** The image ID it named then, for the lines (which build failed). */
  readonly id?: string | undefined;
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

/** Pods that keep the old build on purpose (OnDelete, a partition), and why. */
export interface HeldPods {
  readonly pods: readonly string[];
  readonly why: string;
}

/** The outcome so far. */
export type Verdict =
  | {
    readonly state: "progressing";
    readonly ready: number;
    readonly desired: number;
    readonly waitingFor: string | undefined;
  }
  /** A paused Deployment: nothing rolls until `kubectl rollout resume`. */
  | { readonly state: "paused" }
  | {
    readonly state: "done";
    readonly ready: number;
    readonly desired: number;
    /** Pods that still run the old build on purpose. */
    readonly held?: HeldPods | undefined;
    /** A CronJob's Job that ran the build, and when its pod was made (ms). */
    readonly job?: { readonly name: string; readonly since: number | undefined } | undefined;
  }
  /**
   * The pods change later: a CronJob's next Job, a StatefulSet or DaemonSet
   * with OnDelete, a workload with no replica.
   */
  | { readonly state: "deferred"; readonly why: string }
  | {
    readonly state: "failed";
    /** A pod's problem, when one explains the failure. */
    readonly problem: PodProblem | undefined;
    /** The workload's own reason when no pod explains it (ProgressDeadlineExceeded…). */
    readonly reason: string | undefined;
    readonly detail: string | undefined;
    /** A CronJob's Job that failed, and when its pod was made (ms). */
    readonly job?: { readonly name: string; readonly since: number | undefined } | undefined;
  };

/** What the verdict reads besides the workload and its pods. */
export interface DecideContext {
  /** The probe failures of the workload's pods, when read (only for a stuck rollout). */
  readonly probeEvents?: readonly ProbeEvent[] | undefined;
}

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

/**
 * How long after it starts a new container may not crash: 30 s, or the
 * workload's minReadySeconds when longer (its pods count only after that).
 */
export function crashWindowMs(workload: WorkloadObject): number {
  const minReady = count(workload.spec?.minReadySeconds, 0) * 1000;
  return Math.max(CRASH_WINDOW_MS, minReady);
}

/** The pods of a CronJob's Jobs: its template's labels, on a pod a Job made. */
export function cronJobPodSelector(workload: WorkloadObject): LabelSelector {
  // The watch's index keeps the labels apart; a whole object has them in its template.
  const labels = workload.spec?.jobPodLabels ??
    workload.spec?.jobTemplate?.spec?.template?.metadata?.labels;
  return {
    ...(labels && { matchLabels: labels }),
    matchExpressions: [{ key: JOB_NAME_LABEL, operator: "Exists" }],
  };
}

const JOB_NAME_LABEL = "batch.kubernetes.io/job-name";

/** Decides where the rollout of `target` stands, at time `now` (ms). */
export function decide(
  target: RolloutTarget,
  workload: WorkloadObject,
  pods: readonly Pod[],
  now: number,
  context: DecideContext = {},
): Verdict {
  const rules = { mustKeepRunning: true, crashWindowMs: crashWindowMs(workload) };
  if (target.kind === "CronJob") return decideCronJob(target, workload, pods, now, rules);
  const fresh = pods.filter((pod) => isNewPod(pod, target));
  const old = pods.filter((pod) => !pod.metadata?.deletionTimestamp && !isNewPod(pod, target));
  for (const pod of fresh) {
    const problem = diagnosePod(pod, now, rules);
    if (problem) {
      return {
        state: "failed",
        problem: surgeExplained(problem, target, workload, old.length),
        reason: undefined,
        detail: undefined,
      };
    }
  }
  const spec = workload.spec ?? {};
  if (target.kind === "Deployment" && spec.paused === true) return { state: "paused" };

  const status = workload.status ?? {};
  const observed = typeof status.observedGeneration === "number" ? status.observedGeneration : 0;
  const current = target.generation === undefined || observed >= target.generation;
  const waitingFor = firstWaiting(fresh, old.length);
  const readyNew = fresh.filter(podReady).length;
  const resource = `${target.kind.toLowerCase()}/${workload.metadata?.name ?? ""}`;
  const namespace = workload.metadata?.namespace ?? "";

  if (target.kind !== "DaemonSet" && count(spec.replicas, 1) === 0) {
    return {
      state: "deferred",
      why: "it has 0 replicas, so nothing runs this build; to run it: kubectl scale " +
        `${resource} -n ${namespace} --replicas=1`,
    };
  }
  const strategy = spec.updateStrategy?.type;
  if (target.kind !== "Deployment" && strategy === "OnDelete") {
    return onDelete(fresh, old, namespace);
  }

  if (target.kind === "Deployment") {
    const desired = count(spec.replicas, 1);
    if (current) {
      const stuck = deploymentFailure(status.conditions);
      if (stuck) {
        const problem = probeProblem(fresh, context.probeEvents);
        if (problem) return { state: "failed", problem, reason: undefined, detail: undefined };
        return { state: "failed", problem: undefined, ...stuck };
      }
      const updated = count(status.updatedReplicas, 0);
      const available = count(status.availableReplicas, 0);
      if (updated >= desired && count(status.replicas, 0) <= updated && available >= updated) {
        return { state: "done", ready: Math.min(updated, available, desired), desired };
      }
    }
    return { state: "progressing", ready: readyNew, desired, waitingFor };
  }
  if (target.kind === "StatefulSet") {
    const desired = count(spec.replicas, 1);
    const partition = Math.min(count(spec.updateStrategy?.rollingUpdate?.partition, 0), desired);
    if (current && count(status.readyReplicas, 0) >= desired) {
      const updated = count(status.updatedReplicas, 0);
      const done = partition > 0
        ? updated >= desired - partition
        : status.updateRevision === status.currentRevision && updated >= desired;
      if (done) {
        const held = partition > 0
          ? {
            pods: names(old),
            why: `partition: ${partition} keeps pods with an ordinal below ${partition} on ` +
              "the old build",
          }
          : undefined;
        return { state: "done", ready: desired - partition, desired, held };
      }
    }
    return { state: "progressing", ready: readyNew, desired: desired - partition, waitingFor };
  }
  // DaemonSet: one pod per node it is scheduled on.
  const desired = count(status.desiredNumberScheduled, 0);
  if (current && desired === 0) {
    return {
      state: "deferred",
      why: "no node runs its pods (its nodeSelector, affinity or tolerations match none), so " +
        "nothing runs this build",
    };
  }
  if (
    current && count(status.updatedNumberScheduled, 0) >= desired &&
    count(status.numberAvailable, 0) >= desired
  ) {
    return { state: "done", ready: desired, desired };
  }
  return { state: "progressing", ready: readyNew, desired, waitingFor };
}

/** OnDelete: only the pods deleted since the update run it; the rest say so. */
function onDelete(fresh: readonly Pod[], old: readonly Pod[], namespace: string): Verdict {
  if (fresh.length === 0) {
    const example = old[0]?.metadata?.name;
    return {
      state: "deferred",
      why: "its updateStrategy is OnDelete, so each pod changes only once it is deleted" +
        (example ? ` (kubectl delete pod ${example} -n ${namespace})` : ""),
    };
  }
  const ready = fresh.filter(podReady).length;
  if (ready < fresh.length) {
    return {
      state: "progressing",
      ready,
      desired: fresh.length,
      waitingFor: firstWaiting(fresh, 0),
    };
  }
  return {
    state: "done",
    ready,
    desired: fresh.length + old.length,
    held: old.length > 0
      ? { pods: names(old), why: "updateStrategy OnDelete: each changes once it is deleted" }
      : undefined,
  };
}

/**
 * A CronJob changes nothing until its next Job: deferred, with when that is,
 * until a Job on the new build runs; then that Job's outcome.
 */
function decideCronJob(
  target: RolloutTarget,
  workload: WorkloadObject,
  pods: readonly Pod[],
  now: number,
  rules: { crashWindowMs: number },
): Verdict {
  const runs = pods.filter((pod) => isNewPod(pod, target))
    .sort((a, b) => (createdAt(a) ?? 0) - (createdAt(b) ?? 0));
  const latest = runs.at(-1);
  if (latest === undefined) return { state: "deferred", why: cronJobWhy(workload, now) };
  const job = {
    name: latest.metadata?.labels?.[JOB_NAME_LABEL] ?? latest.metadata?.name ?? "",
    since: createdAt(latest),
  };
  const problem = diagnosePod(latest, now, { ...rules, mustKeepRunning: false });
  if (problem) return { state: "failed", problem, reason: undefined, detail: undefined, job };
  if (latest.status?.phase === "Succeeded") return { state: "done", ready: 1, desired: 1, job };
  return {
    state: "progressing",
    ready: 0,
    desired: 1,
    waitingFor: `Job ${job.name}: ${podWaitingFor(latest) ?? "running"}`,
  };
}

/** When the CronJob runs next, and how to run it now. */
export function cronJobWhy(workload: WorkloadObject, now: number): string {
  const name = workload.metadata?.name ?? "";
  const namespace = workload.metadata?.namespace ?? "";
  const schedule = workload.spec?.schedule;
  const timeZone = workload.spec?.timeZone;
  const next = typeof schedule === "string" ? nextRun(schedule, timeZone, now) : undefined;
  const when = next === undefined
    ? "its next Job will use it"
    : `its next Job will use it, at ${runTimeText(next)} (schedule "${schedule}"` +
      `${timeZone ? `, time zone ${timeZone}` : ""})`;
  const job = `${name.slice(0, 52)}-now`;
  return `${when}; to run one now: kubectl create job ${job} --from=cronjob/${name} ` +
    `-n ${namespace}`;
}

/**
 * A pod no node takes while the old pods still run: with a rolling update's
 * surge, the new pod needs room of its own next to them, which may be all
 * that is missing.
 */
function surgeExplained(
  problem: PodProblem,
  target: RolloutTarget,
  workload: WorkloadObject,
  oldPods: number,
): PodProblem {
  if (problem.reason !== "Unschedulable" || target.kind !== "Deployment" || oldPods === 0) {
    return problem;
  }
  const strategy = workload.spec?.strategy;
  const maxSurge = strategy?.rollingUpdate?.maxSurge;
  if (strategy?.type === "Recreate" || maxSurge === 0 || maxSurge === "0%") return problem;
  return {
    ...problem,
    detail: `${problem.detail}; it is the surge pod, and the ${oldPods} old ` +
      `${oldPods === 1 ? "pod holds" : "pods hold"} the room it needs`,
    hint: "set the Deployment's strategy.rollingUpdate.maxSurge to 0 (or strategy Recreate) " +
      "so an old pod makes room first, or free or add capacity",
  };
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

function names(pods: readonly Pod[]): string[] {
  return pods.map((pod) => pod.metadata?.name ?? "").filter((name) => name !== "").sort();
}

function createdAt(pod: Pod): number | undefined {
  return timeOf(pod.metadata?.creationTimestamp);
}

function count(value: unknown, fallback: number): number {
  return typeof value === "number" && Number.isFinite(value) ? value : fallback;
}
