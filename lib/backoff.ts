/**
 * Exponential backoff with jitter, and an abortable sleep: the shape of every
 * retry in veryfreshpod (engine reconnects, watch restarts, patch retries).
 */

/** Sleeps `ms`, or less when `signal` aborts (never rejects). */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener("abort", done, { once: true });
  });
}

/** Delays that double from `initialMs` to `maxMs`, each with ±20% jitter. */
export class Backoff {
  #attempt = 0;

  constructor(readonly initialMs = 500, readonly maxMs = 30_000) {}

  /** How many waits since the last reset. */
  get attempts(): number {
    return this.#attempt;
  }

  /** The next delay, in milliseconds. */
  next(): number {
    const base = Math.min(this.maxMs, this.initialMs * 2 ** this.#attempt);
    this.#attempt++;
    return Math.round(base * (0.8 + Math.random() * 0.4));
  }

  /** Waits the next delay (returns early when `signal` aborts). */
  wait(signal?: AbortSignal): Promise<void> {
    return sleep(this.next(), signal);
  }

  /** After a success: start again from the initial delay. */
  reset(): void {
    this.#attempt = 0;
  }
}
