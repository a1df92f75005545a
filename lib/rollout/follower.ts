/**
 * Follows every rollout veryfreshpod starts until it ends, and says how
 * (rollout_reporter.ts) in one line: done (with the time it took), or which
 * pod fails and why, followed by
 * the last lines of the failing container's log. A failure also becomes a
 * RolloutFailed Event on the workload, and a success after a failure a
 * RolledOut Event. After a success the new pods are watched through their
 * crash window (30 s, or minReadySeconds): a crash then takes the success
 * back in a second line. A paused Deployment, OnDelete, no replica and a
 * CronJob's next Job are said at once and followed on until pods run the
 * build. At start, the rollouts the workloads' records show as still within
 * their bound are followed again (`resume`).
 *
 * Following costs no request: the workload's state comes from the watch loop's
 * index, its pods from one shared pod watch (pod_store.ts), and each follow
 * decides again when either tells it that its workload or one of its pods
 * changed (and about once a second, for what only time changes), until the
 * verdict is final or the bound passes: the Deployment's
 * progressDeadlineSeconds, else `--rollout-timeout`. Only a failure reads
 * the failing container's log and records an Event. A new update of the same
 * workload replaces the follow in progress: only the last build is reported.
 */
import { sleep } from "../util/backoff.ts";
import { errorMessage } from "../util/errors.ts";
import { logger } from "../util/log.ts";
import type { Metrics } from "../util/metrics.ts";
import type { WorkloadEvent } from "../kube/events.ts";
import type { LabelSelector } from "../model/rollout_fields.ts";
import { describeWorkload, workloadId, type WorkloadKey } from "../model/workload.ts";
import type { TrackedWorkload } from "../model/workload.ts";
import { type FollowRequest, recordedRequest } from "./follow_request.ts";
import type { Pod, WorkloadObject } from "./objects.ts";
import type { PodStates } from "./pod_store.ts";
import { deferredLine, pausedLine } from "./report.ts";
import { type ProbeEvent, probeProblem } from "./probe_failures.ts";
import { RolloutReporter } from "./rollout_reporter.ts";
import {
  crashWindowMs,
  cronJobPodSelector,
  decide,
  isNewPod,
  type RolloutTarget,
} from "./verdict.ts";

const log = logger("rollout");

/**
 * Without news, a rollout in progress is decided again after this long (from
 * memory): some verdicts change with time alone (a pod unschedulable for
 * longer than its grace).
 */
export const RECHECK_MS = 1_000;
/**
 * How long a rollout must stay done before it is reported: a new container is
 * available the moment it starts, so a build that exits at once would
 * otherwise be "rolled out" (seen on the real node). The time reported is
 * still when it was first done.
 */
export const SETTLE_MS = 2_000;
/** The controller marks ProgressDeadlineExceeded itself; leave it a moment to do so. */
const DEADLINE_SLACK_MS = 5_000;

/** The workloads as the watch loop keeps them (watched_workloads.ts), fakes in tests. */
export interface WorkloadStates {
  /** The workload as last seen (what the verdict reads); undefined when it is gone. */
  get(key: WorkloadKey): WorkloadObject | undefined;
  /** Calls `listener` with the key of every workload that changes; returns the stopper. */
  listen(listener: (key: WorkloadKey) => void): () => void;
}

/**
 * The requests a follow may make, only on a failure: the failing container's
 * log, and the pods' probe failures (kube_reader.ts).
 */
export interface LogReader {
  /** The last `lines` lines of a container's log (its previous run when `previous`). */
  logTail(
    key: WorkloadKey,
    pod: string,
    container: string,
    previous: boolean,
    lines: number,
  ): Promise<string>;
  /** The probe failures (Unhealthy Events) of these pods, oldest first. */
  probeEvents(namespace: string, pods: readonly string[]): Promise<ProbeEvent[]>;
}

/** Time, injected so tests run without waiting. */
export interface Clock {
  now(): number;
  /** Resolves after `ms`, or at once when `signal` aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

export interface FollowerOptions {
  /** The bound when the workload names none (`--rollout-timeout`). */
  readonly timeoutMs: number;
}

export interface FollowerParts {
  readonly workloads: WorkloadStates;
  readonly pods: PodStates;
  readonly logs: LogReader;
  readonly events: { record(event: WorkloadEvent): Promise<void> };
  readonly metrics: Metrics;
  readonly clock: Clock;
}

/** One follow in progress. */
interface Follow {
  readonly key: WorkloadKey;
  readonly namespace: string;
  readonly abort: AbortController;
  readonly bell: Doorbell;
  /** Its pods' selector, once known; undefined: no pods to watch (a CronJob). */
  selector: LabelSelector | undefined;
  done: Promise<void>;
}

/** Follows rollouts; one at a time per workload. */
export class RolloutFollower {
  readonly #parts: FollowerParts;
  readonly #options: FollowerOptions;
  readonly #signal: AbortSignal;
  readonly #active = new Map<string, Follow>();
  readonly #reporter: RolloutReporter;

  /** Follows stop when `signal` aborts (veryfreshpod shutting down). */
  constructor(parts: FollowerParts, options: FollowerOptions, signal: AbortSignal) {
    this.#parts = parts;
    this.#options = options;
    this.#reporter = new RolloutReporter(parts);
    this.#signal = signal;
    const stopWorkloads = parts.workloads.listen((key) => {
      this.#active.get(workloadId(key))?.bell.ring();
    });
    const stopPods = parts.pods.listen((namespace, concerns) => {
      for (const follow of this.#active.values()) {
        const selector = follow.selector;
        if (selector === undefined) continue;
        if (namespace !== undefined && follow.namespace !== namespace) continue;
        if (concerns(selector)) follow.bell.ring();
      }
    });
    // One listener for every follow: a listener each would make each follow's start and end
    // walk a list as long as the fan-out.
    signal.addEventListener("abort", () => {
      stopWorkloads();
      stopPods();
      this.#sayOpen();
      for (const follow of this.#active.values()) follow.abort.abort(STOPPING);
    }, { once: true });
  }

  /** At the stop: which follows are still open (the next start follows them again). */
  #sayOpen(): void {
    const open = [...this.#active.values()].map((f) => describeWorkload(f.key));
    if (open.length === 0) return;
    const shown = open.slice(0, 10).join(", ") + (open.length > 10 ? ", …" : "");
    log.info(
      "Stopping with {count} {rollouts} still followed, followed again at the next " +
        "start: {workloads}",
      {
        count: open.length,
        rollouts: open.length === 1 ? "rollout" : "rollouts",
        workloads: shown,
      },
    );
  }

  /**
   * At start: follows again every rollout whose record (the workload's own
   * annotation) is newer than its bound, so a restart in the middle of a
   * follow still ends in a verdict. Returns how many.
   */
  resume(tracked: Iterable<TrackedWorkload>): number {
    const now = this.#parts.clock.now();
    const resumed: string[] = [];
    for (const workload of tracked) {
      const request = recordedRequest(workload);
      if (request === undefined) continue;
      const object = this.#parts.workloads.get(workload.key);
      if (object === undefined) continue;
      const boundMs = this.#limitMs(request, object) + crashWindowMs(object);
      if (now - request.startedAt >= boundMs) continue;
      this.follow(request);
      resumed.push(describeWorkload(workload.key));
    }
    if (resumed.length > 0) {
      log.info("Following again {count} {rollouts} under way at the last stop: {workloads}", {
        count: resumed.length,
        rollouts: resumed.length === 1 ? "rollout" : "rollouts",
        workloads: resumed.slice(0, 10).join(", ") + (resumed.length > 10 ? ", …" : ""),
      });
    }
    return resumed.length;
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
      previous.abort.abort(SUPERSEDED);
      log.debug("A newer update of {workload} replaces the rollout being followed", {
        workload: describeWorkload(request.key),
      });
      this.#reporter.count("superseded");
    }
    const abort = new AbortController();
    const follow: Follow = {
      key: request.key,
      namespace: request.key.namespace,
      abort,
      bell: new Doorbell(),
      selector: undefined,
      done: Promise.resolve(),
    };
    this.#active.set(id, follow);
    follow.done = this.#follow(request, follow, abort.signal)
      .catch((error) => {
        log.warn("Cannot follow the rollout of {workload}: {error}", {
          workload: describeWorkload(request.key),
          error: errorMessage(error),
        });
      })
      .finally(() => {
        if (this.#active.get(id) === follow) this.#active.delete(id);
      });
  }

  /** Resolves when every follow has ended (after the signal aborts, promptly). */
  async settled(): Promise<void> {
    while (this.#active.size > 0) {
      await Promise.all([...this.#active.values()].map((f) => f.done));
    }
  }

  async #follow(request: FollowRequest, follow: Follow, signal: AbortSignal): Promise<void> {
    const { workloads, pods, clock } = this.#parts;
    const first = workloads.get(request.key);
    if (first === undefined) {
      log.debug("{workload} is gone; not following its rollout", {
        workload: describeWorkload(request.key),
      });
      return;
    }
    const limitMs = this.#limitMs(request, first);
    /** The bound counts from here: the patch, or the last moment the rollout was on hold. */
    let boundFrom = request.startedAt;
    /** When the rollout first looked done, and its pods' restarts then. */
    let settling: { at: number; restarts: number } | undefined;
    /** What was said of a rollout on hold (paused, deferred), said once. */
    let said: string | undefined;
    /** When the success was said: the new pods are watched for a crash until the window ends. */
    let doneAt: number | undefined;
    /** The last decision found the rollout on hold (paused, deferred). */
    let onHold = false;
    while (!signal.aborted) {
      const workload = workloads.get(request.key);
      if (workload === undefined) {
        log.debug("{workload} is gone; no longer following its rollout", {
          workload: describeWorkload(request.key),
        });
        return;
      }
      // A CronJob's pods come with its Jobs.
      follow.selector = request.target.kind === "CronJob"
        ? cronJobPodSelector(workload)
        : workload.spec?.selector;
      if (follow.selector !== undefined) {
        pods.start();
        // Until the first list, no pod is known: decide nothing from that.
        if (!pods.listed) {
          await follow.bell.wait(RECHECK_MS, clock, signal);
          continue;
        }
      }
      const podsNow = follow.selector === undefined
        ? []
        : pods.select(request.key.namespace, follow.selector);
      const now = clock.now();
      let verdict = decide(request.target, workload, podsNow, now);
      // Off hold since the last decision (which waited for a change): the bound starts now.
      const held = verdict.state === "paused" || verdict.state === "deferred";
      if (onHold && !held) boundFrom = now;
      onHold = held;
      const deadline = boundFrom + limitMs;
      let waitMs: number | undefined = Math.min(RECHECK_MS, Math.max(0, deadline - now));

      if (doneAt !== undefined) {
        // Said to be rolled out: a crash within the window takes that back.
        if (verdict.state === "failed" && verdict.problem) {
          await this.#reporter.crashed(request, verdict.problem, signal);
          return;
        }
        const end = doneAt + crashWindowMs(workload);
        if (now >= end) return;
        // A crash comes with a change of the pods (the bell); only the window's end is time.
        await follow.bell.wait(end - now, clock, signal);
        continue;
      }
      // Stuck: a probe that keeps failing, named in the pods' Events, says why.
      const stuck = (verdict.state === "failed" && verdict.problem === undefined) ||
        (verdict.state === "progressing" && now >= deadline);
      if (stuck) {
        const problem = probeProblem(
          podsNow.filter((pod) => isNewPod(pod, request.target)),
          await this.#probeEvents(request, podsNow),
        );
        if (problem) verdict = { state: "failed", problem, reason: undefined, detail: undefined };
      }

      switch (verdict.state) {
        case "done": {
          // A container counts as available the moment it starts; one that exits a
          // moment later must not be reported as rolled out. Confirm after a short while.
          const restarts = restartsOf(podsNow, request.target);
          if (settling === undefined || settling.restarts !== restarts) {
            settling = { at: now, restarts };
          }
          if (now - settling.at < SETTLE_MS) {
            waitMs = settling.at + SETTLE_MS - now;
            break;
          }
          await this.#reporter.report(request, verdict, settling.at, signal);
          // A Job's success is final; a workload's pods are watched through their crash window.
          if (verdict.job !== undefined) return;
          doneAt = now;
          continue;
        }
        case "paused":
        case "deferred": {
          settling = undefined;
          // On hold: the bound counts from when it goes on.
          boundFrom = now;
          if (said !== verdict.state) {
            said = verdict.state;
            const text = verdict.state === "paused"
              ? pausedLine(request.key, request.target.images)
              : deferredLine(request.key, verdict.why, request.target.images);
            this.#reporter.onHold(request, text, verdict.state);
          }
          // On hold until the workload or its pods change (a resume, a scale, a deleted pod):
          // time alone changes nothing, so no timer (a fleet scaled to zero would wake each second).
          waitMs = undefined;
          break;
        }
        case "failed":
          await this.#reporter.report(request, verdict, now, signal);
          return;
        case "progressing":
          settling = undefined;
          if (now >= deadline) {
            await this.#reporter.timedOut(request, verdict, limitMs);
            return;
          }
      }
      await follow.bell.wait(waitMs, clock, signal);
    }
  }

  /** The probe failures of the rollout's pods; none when they cannot be read. */
  async #probeEvents(request: FollowRequest, pods: readonly Pod[]): Promise<ProbeEvent[]> {
    const names = pods.filter((pod) => isNewPod(pod, request.target))
      .map((pod) => pod.metadata?.name ?? "").filter((name) => name !== "");
    if (names.length === 0) return [];
    try {
      return await this.#parts.logs.probeEvents(request.key.namespace, names);
    } catch (error) {
      log.debug("Cannot read the Events of {workload}'s pods: {error}", {
        workload: describeWorkload(request.key),
        error: errorMessage(error),
      });
      return [];
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

/** Wakes a follow when its workload or pods change; a ring while it works is kept. */
class Doorbell {
  #rung = false;
  #wake: (() => void) | undefined;

  ring(): void {
    this.#rung = true;
    this.#wake?.();
  }

  /**
   * Resolves at the next ring (at once when one came since the last wait),
   * after `ms` (never, when undefined), or on abort. A thousand follows wait
   * here at once in a large fan-out: no timer where time changes nothing,
   * and no abort without a reason, which would build a DOMException (with
   * its stack) at every wake.
   */
  async wait(ms: number | undefined, clock: Clock, signal: AbortSignal): Promise<void> {
    if (!this.#rung && !signal.aborted) {
      const woken = new AbortController();
      const wake = () => woken.abort(RUNG);
      this.#wake = wake;
      signal.addEventListener("abort", wake, { once: true });
      await (ms === undefined ? abortOf(woken.signal) : clock.sleep(ms, woken.signal));
      signal.removeEventListener("abort", wake);
      this.#wake = undefined;
    }
    this.#rung = false;
  }
}

/**
 * The reasons a wait or a follow is cut short with: a reason, so no abort
 * builds a DOMException with its stack (a fan-out replaces a thousand follows).
 */
const RUNG = "rung";
const SUPERSEDED = "superseded";
const STOPPING = "stopping";

/** Resolves when `signal` aborts. */
function abortOf(signal: AbortSignal): Promise<void> {
  return new Promise((resolve) =>
    signal.addEventListener("abort", () => resolve(), { once: true })
  );
}

/** The real clock. */
export const SYSTEM_CLOCK: Clock = { now: () => Date.now(), sleep };
