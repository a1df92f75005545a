/**
 * Time, behind a small interface: the controller's waits (resync period,
 * backoff, the engine's answer bound, the shutdown bound) run on a Clock, so
 * unit tests drive them with a fake one (fake_clock.ts) instead of sleeping.
 */

/** What veryfreshpod asks of time. */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Sleeps `ms` of real time, or less when `signal` aborts (never rejects). */
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

/** The real clock. */
export const realClock: Clock = { now: () => Date.now(), sleep };

/** A wait that took longer than its bound. */
export class TimeoutError extends Error {
  constructor(readonly ms: number) {
    super(`no answer within ${ms / 1000} s`);
    this.name = "TimeoutError";
  }
}

/**
 * `work`, or a TimeoutError once `ms` have passed on `clock`. The work itself
 * is not stopped (callers that can, pass it a signal of their own); its late
 * result or failure is dropped.
 */
export async function withTimeout<T>(clock: Clock, ms: number, work: Promise<T>): Promise<T> {
  const stop = new AbortController();
  const timeout = clock.sleep(ms, stop.signal).then(() => {
    if (!stop.signal.aborted) throw new TimeoutError(ms);
  }) as Promise<never>;
  work.catch(() => {});
  try {
    return await Promise.race([work, timeout]);
  } finally {
    stop.abort();
  }
}
