/**
 * Runs the patches of every fan-out with bounded concurrency, off the
 * controller's pass: the pass plans and submits, and is free for the next
 * change at once. Per workload, only the newest plan counts: a newer one
 * replaces an older one still waiting (to start or to be retried), so a new
 * tag never waits behind an old fan-out's retries. A conflict is re-read and
 * planned again by the worker that met it (so conflicts are handled
 * concurrently too); throttling, server errors and an unreachable API server
 * are retried with backoff, waiting without holding a worker. After
 * `deferAfter` failed attempts an update is reported deferred (one warning)
 * and tried on, less often, until it goes through or is replaced. An applied
 * patch's record (its Events) runs within the same concurrency once no patch
 * is ready to start: in a fan-out every rollout starts before the records
 * catch up (client-go's event recorder is asynchronous for the same reason).
 */
import { Backoff } from "../util/backoff.ts";
import type { Clock } from "../util/clock.ts";
import { errorMessage } from "../util/errors.ts";
import { logger } from "../util/log.ts";
import type { WorkloadUpdate } from "../model/plan_types.ts";
import type { PatchAttempt } from "./patcher.ts";
import { describeWorkload, workloadId, type WorkloadKey } from "../model/workload.ts";

const log = logger("update");

/** What became of one submitted update. */
export type PatchResult =
  | "applied"
  | "dry-run"
  | "gone"
  | "forbidden"
  | "failed"
  /** The fresh plan after a conflict had nothing left to do, or a newer plan replaced it. */
  | "superseded"
  /** The API server stayed unreachable or busy through `deferAfter` attempts; still tried. */
  | "deferred";

/** Re-reads a workload after a conflict and plans it again; undefined: nothing left to do. */
export type Replan = (workload: WorkloadKey) => Promise<WorkloadUpdate | undefined>;

/** One attempt at one update (the patcher, or a fake). */
export type Attempt = (update: WorkloadUpdate) => Promise<PatchAttempt>;

export interface PatchQueueOptions {
  /** How many patches (and conflict re-reads) run at once. */
  readonly concurrency: number;
  /** Failed attempts before an update is reported deferred. */
  readonly deferAfter?: number;
  /** Backoff between retries: first and longest delay, ms. */
  readonly retryMs?: readonly [number, number];
  /** Called with each result (a deferred update reports again when it ends). */
  readonly onResult?: (update: WorkloadUpdate, result: PatchResult) => void;
}

interface Entry {
  update: WorkloadUpdate;
  replan: Replan;
  /** Bumped by every newer plan: work for an older generation is dropped. */
  generation: number;
  state: "ready" | "running" | "waiting";
  failures: number;
  deferred: boolean;
  backoff: Backoff;
  /** Ends the current retry wait early (a newer plan arrived, or the queue closed). */
  wait: AbortController | undefined;
  /** Callers of `apply` waiting for this generation's result. */
  settle: Array<(result: PatchResult) => void>;
}

export class PatchQueue {
  readonly #attempt: Attempt;
  readonly #clock: Clock;
  readonly #options: PatchQueueOptions;
  readonly #entries = new Map<string, Entry>();
  readonly #ready: string[] = [];
  readonly #closed = new AbortController();
  /** Records of applied patches, waiting for a worker no patch needs. */
  readonly #records: Array<() => Promise<void>> = [];
  /** Records being written. */
  #recording = 0;
  #running = 0;
  #idle: Array<() => void> = [];

  constructor(attempt: Attempt, clock: Clock, options: PatchQueueOptions) {
    this.#attempt = attempt;
    this.#clock = clock;
    this.#options = options;
  }

  /** Workloads with an update not yet through (waiting, running or between retries). */
  get size(): number {
    return this.#entries.size;
  }

  /** Records of applied patches not yet written (waiting or under way). */
  get unrecorded(): number {
    return this.#records.length + this.#recording;
  }

  /** The updates not yet through, for the log line at shutdown. */
  get left(): WorkloadUpdate[] {
    return [...this.#entries.values()].map((entry) => entry.update);
  }

  /** Queues `update`; it replaces an update of the same workload not yet through. */
  submit(update: WorkloadUpdate, replan: Replan): void {
    if (this.#closed.signal.aborted) return;
    const id = workloadId(update.workload);
    const entry = this.#entries.get(id);
    if (entry === undefined) {
      this.#entries.set(id, {
        update,
        replan,
        generation: 0,
        state: "ready",
        failures: 0,
        deferred: false,
        backoff: this.#backoff(),
        wait: undefined,
        settle: [],
      });
      this.#ready.push(id);
    } else {
      this.#settle(entry, "superseded");
      entry.update = update;
      entry.replan = replan;
      entry.generation++;
      entry.failures = 0;
      entry.deferred = false;
      entry.backoff = this.#backoff();
      if (entry.state === "waiting") {
        // A newer plan does not wait out the older one's backoff.
        entry.wait?.abort();
        entry.state = "ready";
        this.#ready.push(id);
      }
      // A running entry picks the new plan up when its attempt ends.
    }
    this.#pump();
  }

  /** Submits `update` and resolves with its result (`superseded` when replaced). */
  apply(update: WorkloadUpdate, replan: Replan): Promise<PatchResult> {
    return new Promise((resolve) => {
      this.submit(update, replan);
      const entry = this.#entries.get(workloadId(update.workload));
      if (entry === undefined) resolve("superseded");
      else entry.settle.push(resolve);
    });
  }

  /** Resolves once every update is through and recorded, or `signal` aborts. */
  idle(signal?: AbortSignal): Promise<void> {
    if (this.#isIdle() || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        signal?.removeEventListener("abort", done);
        resolve();
      };
      this.#idle.push(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  /**
   * Stops: nothing new starts, retry waits end; returns the updates left and
   * how many applied ones will not be recorded (records under way finish).
   */
  close(): { updates: WorkloadUpdate[]; unrecorded: number } {
    const left = { updates: this.left, unrecorded: this.#records.length };
    this.#closed.abort();
    this.#records.length = 0;
    for (const entry of this.#entries.values()) entry.wait?.abort();
    return left;
  }

  #isIdle(): boolean {
    return this.#entries.size === 0 && this.unrecorded === 0;
  }

  #backoff(): Backoff {
    const [first, longest] = this.#options.retryMs ?? [250, 8_000];
    return new Backoff(first, longest, this.#clock);
  }

  #pump(): void {
    while (!this.#closed.signal.aborted && this.#running < this.#options.concurrency) {
      const id = this.#ready.shift();
      if (id !== undefined) {
        const entry = this.#entries.get(id);
        if (entry === undefined || entry.state !== "ready") continue;
        entry.state = "running";
        this.#running++;
        this.#run(id, entry).finally(() => this.#workerFree());
        continue;
      }
      // No patch is ready: a worker records an applied one.
      const record = this.#records.shift();
      if (record === undefined) return;
      this.#running++;
      this.#recording++;
      record().catch((error) => {
        log.warn("Cannot record an update: {error}", { error: errorMessage(error) });
      }).finally(() => {
        this.#recording--;
        this.#workerFree();
      });
    }
  }

  #workerFree(): void {
    this.#running--;
    this.#pump();
    if (this.#isIdle()) { for (const done of this.#idle.splice(0)) done(); }
  }

  async #run(id: string, entry: Entry): Promise<void> {
    const generation = entry.generation;
    const update = entry.update;
    let attempt: PatchAttempt;
    try {
      attempt = await this.#attempt(update);
    } catch (error) {
      attempt = { result: "retry", error: errorMessage(error) };
    }
    // Whatever comes next for this workload, an applied change is recorded.
    if (attempt.result === "applied" && attempt.record) this.#records.push(attempt.record);
    if (attempt.result === "conflict") {
      // Someone else changed the workload since it was read: plan it again from its
      // current state rather than overwrite their change.
      log.debug("{workload} changed meanwhile (409 Conflict); planning it again", {
        workload: describeWorkload(update.workload),
      });
      try {
        const fresh = await entry.replan(update.workload);
        if (entry.generation !== generation) return this.#again(id, entry);
        if (fresh === undefined) return this.#end(id, entry, update, "superseded");
        entry.update = fresh;
        // The first conflict is tried again at once with the fresh plan; more back off.
        if (entry.failures++ === 0) return this.#again(id, entry);
        return this.#retryLater(id, entry, generation);
      } catch (error) {
        attempt = { result: "retry", error: errorMessage(error) };
      }
    }
    if (entry.generation !== generation) {
      // A newer plan arrived meanwhile: report the old attempt, then try the new one.
      if (attempt.result !== "retry") this.#options.onResult?.(update, attempt.result);
      return this.#again(id, entry);
    }
    if (attempt.result !== "retry") return this.#end(id, entry, update, attempt.result);
    entry.failures++;
    const workload = describeWorkload(update.workload);
    if (!entry.deferred && entry.failures >= (this.#options.deferAfter ?? 6)) {
      entry.deferred = true;
      log.warn("Cannot update {workload} yet: {error}; will try again", {
        workload,
        error: attempt.error,
      });
      this.#options.onResult?.(update, "deferred");
    } else {
      log.debug("Updating {workload} failed: {error}; retrying", {
        workload,
        error: attempt.error,
      });
    }
    this.#retryLater(id, entry, generation);
  }

  #again(id: string, entry: Entry): void {
    entry.state = "ready";
    this.#ready.push(id);
  }

  #retryLater(id: string, entry: Entry, generation: number): void {
    entry.state = "waiting";
    const wait = new AbortController();
    entry.wait = wait;
    const stop = AbortSignal.any([wait.signal, this.#closed.signal]);
    this.#clock.sleep(entry.backoff.next(), stop).then(() => {
      if (entry.wait === wait) entry.wait = undefined;
      if (stop.aborted || entry.generation !== generation || entry.state !== "waiting") return;
      this.#again(id, entry);
      this.#pump();
    });
  }

  #end(id: string, entry: Entry, update: WorkloadUpdate, result: PatchResult): void {
    this.#entries.delete(id);
    this.#options.onResult?.(update, result);
    this.#settle(entry, result);
  }

  #settle(entry: Entry, result: PatchResult): void {
    for (const resolve of entry.settle.splice(0)) resolve(result);
  }
}
