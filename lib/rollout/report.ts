/**
 * The one line that says how a rollout ended, for the log and the
 * RolloutFailed Event. Pure, so every wording is tested.
 */
import { describeWorkload, type WorkloadKey } from "../kube/workload.ts";
import type { PodProblem } from "./pod_diagnosis.ts";
import type { SetImage, Verdict } from "./verdict.ts";

/** How a followed rollout ended. */
export type RolloutResult = "done" | "failed" | "timeout" | "deferred" | "superseded";

/** `myimage:fixed`, or `a:v2, b:v3` when several containers changed. */
export function imagesText(images: readonly SetImage[]): string {
  return [...new Set(images.map((i) => i.image))].join(", ") || "the new image";
}

/** `1.8 s` below ten seconds, `42 s` above. */
export function secondsText(ms: number): string {
  const seconds = Math.max(0, ms) / 1000;
  return seconds < 10 ? `${seconds.toFixed(1)} s` : `${Math.round(seconds)} s`;
}

/** `Rolled out Deployment dev/web: 2/2 pods on myimage:fixed in 1.8 s`. */
export function doneLine(
  key: WorkloadKey,
  verdict: { ready: number; desired: number },
  images: readonly SetImage[],
  elapsedMs: number,
): string {
  const pods = `${verdict.ready}/${verdict.desired} ${verdict.desired === 1 ? "pod" : "pods"}`;
  return `Rolled out ${describeWorkload(key)}: ${pods} on ${imagesText(images)} in ${
    secondsText(elapsedMs)
  }`;
}

/** `Updated CronJob dev/nightly to myimage:fixed: its next Job will use it`. */
export function deferredLine(key: WorkloadKey, why: string, images: readonly SetImage[]): string {
  return `Updated ${describeWorkload(key)} to ${imagesText(images)}: ${why}`;
}

/** `pod web-1 container web: CrashLoopBackOff, exited with code 1…; fix the program…`. */
export function problemText(problem: PodProblem): string {
  const where = problem.container === undefined
    ? `pod ${problem.pod}`
    : `pod ${problem.pod} container ${problem.container}`;
  return `${where}: ${problem.reason}, ${problem.detail}; ${problem.hint}`;
}

/** The line for a failed rollout. */
export function failedLine(
  key: WorkloadKey,
  verdict: Extract<Verdict, { state: "failed" }>,
  elapsedMs: number,
): string {
  const head = `Rollout of ${describeWorkload(key)} failed after ${secondsText(elapsedMs)}`;
  if (verdict.problem) return `${head}: ${problemText(verdict.problem)}`;
  return `${head}: ${verdict.reason ?? "failed"}, ${verdict.detail ?? ""}`.replace(/, $/, "");
}

/** The line for a rollout that did not end within its bound. */
export function timeoutLine(
  key: WorkloadKey,
  verdict: Extract<Verdict, { state: "progressing" }>,
  images: readonly SetImage[],
  limitMs: number,
): string {
  const waiting = verdict.waitingFor ? `; waiting for ${verdict.waitingFor}` : "";
  return `Rollout of ${describeWorkload(key)} did not finish in ${secondsText(limitMs)}: ` +
    `${verdict.ready}/${verdict.desired} pods on ${imagesText(images)} ready${waiting}`;
}

/** The log lines indented under the failure line; long lines are cut. */
export function logTail(text: string, lines: number, maxLength = 300): string[] {
  const all = text.replace(/\r/g, "").split("\n");
  if (all.at(-1) === "") all.pop();
  return all.slice(-lines).map((line) =>
    line.length > maxLength ? `${line.slice(0, maxLength - 1)}…` : line
  );
}
