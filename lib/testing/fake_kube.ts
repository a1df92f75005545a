/**
 * A scripted fake of the API server's list and watch, for unit tests of the
 * watcher (and anything built on it). Every call waits until the test answers
 * it, so a test decides the order of events exactly and no loop can run away;
 * every wait for a call has a deadline and fails with the calls seen so far.
 */
import type { KubeObject } from "../kube/kinds.ts";
import { KubeApiError } from "../kube/rest.ts";
import type { WorkloadKey } from "../model/workload.ts";
import type { WatchEventHandler, WatchScope, WorkloadSource } from "../kube/workload_source.ts";

/** A list call, waiting for its answer. */
export interface ListCall {
  readonly op: "list";
  readonly scope: WatchScope;
  answer(items: readonly KubeObject[], resourceVersion: string): void;
  fail(error: unknown): void;
}

/** A watch call: the test sends events, then ends or fails it. */
export interface WatchCall {
  readonly op: "watch";
  readonly scope: WatchScope;
  readonly resourceVersion: string;
  /** Aborted when the watcher stops this watch. */
  readonly signal: AbortSignal;
  send(type: string, object: KubeObject & { code?: number; message?: string }): void;
  /** The server ends the watch normally. */
  end(): void;
  /** The watch request fails (a non-200 answer, as rest.ts reports it). */
  fail(error: unknown): void;
}

/** A read of one object. */
export interface ReadCall {
  readonly op: "read";
  readonly key: WorkloadKey;
  answer(object: KubeObject | undefined): void;
  fail(error: unknown): void;
}

export type FakeCall = ListCall | WatchCall | ReadCall;

/** An error as rest.ts reports an API answer: the status in `code`, the Status in `body`. */
export function apiError(code: number, message = `status ${code}`): KubeApiError {
  return new KubeApiError(code, { code, message }, `GET /apis: ${code} ${message}`);
}

/** A watch request answered with `code` instead of a stream. */
export function watchRequestError(code: number): KubeApiError {
  return new KubeApiError(code, undefined, `GET /apis?watch=1: ${code}`);
}

function describe(call: FakeCall): string {
  if (call.op === "read") return `read ${call.key.kind} ${call.key.namespace}/${call.key.name}`;
  const where = `${call.scope.info.plural}${
    call.scope.namespace ? ` in ${call.scope.namespace}` : ""
  }`;
  return call.op === "list" ? `list ${where}` : `watch ${where} from ${call.resourceVersion}`;
}

/** The fake. `history` names every call made, in order. */
export class FakeKube implements WorkloadSource {
  readonly history: string[] = [];
  readonly #pending: FakeCall[] = [];
  readonly #waiters = new Set<() => void>();

  list(
    scope: WatchScope,
    signal: AbortSignal,
  ): Promise<{ items: readonly KubeObject[]; resourceVersion: string }> {
    return new Promise((resolve, reject) => {
      const abort = () => reject(new DOMException("aborted", "AbortError"));
      signal.addEventListener("abort", abort, { once: true });
      this.#add({
        op: "list",
        scope,
        answer: (items, resourceVersion) => resolve({ items, resourceVersion }),
        fail: reject,
      });
    });
  }

  watch(
    scope: WatchScope,
    resourceVersion: string,
    signal: AbortSignal,
    onEvent: WatchEventHandler,
  ): Promise<void> {
    return new Promise((resolve, reject) => {
      signal.addEventListener("abort", () => resolve(), { once: true });
      this.#add({
        op: "watch",
        scope,
        resourceVersion,
        signal,
        send: (type, object) => {
          if (!signal.aborted) onEvent(type, object);
        },
        end: () => resolve(),
        fail: reject,
      });
    });
  }

  read(key: WorkloadKey): Promise<KubeObject | undefined> {
    return new Promise((resolve, reject) => {
      this.#add({ op: "read", key, answer: resolve, fail: reject });
    });
  }

  /**
   * The next call that matches `op` (and `plural`, the scope's resource),
   * taken out of the queue; fails after `timeoutMs` of real time, naming the
   * calls seen, when none comes.
   */
  async next<Op extends FakeCall["op"]>(
    op: Op,
    plural?: string,
    timeoutMs = 5_000,
  ): Promise<Extract<FakeCall, { op: Op }>> {
    const matches = (call: FakeCall): call is Extract<FakeCall, { op: Op }> =>
      call.op === op && (plural === undefined || call.op === "read" ||
        call.scope.info.plural === plural);
    let timer: ReturnType<typeof setTimeout> | undefined;
    let wake = () => {};
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        reject(
          new Error(
            `No ${op}${plural ? ` of ${plural}` : ""} call within ${timeoutMs} ms; calls so far: ` +
              (this.history.join(", ") || "none"),
          ),
        );
      }, timeoutMs);
    });
    try {
      while (true) {
        const index = this.#pending.findIndex(matches);
        if (index !== -1) return this.#pending.splice(index, 1)[0] as Extract<FakeCall, { op: Op }>;
        const arrived = new Promise<void>((resolve) => wake = resolve);
        this.#waiters.add(wake);
        await Promise.race([arrived, deadline]);
        this.#waiters.delete(wake);
      }
    } finally {
      this.#waiters.delete(wake);
      clearTimeout(timer);
    }
  }

  /** Calls made and not yet taken with `next`. */
  get pending(): readonly string[] {
    return this.#pending.map(describe);
  }

  #add(call: FakeCall): void {
    this.history.push(describe(call));
    this.#pending.push(call);
    for (const wake of this.#waiters) wake();
  }
}

/** A clock whose sleeps take no time and are recorded (in ms), for backoff tests. */
export class InstantClock {
  readonly sleeps: number[] = [];

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    if (!signal?.aborted) this.sleeps.push(ms);
    return Promise.resolve();
  }
}
