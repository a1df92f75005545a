/**
 * Follows every rollout veryfreshpod starts until it ends, and says how in one
 * line: done (with the time it took), or which pod fails and why, followed by
 * the last lines of the failing container's log. A failure also becomes a
 * RolloutFailed Event on the workload.
 *
 * Each follow re-reads the workload and its pods whenever the pods change (a
 * watch by the workload's selector) and otherwise on a backoff, until the
 * verdict is final or the bound passes: the Deployment's
 * progressDeadlineSeconds, else `--rollout-timeout`. A new update of the same
 * workload replaces the follow in progress: only the last build is reported.
 */
import { sleep } from "../backoff.ts";
import { errorMessage } from "../errors.ts";
import { logger } from "../log.ts";
import type { Metrics } from "../metrics.ts";
import type { WorkloadUpdate } from "../plan_types.ts";
import type { WorkloadEvent } from "../kube/events.ts";
import { describeWorkload, workloadId, type WorkloadKey } from "../kube/workload.ts";
import type { Pod, WorkloadObject } from "./objects.ts";
import {
  deferredLine,
  doneLine,
  failedLine,
  logTail,
  type RolloutResult,
  timeoutLine,
} from "./report.ts";
import { decide, isNewPod, type RolloutTarget, type Verdict } from "./verdict.ts";

const log = logger("rollout");

/** How many lines of the failing container's log follow the failure line. */
export const LOG_LINES = 5;
/** Re-reads without a change in between back off from the first to the last delay. */
const POLL_FIRST_MS = 250;
const POLL_MAX_MS = 4_000;
/**
 * With many follows at once (a fan-out over hundreds of workloads), each polls
 * more slowly, so that together they stay near a few reads a second.
 */
const POLL_SPREAD_MS = 200;
/**
 * How long a rollout must stay done before it is reported: a new container is
 * available the moment it starts, so a build that exits at once would
 * otherwise be "rolled out" (seen on the real node). The time reported is
 * still when it was first done.
 */
export const SETTLE_MS = 2_000;
/** The controller marks ProgressDeadlineExceeded itself; leave it a moment to do so. */
const DEADLINE_SLACK_MS = 5_000;

/** What the follower reads from the cluster; the real one in kube_reader.ts, fakes in tests. */
export interface RolloutReader {
  /** The workload and its pods now; undefined when the workload is gone. */
  read(key: WorkloadKey): Promise<{ workload: WorkloadObject; pods: Pod[] } | undefined>;
  /**
   * Yields whenever the workload's pods change, until `signal` aborts; may
   * yield nothing at all (then the follower polls).
   */
  changes(key: WorkloadKey, workload: WorkloadObject, signal: AbortSignal): AsyncIterable<void>;
  /** The last `lines` lines of a container's log (its previous run when `previous`). */
  logTail(
    key: WorkloadKey,
    pod: string,
    container: string,
    previous: boolean,
    lines: number,
  ): Promise<string>;
}

/** Time, injected so tests run without waiting. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** One rollout to follow: the patch that started it. */
export interface FollowRequest {
  readonly key: WorkloadKey;
  readonly target: RolloutTarget;
  /** When the patch was applied (ms). */
  readonly startedAt: number;
  /** The workload's uid after the patch, for the Event. */
  readonly uid: string | undefined;
}

export interface FollowerOptions {
  /** The bound when the workload names none (`--rollout-timeout`). */
  readonly timeoutMs: number;
}

export interface FollowerParts {
  readonly reader: RolloutReader;
  readonly events: { record(event: WorkloadEvent): Promise<void> };
  readonly metrics: Metrics;
  readonly clock: Clock;
}

/** Declares the rollout metrics on a registry. */
export function defineRolloutMetrics(metrics: Metrics): void {
  metrics.define(
    "veryfreshpod_rollouts_total",
    "counter",
    "Rollouts followed to their end, by result (done, failed, timeout, deferred, superseded)",
  );
  metrics.defineHistogram(
    "veryfreshpod_rollout_duration_seconds",
    "From the patch to the rollout's end, by result (done, failed, timeout)",
    [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600],
  );
}

/** The rollout a patch starts, from the update and the object the API server returned. */
export function followRequest(
  update: WorkloadUpdate,
  patched: { metadata?: { generation?: number; uid?: string } | undefined },
  startedAt: number,
): FollowRequest {
  return {
    key: update.workload,
    target: {
      kind: update.workload.kind,
      generation: patched.metadata?.generation,
      images: [
        ...update.imageUpdates.map((u) => ({ container: u.container, image: u.to })),
        ...update.rebuilds.map((r) => ({ container: r.container, image: r.image })),
      ],
      rolloutAnnotation: update.rolloutAnnotation,
    },
    startedAt,
    uid: patched.metadata?.uid,
  };
}

/** Follows rollouts; one at a time per workload. */
export class RolloutFollower {
  readonly #parts: FollowerParts;
  readonly #options: FollowerOptions;
  readonly #signal: AbortSignal;
  readonly #active = new Map<string, { abort: AbortController; done: Promise<void> }>();

  /** Follows stop when `signal` aborts (veryfreshpod shutting down). */
  constructor(parts: FollowerParts, options: FollowerOptions, signal: AbortSignal) {
    this.#parts = parts;
    this.#options = options;
    this.#signal = signal;
  }

  /** How many rollouts are being followed. */
  get active(): number {
    return this.#active.size;
  }

  /** Starts following; replaces a follow of the same workload. */
  follow(request: FollowRequest): void {
    if (this.#signal.aborted) return;
    const id = workloadId(request.key);
    const previous = this.#active.get(id);
    if (previous) {
      previous.abort.abort();
      log.debug("A newer update of {workload} replaces the rollout being followed", {
        workload: describeWorkload(request.key),
      });
      this.#count("superseded");
    }
    const abort = new AbortController();
    const stop = () => abort.abort();
    this.#signal.addEventListener("abort", stop, { once: true });
    const done = this.#follow(request, abort.signal)
      .catch((error) => {
        log.warn("Cannot follow the rollout of {workload}: {error}", {
          workload: describeWorkload(request.key),
          error: errorMessage(error),
        });
      })
      .finally(() => {
        this.#signal.removeEventListener("abort", stop);
        if (this.#active.get(id)?.abort === abort) this.#active.delete(id);
      });
    this.#active.set(id, { abort, done });
  }

  /** Resolves when every follow has ended (after the signal aborts, promptly). */
  async settled(): Promise<void> {
    while (this.#active.size > 0) {
      await Promise.all([...this.#active.values()].map((f) => f.done));
    }
  }

  async #follow(request: FollowRequest, signal: AbortSignal): Promise<void> {
    const { reader, clock } = this.#parts;
    const first = await reader.read(request.key);
    if (signal.aborted) return;
    if (first === undefined) {
      log.debug("{workload} is gone; not following its rollout", {
        workload: describeWorkload(request.key),
      });
      return;
    }
    const limitMs = this.#limitMs(request, first.workload);
    const deadline = request.startedAt + limitMs;
    const watching = new AbortController();
    signal.addEventListener("abort", () => watching.abort(), { once: true });
    const changes = reader.changes(request.key, first.workload, watching.signal)[
      Symbol.asyncIterator
    ]();
    const nextChange = () =>
      changes.next().then((r) => (r.done ? NEVER : "change" as const), () => NEVER);
    let change = nextChange();
    let delay = POLL_FIRST_MS;
    try {
      let state: { workload: WorkloadObject; pods: Pod[] } = first;
      /** When the rollout first looked done, and its pods' restarts then. */
      let settling: { at: number; restarts: number } | undefined;
      while (!signal.aborted) {
        const now = clock.now();
        const verdict = decide(request.target, state.workload, state.pods, now);
        let waitMs: number;
        if (verdict.state === "done") {
          // A container counts as available the moment it starts; one that exits a
          // moment later must not be reported as rolled out. Confirm after a short while.
          const restarts = restartsOf(state.pods, request.target);
          if (settling === undefined || settling.restarts !== restarts) {
            settling = { at: now, restarts };
          }
          if (now - settling.at >= SETTLE_MS) {
            await this.#report(request, verdict, settling.at, signal);
            return;
          }
          waitMs = settling.at + SETTLE_MS - now;
        } else {
          settling = undefined;
          if (verdict.state !== "progressing") {
            await this.#report(request, verdict, now, signal);
            return;
          }
          if (now >= deadline) {
            await this.#timedOut(request, verdict, limitMs);
            return;
          }
          waitMs = Math.min(delay, deadline - now);
        }
        const wake = new AbortController();
        const stopWaiting = () => wake.abort();
        signal.addEventListener("abort", stopWaiting, { once: true });
        const woke = await Promise.race([
          change,
          clock.sleep(waitMs, wake.signal).then(() => "tick" as const),
        ]);
        wake.abort();
        signal.removeEventListener("abort", stopWaiting);
        if (signal.aborted) return;
        if (woke === "change") {
          change = nextChange();
          delay = POLL_FIRST_MS;
        } else {
          delay = Math.min(delay * 2, Math.max(POLL_MAX_MS, this.#active.size * POLL_SPREAD_MS));
        }
        let fresh;
        try {
          fresh = await reader.read(request.key);
        } catch (error) {
          // Keep the last state: the API server may be restarting; the bound still holds.
          log.debug("Cannot read the rollout of {workload}: {error}", {
            workload: describeWorkload(request.key),
            error: errorMessage(error),
          });
          continue;
        }
        if (fresh === undefined) {
          log.debug("{workload} is gone; no longer following its rollout", {
            workload: describeWorkload(request.key),
          });
          return;
        }
        state = fresh;
      }
    } finally {
      watching.abort();
    }
  }

  /** The bound: the Deployment's own progress deadline, else `--rollout-timeout`. */
  #limitMs(request: FollowRequest, workload: WorkloadObject): number {
    const deadline = workload.spec?.progressDeadlineSeconds;
    if (request.target.kind === "Deployment" && typeof deadline === "number" && deadline > 0) {
      return deadline * 1000 + DEADLINE_SLACK_MS;
    }
    return this.#options.timeoutMs;
  }

  async #report(
    request: FollowRequest,
    verdict: Exclude<Verdict, { state: "progressing" }>,
    now: number,
    signal: AbortSignal,
  ): Promise<void> {
    const { key, target } = request;
    const elapsed = now - request.startedAt;
    const fields = { workload: describeWorkload(key), ...key };
    if (verdict.state === "done") {
      // The line is a value, never the template: a pod's message may hold braces.
      const line = doneLine(key, verdict, target.images, elapsed);
      log.info("{line}", { ...fields, line, result: "done" });
      this.#count("done", elapsed);
      return;
    }
    if (verdict.state === "deferred") {
      const line = deferredLine(key, verdict.why, target.images);
      log.info("{line}", { ...fields, line, result: "deferred" });
      this.#count("deferred");
      return;
    }
    const line = failedLine(key, verdict, elapsed);
    const problem = verdict.problem;
    let tail: string[] = [];
    if (problem?.log) {
      try {
        const text = await this.#parts.reader.logTail(
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
    if (signal.aborted) return;
    log.error("{line}", {
      ...fields,
      line,
      result: "failed",
      pod: problem?.pod,
      container: problem?.container,
      reason: problem?.reason ?? verdict.reason,
      exitCode: problem?.exitCode,
      logTail: tail,
    });
    for (const logLine of tail) {
      log.error("    {logLine}", { ...fields, pod: problem?.pod, logLine });
    }
    this.#count("failed", elapsed);
    await this.#recordFailure(request, line);
  }

  async #timedOut(
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
    this.#count("timeout", limitMs);
    await this.#recordFailure(request, line);
  }

  async #recordFailure(request: FollowRequest, message: string): Promise<void> {
    await this.#parts.events.record({
      workload: request.key,
      uid: request.uid,
      resourceVersion: undefined,
      reason: "RolloutFailed",
      type: "Warning",
      message,
    });
  }

  #count(result: RolloutResult, elapsedMs?: number): void {
    const { metrics } = this.#parts;
    metrics.inc("veryfreshpod_rollouts_total", { result });
    if (elapsedMs !== undefined) {
      metrics.observe("veryfreshpod_rollout_duration_seconds", elapsedMs / 1000, { result });
    }
  }
}

/** Restarts of the new pods' containers: a change while settling means one crashed. */
function restartsOf(pods: readonly Pod[], target: RolloutTarget): number {
  let total = 0;
  for (const pod of pods.filter((p) => isNewPod(p, target))) {
    const statuses = [
      ...pod.status?.initContainerStatuses ?? [],
      ...pod.status?.containerStatuses ?? [],
    ];
    for (const status of statuses) total += status.restartCount ?? 0;
  }
  return total;
}

/** A promise that never settles: a change stream that ended or failed leaves polling. */
const NEVER = new Promise<never>(() => {});

/** The real clock. */
export const SYSTEM_CLOCK: Clock = { now: () => Date.now(), sleep };
