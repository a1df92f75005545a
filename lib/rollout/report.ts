/**
 * The one line that says how a rollout ended, for the log and the
 * RolloutFailed Event. Pure, so every wording is tested.
 */
import { describeWorkload, type WorkloadKey } from "../model/workload.ts";
import type { PodProblem } from "./pod_diagnosis.ts";
import type { SetImage, Verdict } from "./verdict.ts";

/** How a followed rollout ended. */
export type RolloutResult =
  | "done"
  | "failed"
  | "timeout"
  | "deferred"
  | "superseded"
  | "crashed";

/** `myimage:fixed (1a2b3c4d5e6f)`, or `a:v2 (…), b:v3 (…)` when several containers changed. */
export function imagesText(images: readonly SetImage[]): string {
  const texts = images.map((i) => i.id ? `${i.image} (${shortHex(i.id)})` : i.image);
  return [...new Set(texts)].join(", ") || "the new image";
}

/** The 12 hex digits `docker images` shows of an image ID. */
function shortHex(id: string): string {
  return id.replace(/^[a-z0-9]+:/, "").slice(0, 12);
}

/** `1.8 s` below ten seconds, `42 s` above. */
export function secondsText(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  return seconds < 10 ? `${seconds.toFixed(1)} s` : `${Math.round(seconds)} s`;
}

/** What a done verdict says. */
type Done = Extract<Verdict, { state: "done" }>;

/**
 * `Rolled out Deployment dev/web: 2/2 pods on myimage:fixed (1a2b3c4d5e6f) in 1.8 s`,
 * with the pods that keep the old build on purpose, or the Job that ran it.
 */
export function doneLine(
  key: WorkloadKey,
  verdict: Done,
  images: readonly SetImage[],
  elapsedMs: number,
): string {
  if (verdict.job) {
    return `Rolled out ${describeWorkload(key)}: Job ${verdict.job.name} succeeded on ${
      imagesText(images)
    } in ${secondsText(elapsedMs)}`;
  }
  const pods = `${verdict.ready}/${verdict.desired} ${verdict.desired === 1 ? "pod" : "pods"}`;
  const held = verdict.held && verdict.held.pods.length > 0
    ? `; ${verdict.held.pods.length === 1 ? "pod" : "pods"} ${verdict.held.pods.join(", ")} ` +
      `${verdict.held.pods.length === 1 ? "keeps" : "keep"} the old build (${verdict.held.why})`
    : "";
  return `Rolled out ${describeWorkload(key)}: ${pods} on ${imagesText(images)} in ${
    secondsText(elapsedMs)
  }${held}`;
}

/** `Updated CronJob dev/nightly to myimage:fixed (…): its next Job will use it…`. */
export function deferredLine(key: WorkloadKey, why: string, images: readonly SetImage[]): string {
  return `Updated ${describeWorkload(key)} to ${imagesText(images)}: ${why}`;
}

/** `Rollout of Deployment dev/web to app:v2 (…) waits: the Deployment is paused; …`. */
export function pausedLine(key: WorkloadKey, images: readonly SetImage[]): string {
  return `Rollout of ${describeWorkload(key)} to ${imagesText(images)} waits: the Deployment ` +
    `is paused (spec.paused); to roll it: kubectl rollout resume deployment/${key.name} ` +
    `-n ${key.namespace}`;
}

/** `pod web-1 container web: CrashLoopBackOff, exited with code 1…; fix the program…`. */
export function problemText(problem: PodProblem): string {
  const where = problem.container === undefined
    ? `pod ${problem.pod}`
    : `pod ${problem.pod} container ${problem.container}`;
  return `${where}: ${problem.reason}, ${problem.detail}; ${problem.hint}`;
}

/** What a failed verdict says. */
type Failed = Extract<Verdict, { state: "failed" }>;

/** Said after a failure line when the failing container's log lines follow it. */
export const LOG_BELOW = " (its log is below)";

/**
 * The line for a failed rollout: `Rollout of Deployment dev/web to app:v2
 * (1a2b3c4d5e6f) failed after 1.2 s: pod …`; a CronJob's Job says which Job.
 */
export function failedLine(
  key: WorkloadKey,
  verdict: Failed,
  images: readonly SetImage[],
  elapsedMs: number,
): string {
  const what = verdict.job
    ? `Job ${verdict.job.name} of ${describeWorkload(key)} on ${imagesText(images)}`
    : `Rollout of ${describeWorkload(key)} to ${imagesText(images)}`;
  const head = `${what} failed after ${secondsText(elapsedMs)}`;
  return `${head}: ${failureText(verdict)}`;
}

/**
 * The line that takes back a success already said: a new container crashed
 * within its first seconds of running.
 */
export function crashedLine(
  key: WorkloadKey,
  problem: PodProblem,
  images: readonly SetImage[],
): string {
  const ran = problem.ranMs === undefined ? "" : ` ${secondsText(problem.ranMs)} after it started`;
  return `Rollout of ${describeWorkload(key)} to ${imagesText(images)} crashed${ran}, after ` +
    `it was said to be rolled out: ${problemText(problem)}`;
}

/** Why a verdict failed, without the head: the pod's problem, else the workload's reason. */
export function failureText(verdict: Failed): string {
  if (verdict.problem) return problemText(verdict.problem);
  return `${verdict.reason ?? "failed"}, ${verdict.detail ?? ""}`.replace(/, $/, "");
}

/** The line for a rollout that did not end within its bound. */
export function timeoutLine(
  key: WorkloadKey,
  verdict: Extract<Verdict, { state: "progressing" }>,
  images: readonly SetImage[],
  limitMs: number,
): string {
  const waiting = verdict.waitingFor ? `; waiting for ${verdict.waitingFor}` : "";
  return `Rollout of ${describeWorkload(key)} to ${imagesText(images)} did not finish in ` +
    `${secondsText(limitMs)}: ${verdict.ready}/${verdict.desired} pods ready${waiting}`;
}

/** The log lines indented under the failure line; long lines are cut. */
export function logTail(text: string, lines: number, maxLength = 300): string[] {
  const all = text.replace(/\r/g, "").split("\n");
  if (all.at(-1) === "") all.pop();
  return all.slice(-lines).map((line) =>
    line.length > maxLength ? `${line.slice(0, maxLength - 1)}…` : line
  );
}
