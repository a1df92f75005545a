/**
 * How a followed rollout is told: the line in the log (and the failing
 * container's last log lines under a failure), the Event on the workload
 * (RolloutFailed; RolledOut for a success after a failure), and the rollout
 * metrics. The follower (follower.ts) decides when; this says it.
 */
import { errorMessage } from "../util/errors.ts";
import { logger } from "../util/log.ts";
import type { Metrics } from "../util/metrics.ts";
import type { WorkloadEvent } from "../kube/events.ts";
import { describeWorkload, workloadId } from "../model/workload.ts";
import type { FollowRequest } from "./follow_request.ts";
import type { LogReader } from "./follower.ts";
import type { PodProblem } from "./pod_diagnosis.ts";
import {
  crashedLine,
  doneLine,
  failedLine,
  LOG_BELOW,
  logTail,
  type RolloutResult,
  timeoutLine,
} from "./report.ts";
import type { Verdict } from "./verdict.ts";

const log = logger("rollout");

/** How many lines of the failing container's log follow the failure line. */
export const LOG_LINES = 5;
/** Declares the rollout metrics on a registry. */
export function defineRolloutMetrics(metrics: Metrics): void {
  metrics.define(
    "veryfreshpod_rollouts_total",
    "counter",
    "Rollouts followed to their end, by result (done, failed, timeout, deferred, superseded, " +
      "crashed: a success taken back)",
  );
  metrics.defineHistogram(
    "veryfreshpod_rollout_duration_seconds",
    "From the patch to the rollout's end, by result (done, failed, timeout)",
    [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
  );
}

/** What the reporter needs: where logs, Events and metrics go. */
export interface ReporterParts {
  readonly logs: LogReader;
  readonly events: { record(event: WorkloadEvent): Promise<void> };
  readonly metrics: Metrics;
}

/** Says how rollouts end; remembers which workload's last rollout failed. */
export class RolloutReporter {
  readonly #parts: ReporterParts;
  /** Workloads whose last rollout said failed: their next success records a RolledOut Event. */
  readonly #failed = new Set<string>();

  constructor(parts: ReporterParts) {
    this.#parts = parts;
  }

  /** A paused or deferred rollout, said once; the follow goes on. */
  onHold(request: FollowRequest, line: string, state: "paused" | "deferred"): void {
    const fields = { workload: describeWorkload(request.key), ...request.key, line };
    if (state === "paused") {
      log.warn("{line}", { ...fields, result: "paused" });
      return;
    }
    log.info("{line}", { ...fields, result: "deferred" });
    this.count("deferred");
  }

  /** A final verdict: done, or failed (with the failing container's log). */
  async report(
    request: FollowRequest,
    verdict: Extract<Verdict, { state: "done" | "failed" }>,
    now: number,
    signal: AbortSignal,
  ): Promise<void> {
    const { key, target } = request;
    // A CronJob's Job is timed from its pod, not from the patch long before.
    const elapsed = now - (verdict.job?.since ?? request.startedAt);
    const fields = { workload: describeWorkload(key), ...key };
    const id = workloadId(key);
    if (verdict.state === "done") {
      // The line is a value, never the template: a pod's message may hold braces.
      const line = doneLine(key, verdict, target.images, elapsed);
      log.info("{line}", { ...fields, line, result: "done" });
      this.count("done", elapsed);
      // `kubectl describe` showed the failure; it shows the success that follows too.
      if (this.#failed.delete(id)) await this.#record(request, "RolledOut", line);
      return;
    }
    const line = failedLine(key, verdict, target.images, elapsed);
    if (await this.#sayFailure(request, line, verdict.problem, verdict.reason, signal)) {
      this.count("failed", elapsed);
    }
  }

  /** A crash after the success was said: the line that takes it back, and the Event. */
  async crashed(
    request: FollowRequest,
    problem: PodProblem,
    signal: AbortSignal,
  ): Promise<void> {
    const line = crashedLine(request.key, problem, request.target.images);
    if (await this.#sayFailure(request, line, problem, undefined, signal)) {
      this.count("crashed");
    }
  }

  /**
   * A failure line, with the failing container's log under it when it can be
   * read, and a RolloutFailed Event with the same text. False when stopped.
   */
  async #sayFailure(
    request: FollowRequest,
    line: string,
    problem: PodProblem | undefined,
    reason: string | undefined,
    signal: AbortSignal,
  ): Promise<boolean> {
    const { key } = request;
    let tail: string[] = [];
    if (problem?.log) {
      try {
        const text = await this.#parts.logs.logTail(
          key,
          problem.pod,
          problem.log.container,
          problem.log.previous,
          LOG_LINES,
        );
        tail = logTail(text, LOG_LINES);
      } catch (error) {
        log.debug("Cannot read the log of {pod}: {error}", {
          pod: problem.pod,
          error: errorMessage(error),
        });
      }
    }
    if (signal.aborted) return false;
    const fields = { workload: describeWorkload(key), ...key };
    log.error("{line}", {
      ...fields,
      line: tail.length > 0 ? line + LOG_BELOW : line,
      result: "failed",
      pod: problem?.pod,
      container: problem?.container,
      reason: problem?.reason ?? reason,
      exitCode: problem?.exitCode,
      logTail: tail,
    });
    for (const logLine of tail) {
      log.error("    {logLine}", { ...fields, pod: problem?.pod, logLine });
    }
    this.#failed.add(workloadId(key));
    await this.#record(request, "RolloutFailed", line);
    return true;
  }

  /** A rollout that did not end within its bound. */
  async timedOut(
    request: FollowRequest,
    verdict: Extract<Verdict, { state: "progressing" }>,
    limitMs: number,
  ): Promise<void> {
    const line = timeoutLine(request.key, verdict, request.target.images, limitMs);
    log.error("{line}", {
      workload: describeWorkload(request.key),
      ...request.key,
      line,
      result: "timeout",
    });
    this.count("timeout", limitMs);
    this.#failed.add(workloadId(request.key));
    await this.#record(request, "RolloutFailed", line);
  }

  async #record(
    request: FollowRequest,
    reason: "RolloutFailed" | "RolledOut",
    message: string,
  ): Promise<void> {
    await this.#parts.events.record({
      workload: request.key,
      uid: request.uid,
      resourceVersion: undefined,
      reason,
      type: reason === "RolledOut" ? "Normal" : "Warning",
      message,
    });
  }

  /** Counts a result (and its duration, when it has one). */
  count(result: RolloutResult, elapsedMs?: number): void {
    const { metrics } = this.#parts;
    metrics.inc("veryfreshpod_rollouts_total", { result });
    if (elapsedMs !== undefined) {
      metrics.observe("veryfreshpod_rollout_duration_seconds", elapsedMs / 1000, { result });
    }
  }
}
