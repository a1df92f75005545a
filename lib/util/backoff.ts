/**
 * Exponential backoff with jitter: the shape of every
 * retry in veryfreshpod (engine reconnects, watch restarts, patch retries).
 * Waits run on a Clock, so tests drive them with a fake one.
 */
import { type Clock, realClock, sleep } from "./clock.ts";

export { sleep };

/** Delays that double from `initialMs` to `maxMs`, each with ±20% jitter. */
export class Backoff {
  #attempt = 0;
  readonly #clock: Clock;

  constructor(readonly initialMs = 500, readonly maxMs = 30_000, clock: Clock = realClock) {
    this.#clock = clock;
  }

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
    return this.#clock.sleep(this.next(), signal);
  }

  /** After a success: start again from the initial delay. */
  reset(): void {
    this.#attempt = 0;
  }
}
