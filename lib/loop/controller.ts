/**
 * Wires the streams together and owns their lifecycle:
 *
 *   engine events / periodic re-read -> snapshot diff -> plan -> patches + Events
 *   Kubernetes list+watch             -> workload index ----^
 *
 * Start: connect to the engine and the cluster (failing fast with a clear
 * line), take the baseline snapshot, list every workload. From then on only
 * differences against the last snapshot count, so restarting veryfreshpod
 * never restarts the cluster. A lost engine connection is retried with backoff;
 * the snapshot taken after reconnecting is diffed against the last good one, so
 * nothing tagged meanwhile is missed.
 *
 * The first event starts a pass at once; what arrives during a pass makes one
 * more. A pass only reads, diffs, plans and submits to the patch queue, which
 * patches off the pass. A re-read that does not answer in time marks the
 * engine down. On the stop signal, what was planned gets `shutdownMs` to go
 * through. At start, a fan-out a crash cut short is completed (resume.ts).
 */
import { Backoff } from "../util/backoff.ts";
import { type Clock, realClock, TimeoutError, withTimeout } from "../util/clock.ts";
import type { Engine, EngineEvent } from "../engine/engine.ts";
import { type ImageChange, type ImageSnapshot, withConfigIds } from "../model/image_snapshot.ts";
import { errorMessage } from "../util/errors.ts";
import { plural } from "../util/plural.ts";
import { logger } from "../util/log.ts";
import type { Metrics } from "../util/metrics.ts";
import { plan, planMissedRebuilds, type PlanOptions, type PlanResult } from "../decision/plan.ts";
import { awaitingPush, withConfigIdsOf, type WorkloadUpdate } from "../model/plan_types.ts";
import { planResume, recordedMoves } from "./resume.ts";
import { diffSnapshots, withToldTags } from "./snapshot.ts";
import { TagEventLog, timeChanges } from "./tag_times.ts";
import { describeWorkload, workloadId } from "../model/workload.ts";
import type { WorkloadKey } from "../model/workload.ts";
import type { KubeSide } from "../kube/kube_side.ts";
import { PatchQueue, type Replan } from "../kube/patch_queue.ts";

const log = logger("controller");

export interface ControllerOptions {
  readonly plan: PlanOptions;
  /** How often the image list is re-read without an event (some builds emit none). */
  readonly resyncMs: number;
  /** How long a re-read may take before the engine counts as down (default 5 s). */
  readonly readTimeoutMs?: number;
  /**
   * After the signal, how long updates already planned may still be applied
   * (default 20 s, under Kubernetes' 30 s grace period).
   */
  readonly shutdownMs?: number;
  /** How many workloads are patched at once (default 16). */
  readonly concurrency?: number;
}

/** The parts the controller drives; real ones in `run`, fakes in controller_test.ts. */
export interface ControllerParts {
  readonly engine: Engine;
  readonly kube: KubeSide;
  readonly metrics: Metrics;
  /** Time; the real clock unless a test passes another. */
  readonly clock?: Clock;
  /**
   * Called with every batch of updates before any is patched (the bridge
   * copies their images to containerd nodes); when it throws, nothing is
   * patched and the same changes are planned again on a later pass.
   */
  readonly beforePatch?: BeforePatch;
  /**
   * Called once the workloads are listed, before anything is patched: the
   * rollout follower follows again what the last run left open.
   */
  readonly onSynced?: () => void;
}

/**
 * Makes what `updates` need ready; throws to hold them back. May resolve with
 * config digests learned meanwhile (image ID -> config digest: the bridge
 * asks the nodes), which the updates' records then hold.
 */
export type BeforePatch = (
  updates: readonly WorkloadUpdate[],
  snapshot: ImageSnapshot,
) => Promise<ReadonlyMap<string, string> | void>;

/** Declares the controller's metrics on a registry. */
export function defineControllerMetrics(metrics: Metrics): void {
  metrics.define(
    "veryfreshpod_engine_connected",
    "gauge",
    "1 while the engine stream is up and the engine answers",
  );
  metrics.define("veryfreshpod_engine_reconnects_total", "counter", "Engine reconnections");
  metrics.define("veryfreshpod_image_events_total", "counter", "Image events from the engine");
  metrics.define("veryfreshpod_image_changes_total", "counter", "Tag changes seen, by kind");
  metrics.define("veryfreshpod_tracked_workloads", "gauge", "Workloads in the index");
  metrics.define("veryfreshpod_workload_updates_total", "counter", "Updates, by result");
}

/**
 * The action of a line of the event stream that was not an event
 * (`unreadableEvent` in engine/docker_events.ts): it still causes a re-read,
 * but proves nothing about the stream's health.
 */
const UNREADABLE = "unreadable";
/** A stream up this long counts as healthy even without events (a quiet engine). */
const HEALTHY_STREAM_MS = 30_000;
/** Image events that take tags away. */
const REMOVALS = new Set(["untag", "delete"]);

export class Controller {
  readonly #parts: ControllerParts;
  readonly #options: ControllerOptions;
  readonly #clock: Clock;
  readonly #queue: PatchQueue;
  #snapshot: ImageSnapshot = new Map();
  /** When the read that gave `#snapshot` began. */
  #snapshotReadAt = 0;
  /** When the tags named by events were set: orders the changes the next diff finds. */
  readonly #tagEvents = new TagEventLog();
  /** Tags events said were set, with their image, not yet acted on: key → image ID. */
  readonly #toldTags = new Map<string, string>();
  /** The event stream is up. */
  #streamUp = false;
  /** The last re-read answered in time (a hung daemon keeps its stream open). */
  #answering = true;
  /** A re-read still under way (a hung one is waited for, not asked again). */
  #reading: Promise<ImageSnapshot> | undefined;
  /** Set while a pass waits for its read: wakes it when an event names a tag and its image. */
  #wakeOnTold: (() => void) | undefined;
  #synced = false;
  #requested = false;
  #running: Promise<void> | undefined;

  constructor(parts: ControllerParts, options: ControllerOptions) {
    this.#parts = parts;
    this.#options = options;
    this.#clock = parts.clock ?? realClock;
    this.#queue = new PatchQueue((update) => parts.kube.patch(update), this.#clock, {
      concurrency: options.concurrency ?? 16,
      onResult: (_update, result) => {
        parts.metrics.inc("veryfreshpod_workload_updates_total", { result });
      },
    });
  }

  /** True once the workloads are listed and the engine is up and answering (for /readyz). */
  get ready(): boolean {
    return this.#synced && this.#streamUp && this.#answering;
  }

  /** Updates planned and not yet through (waiting, running or between retries). */
  get pendingUpdates(): number {
    return this.#queue.size;
  }

  /**
   * Runs until `signal` aborts, then applies what was planned within
   * `shutdownMs`. Throws (a UserError) only for faults at start: engine or
   * cluster unreachable.
   */
  async run(signal: AbortSignal): Promise<void> {
    const { engine, kube, metrics } = this.#parts;
    await engine.connect();
    this.#snapshotReadAt = this.#clock.now();
    this.#snapshot = await engine.snapshot();
    log.info("Watching {engine}: {images}", {
      engine: engine.description,
      images: plural(this.#snapshot.size, "tagged image"),
      count: this.#snapshot.size,
    });
    const { done: watching } = await kube.start(signal);
    if (signal.aborted) return;
    this.#synced = true;
    metrics.set("veryfreshpod_tracked_workloads", kube.size);
    log.info("Tracking {workloads}", {
      workloads: plural(kube.size, "workload"),
      count: kube.size,
    });
    this.#parts.onSynced?.();

    // The one exception to "only differences count": workloads whose recorded
    // image ID is stale were rebuilt while veryfreshpod was down.
    const missed = this.#logSkipped(
      planMissedRebuilds(kube.workloads(), this.#snapshot, this.#options.plan),
    );
    // And a fan-out that a crash cut short is completed, from the workloads' own record.
    const moves = recordedMoves(kube.workloads());
    const rebuilt = new Set(missed.map((u) => workloadId(u.workload)));
    const resumed = this.#logSkipped(
      planResume(moves, kube.workloads(), this.#snapshot, this.#options.plan),
    ).filter((u) => !rebuilt.has(workloadId(u.workload)));
    if (resumed.length > 0) {
      log.info("Completing an interrupted update: {workloads} still on an older tag", {
        workloads: plural(resumed.length, "workload"),
        count: resumed.length,
      });
    }
    const catchUp = Promise.all([
      this.#applyMissed(missed, signal, (key) => this.#replanMissed(key)),
      this.#applyMissed(resumed, signal, async (key) => {
        const fresh = await this.#parts.kube.reread(key);
        if (!fresh) return undefined;
        return planResume(moves, [fresh], this.#snapshot, this.#options.plan).updates[0];
      }),
    ]);
    // With a bridge, copying may take long or wait for a node: the event loop starts meanwhile.
    if (this.#parts.beforePatch === undefined) await catchUp;

    const resync = this.#resyncLoop(signal);
    await this.#eventLoop(signal);
    await Promise.all([resync, this.#running, catchUp]);
    await this.#finish();
    await watching;
  }

  /** Gives the updates already planned, and the records of those applied, `shutdownMs` to go through; logs what is left. */
  async #finish(): Promise<void> {
    if (this.#queue.size > 0 || this.#queue.unrecorded > 0) {
      const bound = this.#options.shutdownMs ?? 20_000;
      const fields = { seconds: bound / 1000 };
      if (this.#queue.size > 0) {
        log.info("Stopping: applying {updates} first (at most {seconds} s)", {
          ...fields,
          updates: plural(this.#queue.size, "planned update"),
        });
      } else {
        log.info("Stopping: recording the Events of {updates} first (at most {seconds} s)", {
          ...fields,
          updates: plural(this.#queue.unrecorded, "update"),
        });
      }
      const timeUp = new AbortController();
      const timer = this.#clock.sleep(bound, timeUp.signal).then(() => timeUp.abort());
      await this.#queue.idle(timeUp.signal);
      timeUp.abort();
      await timer;
    }
    const left = this.#queue.close();
    if (left.updates.length > 0) {
      const names = left.updates.slice(0, 10).map((u) => describeWorkload(u.workload));
      log.warn("Stopped with {updates} not applied: {workloads}", {
        updates: plural(left.updates.length, "planned update"),
        workloads: names.join(", ") + (left.updates.length > names.length ? ", …" : ""),
        count: left.updates.length,
      });
    }
    if (left.unrecorded > 0) {
      log.warn("Stopped with the Events of {updates} not recorded (the updates are applied)", {
        updates: plural(left.unrecorded, "update"),
        count: left.unrecorded,
      });
    }
  }

  /** Submits updates planned at start (missed rebuilds, resumed moves) once `beforePatch` lets them through (retried each resync period). */
  async #applyMissed(
    missed: WorkloadUpdate[],
    signal: AbortSignal,
    replan: Replan,
  ): Promise<void> {
    while (missed.length > 0 && !signal.aborted) {
      const learned = await this.#beforePatch(missed, this.#snapshot);
      if (learned !== undefined) {
        this.#submit(missed.map((update) => withConfigIdsOf(update, learned)), replan);
        return;
      }
      await this.#clock.sleep(this.#options.resyncMs, signal);
    }
  }

  /** Follows the engine's image events; reconnects with backoff when the stream breaks. */
  async #eventLoop(signal: AbortSignal): Promise<void> {
    const { engine, metrics } = this.#parts;
    const backoff = new Backoff(250, 5_000, this.#clock);
    let lost = false;
    // The loss was reported (one warning, one "reconnected" line per outage).
    let reported = false;
    let upSince = this.#clock.now();
    while (!signal.aborted) {
      try {
        if (lost) {
          await engine.connect();
          metrics.inc("veryfreshpod_engine_reconnects_total");
          if (reported) log.info("Reconnected to {engine}", { engine: engine.description });
          else log.debug("Reconnected to {engine}", { engine: engine.description });
          reported = false;
          // Diff against the last good snapshot: catches what was tagged meanwhile.
          this.request();
        }
        this.#setStreamUp(true);
        lost = false;
        upSince = this.#clock.now();
        for await (const event of engine.imageEvents(signal)) {
          metrics.inc("veryfreshpod_image_events_total");
          log.debug("Image event {action} {subject}", {
            action: event.action,
            subject: event.subject,
          });
          this.#tagEvents.record(event, this.#clock.now());
          if (event.reference !== undefined && event.id !== undefined) {
            this.#toldTags.set(event.reference, event.id);
            // From the next macrotask: the rest of this chunk's events (an untag) come first.
            const wake = this.#wakeOnTold;
            if (wake) setTimeout(wake, 0);
          } else if (REMOVALS.has(event.action)) {
            // What was told may be gone already: only the read can say.
            this.#toldTags.clear();
          }
          // Only a well-formed event proves the stream healthy: a stream of garbage that
          // breaks again and again must keep backing off.
          if (isWellFormed(event)) backoff.reset();
          this.request();
        }
        if (signal.aborted) break;
        throw new Error("the event stream ended");
      } catch (error) {
        if (signal.aborted) break;
        this.#setStreamUp(false);
        // A stream that stayed up a good while was healthy, events or not: a new outage.
        if (this.#clock.now() - upSince >= HEALTHY_STREAM_MS) {
          backoff.reset();
        }
        // Once per outage: a stream that breaks again before any good event is the same one.
        if (backoff.attempts === 0) {
          log.warn("Lost the connection to {engine}: {error}; reconnecting", {
            engine: engine.description,
            error: errorMessage(error),
          });
          reported = true;
        } else {
          log.debug("Still no event stream from {engine}: {error}", {
            engine: engine.description,
            error: errorMessage(error),
          });
        }
        lost = true;
        await backoff.wait(signal);
      }
    }
    this.#setStreamUp(false);
  }

  async #resyncLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      await this.#clock.sleep(this.#options.resyncMs, signal);
      if (!signal.aborted) this.request();
    }
  }

  /**
   * Asks for a re-read of the image list. The first request starts a pass at
   * once; requests that arrive while a pass runs are gathered into one more.
   */
  request(): void {
    this.#requested = true;
    this.#running ??= this.#drain().finally(() => this.#running = undefined);
  }

  /** Reconciles until no request is pending; one pass at a time. */
  async #drain(): Promise<void> {
    while (this.#requested) {
      this.#requested = false;
      try {
        await this.#reconcile();
      } catch (error) {
        log.error("Reconciling failed: {error}", { error: errorMessage(error) });
      }
    }
  }

  async #reconcile(): Promise<void> {
    await this.#actOnToldTags();
    const readAt = this.#clock.now();
    const after = await this.#readActingOnTold();
    // A tag was acted on while the list was read: the list may predate it, read it again.
    if (after === "stale") {
      this.#requested = true;
      return;
    }
    // Unreadable: keep the last good snapshot, so the next pass diffs across the gap.
    if (after === undefined) return;
    // Held back (images not on the nodes yet): the old snapshot stays, so the next pass retries.
    if (!await this.#moveTo(after)) return;
    this.#snapshotReadAt = readAt;
    this.#tagEvents.forgetBefore(readAt);
  }

  /** Acts on what changed from the snapshot to `after`, which it becomes; false when held back. */
  async #moveTo(after: ImageSnapshot): Promise<boolean> {
    const window = { previousReadAt: this.#snapshotReadAt, readEndedAt: this.#clock.now() };
    const diff = diffSnapshots(this.#snapshot, after);
    const changes = await timeChanges(diff, this.#tagEvents, window, this.#parts.engine);
    if (changes.length > 0 && !await this.#act(changes, after)) return false;
    this.#snapshot = after;
    return true;
  }

  /**
   * Acts on the tags events named with their image before the list is re-read,
   * so that a build's patch does not wait for the read (a round trip to the
   * engine, as long as the patch's own); the read that follows in the same
   * pass finds nothing more, or what the events left out.
   */
  async #actOnToldTags(): Promise<boolean> {
    const told = [...this.#toldTags].map(([key, id]) => ({ key, id }));
    this.#toldTags.clear();
    // With a bridge, images reach the nodes first; that takes far longer than the read.
    if (told.length === 0 || this.#parts.beforePatch !== undefined) return false;
    const after = withToldTags(this.#snapshot, told);
    if (after === undefined) return false;
    await this.#moveTo(after);
    return true;
  }

  /**
   * `#read()`, acting meanwhile on the tags events name with their image, so
   * that a read under way never holds a tag's patch back: a BuildKit build on
   * Docker's containerd store sends `create` before `tag`, and the read the
   * `create` starts takes tens of milliseconds on that store. When a tag was
   * acted on, the list may predate it: "stale".
   */
  async #readActingOnTold(): Promise<ImageSnapshot | undefined | "stale"> {
    const reading = this.#read();
    let stale = false;
    while (true) {
      const told = new Promise<"told">((resolve) => this.#wakeOnTold = () => resolve("told"));
      const first = await Promise.race([reading, told]);
      this.#wakeOnTold = undefined;
      if (first !== "told") return stale ? "stale" : first;
      if (await this.#actOnToldTags()) stale = true;
    }
  }

  /**
   * Reads the image list, bounded by `readTimeoutMs`: a daemon that does not
   * answer in time (stopped, hung) is marked down, once, and up again when it
   * answers. A read still under way is waited for rather than asked again.
   */
  async #read(): Promise<ImageSnapshot | undefined> {
    const { engine } = this.#parts;
    if (this.#reading === undefined) {
      const reading = engine.snapshot();
      this.#reading = reading;
      // Forgotten as soon as it settles: a pass that reads again must get a new read.
      const forget = () => {
        if (this.#reading === reading) this.#reading = undefined;
      };
      reading.then(() => {
        forget();
        this.#setAnswering(true);
      }, forget);
    }
    const timeoutMs = this.#options.readTimeoutMs ?? 5_000;
    try {
      return await withTimeout(this.#clock, timeoutMs, this.#reading);
    } catch (error) {
      if (error instanceof TimeoutError) {
        if (this.#answering) {
          log.warn("{engine} does not answer: no image list within {seconds} s; marked down", {
            engine: engine.description,
            seconds: timeoutMs / 1000,
          });
        }
        this.#setAnswering(false);
      } else {
        log.debug("Cannot read the image list: {error}", { error: errorMessage(error) });
      }
      return undefined;
    }
  }

  async #act(changes: readonly ImageChange[], snapshot: ImageSnapshot): Promise<boolean> {
    const { kube, metrics } = this.#parts;
    for (const change of changes) {
      log.debug("Image {key} {kind}", { key: change.key, kind: change.kind });
    }
    let planned = this.#logSkipped(
      plan(changes, kube.workloads(), snapshot, this.#options.plan),
    );
    const learned = await this.#beforePatch(planned, snapshot);
    if (learned === undefined) return false;
    // Config digests the nodes told (the engine could not): plan again, for the records.
    snapshot = withConfigIds(snapshot, learned);
    // Builds pushed to the cluster's registry: plan again, now pinned to the digests they got.
    if (learned.size > 0 || planned.some(awaitingPush)) {
      planned = plan(changes, kube.workloads(), snapshot, this.#options.plan).updates
        .filter((update) => !this.#stillAwaitingPush(update));
    }
    // Counted once they go through: a change held back comes again in the next pass.
    for (const change of changes) {
      metrics.inc("veryfreshpod_image_changes_total", { kind: change.kind });
    }
    this.#submit(planned, async (key) => {
      const fresh = await this.#parts.kube.reread(key);
      if (!fresh) return undefined;
      const update = this.#logSkipped(plan(changes, [fresh], snapshot, this.#options.plan))[0];
      return update && !this.#stillAwaitingPush(update) ? update : undefined;
    });
    return true;
  }

  /**
   * True for an update whose push has not landed: never patched (only a dry
   * run, which pushes nothing, logs it as it is).
   */
  #stillAwaitingPush(update: WorkloadUpdate): boolean {
    if (this.#parts.beforePatch === undefined || !awaitingPush(update)) return false;
    log.debug("Held back {workload}: its build is not in the registry yet", {
      workload: describeWorkload(update.workload),
    });
    return true;
  }

  /**
   * The config digests `beforePatch` learned (often none); undefined when it
   * held the updates back (it logs why).
   */
  async #beforePatch(
    updates: WorkloadUpdate[],
    snapshot: ImageSnapshot,
  ): Promise<ReadonlyMap<string, string> | undefined> {
    const none = new Map<string, string>();
    if (updates.length === 0 || this.#parts.beforePatch === undefined) return none;
    try {
      return (await this.#parts.beforePatch(updates, snapshot)) ?? none;
    } catch (error) {
      log.debug("Updates held back: {error}", { error: errorMessage(error) });
      return undefined;
    }
  }

  async #replanMissed(key: WorkloadKey): Promise<WorkloadUpdate | undefined> {
    const fresh = await this.#parts.kube.reread(key);
    if (!fresh) return undefined;
    return planMissedRebuilds([fresh], this.#snapshot, this.#options.plan).updates[0];
  }

  /** Hands updates to the patch queue: the pass goes on without waiting for them. */
  #submit(updates: WorkloadUpdate[], replan: Replan): void {
    this.#parts.metrics.set("veryfreshpod_tracked_workloads", this.#parts.kube.size);
    for (const update of updates) this.#queue.submit(update, replan);
  }

  /** Debug lines for what the plan left alone; returns the updates. */
  #logSkipped(result: PlanResult): WorkloadUpdate[] {
    for (const skip of result.skipped) {
      log.debug("Left alone {where} {container} {image}: {reason}", {
        where: skip.workload ? describeWorkload(skip.workload) : "",
        container: skip.container ?? "",
        image: skip.image ?? "",
        reason: skip.reason,
      });
    }
    return result.updates;
  }

  #setStreamUp(up: boolean): void {
    this.#streamUp = up;
    this.#publishConnected();
  }

  #setAnswering(answering: boolean): void {
    if (answering && !this.#answering) {
      log.info("{engine} answers again", { engine: this.#parts.engine.description });
    }
    this.#answering = answering;
    this.#publishConnected();
  }

  #publishConnected(): void {
    const up = this.#streamUp && this.#answering;
    this.#parts.metrics.set("veryfreshpod_engine_connected", up ? 1 : 0);
  }
}

function isWellFormed(event: EngineEvent): boolean {
  return event.action !== UNREADABLE;
}
