/**
 * In-process fakes of the controller's two sides, for controller_test.ts: an
 * engine whose images, event stream, re-reads and connections the test steers,
 * and a Kubernetes side that keeps workloads in a map and answers each patch
 * as the test says (by default it applies it).
 */
import type { Engine, EngineEvent } from "../engine/engine.ts";
import type { ImageSnapshot, TaggedImage } from "../model/image_snapshot.ts";
import { imageKey, parseReference } from "../model/image_ref.ts";
import type { KubeSide } from "../kube/kube_side.ts";
import type { PatchAttempt } from "../kube/patcher.ts";
import { type TrackedWorkload, workloadId, type WorkloadKey } from "../model/workload.ts";
import { ROLLOUT_ANNOTATION, type WorkloadUpdate } from "../model/plan_types.ts";
import { recordUpdates, UPDATES_ANNOTATION } from "../model/record.ts";

/** The snapshot key of a reference: `app:v2` → `docker.io/library/app:v2`. */
export function key(reference: string): string {
  return imageKey(parseReference(reference))!;
}

/** A promise the test resolves by hand. */
export class Gate<T = void> {
  readonly promise: Promise<T>;
  open!: (value: T) => void;
  constructor() {
    this.promise = new Promise<T>((resolve) => this.open = resolve);
  }
}

/** One event stream: the test sends events, then breaks or ends it. */
export class FakeStream {
  readonly #queue: Array<EngineEvent | { error: Error } | "end"> = [];
  #wake: (() => void) | undefined;

  send(action: string, subject = "app"): void {
    this.#push({ action, subject });
  }
  /** A Docker `tag` event, which names the image the tag now names. */
  sendTag(reference: string, id: string): void {
    this.#push({ action: "tag", subject: `${reference} ${id}`, reference: key(reference), id });
  }
  /** A line of the stream that was not an event (as the Docker decoder reports it). */
  garbage(): void {
    this.#push({ action: "unreadable", subject: "<garbage>" });
  }
  fail(message = "connection reset"): void {
    this.#push({ error: new Error(message) });
  }
  end(): void {
    this.#push("end");
  }

  async *events(signal: AbortSignal): AsyncGenerator<EngineEvent> {
    const aborted = new Promise<void>((resolve) =>
      signal.addEventListener("abort", () => resolve(), { once: true })
    );
    while (!signal.aborted) {
      const item = this.#queue.shift();
      if (item === undefined) {
        await Promise.race([new Promise<void>((resolve) => this.#wake = resolve), aborted]);
        continue;
      }
      if (item === "end") return;
      if ("error" in item) throw item.error;
      yield item;
    }
  }

  #push(item: EngineEvent | { error: Error } | "end"): void {
    this.#queue.push(item);
    this.#wake?.();
  }
}

export class FakeEngine implements Engine {
  readonly description = "fake engine";
  /** What the engine holds now; `snapshot()` copies it. */
  readonly images = new Map<string, TaggedImage>();
  readonly streams: FakeStream[] = [];
  snapshots = 0;
  connects = 0;
  /** While set, re-reads wait for it (a hung or slow daemon). */
  gate: Gate | undefined;
  /** While true, connecting fails. */
  refuse = false;

  tag(reference: string, id: string): void {
    this.images.set(key(reference), { id, fromRegistry: false });
  }

  /** The newest event stream (the one the controller follows). */
  get stream(): FakeStream {
    const stream = this.streams.at(-1);
    if (stream === undefined) throw new Error("no event stream was opened");
    return stream;
  }

  connect(): Promise<void> {
    this.connects++;
    return this.refuse ? Promise.reject(new Error("connection refused")) : Promise.resolve();
  }

  async snapshot(): Promise<ImageSnapshot> {
    this.snapshots++;
    if (this.gate) await this.gate.promise;
    return new Map(this.images);
  }

  imageEvents(signal: AbortSignal): AsyncIterable<EngineEvent> {
    const stream = new FakeStream();
    this.streams.push(stream);
    return stream.events(signal);
  }

  close(): void {}
}

/** A Deployment in namespace `dev` running `image` in container `app`. */
export function deployment(name: string, image: string): TrackedWorkload {
  return {
    key: { kind: "Deployment", namespace: "dev", name },
    resourceVersion: "1",
    labels: {},
    annotations: {},
    templateAnnotations: {},
    containers: [{ name: "app", init: false, image, pullPolicy: "IfNotPresent" }],
  };
}

/** Answers one patch attempt; the default applies the update. */
export type PatchAnswer = (
  update: WorkloadUpdate,
  apply: () => PatchAttempt,
) => PatchAttempt | Promise<PatchAttempt>;

/**
 * The API server's objects and the watcher's index of them. They agree
 * unless the test says otherwise (`touch`: a change the watch has not
 * delivered yet).
 */
export class FakeKubeSide implements KubeSide {
  /** The API server's state. */
  readonly #workloads = new Map<string, TrackedWorkload>();
  /** What the watch has delivered. */
  readonly #index = new Map<string, TrackedWorkload>();
  /** Every patch attempt, in order. */
  readonly attempts: WorkloadUpdate[] = [];
  /** Every update that was applied, in order. */
  readonly applied: WorkloadUpdate[] = [];
  rereads = 0;
  /** While set, re-reads wait for it. */
  rereadGate: Gate | undefined;
  answer: PatchAnswer = (_update, apply) => apply();
  /** The time a patch records (UPDATES_ANNOTATION), as the real patch does. */
  now: () => number = () => Date.now();

  constructor(workloads: TrackedWorkload[] = []) {
    for (const workload of workloads) this.#put(workload);
  }

  start(signal: AbortSignal): Promise<{ done: Promise<void> }> {
    const done = new Promise<void>((resolve) =>
      signal.addEventListener("abort", () => resolve(), { once: true })
    );
    return Promise.resolve({ done });
  }

  workloads(): Iterable<TrackedWorkload> {
    return this.#index.values();
  }

  get size(): number {
    return this.#index.size;
  }

  get(name: string): TrackedWorkload {
    const workload = this.#workloads.get(`Deployment/dev/${name}`);
    if (workload === undefined) throw new Error(`no workload ${name}`);
    return workload;
  }

  /** The image of container `app` of each workload, by name. */
  images(): Record<string, string> {
    return Object.fromEntries(
      [...this.#workloads.values()].map((w) => [w.key.name, w.containers[0]!.image]),
    );
  }

  /** Another writer changes the workload (its resourceVersion moves on); the watch lags. */
  touch(name: string): void {
    const workload = this.get(name);
    const touched = { ...workload, resourceVersion: String(Number(workload.resourceVersion) + 1) };
    this.#workloads.set(workloadId(touched.key), touched);
  }

  async reread(key: WorkloadKey): Promise<TrackedWorkload | undefined> {
    this.rereads++;
    if (this.rereadGate) await this.rereadGate.promise;
    const workload = this.#workloads.get(workloadId(key));
    if (workload !== undefined) this.#index.set(workloadId(key), workload);
    return workload;
  }

  async patch(update: WorkloadUpdate): Promise<PatchAttempt> {
    this.attempts.push(update);
    return await this.answer(update, () => this.#apply(update));
  }

  #apply(update: WorkloadUpdate): PatchAttempt {
    const workload = this.#workloads.get(workloadId(update.workload));
    if (workload === undefined) return { result: "gone" };
    if (workload.resourceVersion !== update.resourceVersion) return { result: "conflict" };
    this.applied.push(update);
    const containers = workload.containers.map((container) => {
      const change = update.imageUpdates.find((u) => u.container === container.name);
      if (change === undefined) return container;
      // As the real patcher: the image becomes `to` exactly (a registry update pins a digest).
      return { ...container, image: change.to };
    });
    const templateAnnotations = update.rolloutAnnotation === undefined
      ? workload.templateAnnotations
      : { ...workload.templateAnnotations, [ROLLOUT_ANNOTATION]: update.rolloutAnnotation };
    this.#put({
      ...workload,
      annotations: {
        ...workload.annotations,
        [UPDATES_ANNOTATION]: recordUpdates(update, new Date(this.now())),
      },
      resourceVersion: String(Number(workload.resourceVersion) + 1),
      containers,
      templateAnnotations,
    });
    return { result: "applied" };
  }

  /** A write, which the watch delivers at once. */
  #put(workload: TrackedWorkload): void {
    this.#workloads.set(workloadId(workload.key), workload);
    this.#index.set(workloadId(workload.key), workload);
  }
}
