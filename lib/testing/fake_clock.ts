/**
 * A clock for unit tests: time stands still until the test moves it with
 * `advance`, which wakes every sleeper whose time has come, in order, and
 * lets the woken code run before it returns. No test waits on real time.
 */
import type { Clock } from "../util/clock.ts";

interface Sleeper {
  readonly at: number;
  readonly seq: number;
  readonly wake: () => void;
}

export class FakeClock implements Clock {
  #now: number;
  #seq = 0;
  readonly #sleepers = new Set<Sleeper>();

  constructor(start = Date.UTC(2026, 0, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  sleep(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      if (signal?.aborted) return resolve();
      const sleeper: Sleeper = {
        at: this.#now + Math.max(0, ms),
        seq: this.#seq++,
        wake: () => {
          this.#sleepers.delete(sleeper);
          signal?.removeEventListener("abort", sleeper.wake);
          resolve();
        },
      };
      this.#sleepers.add(sleeper);
      signal?.addEventListener("abort", sleeper.wake, { once: true });
    });
  }

  /** The lengths of the sleeps now pending (ms left), shortest first. */
  get pending(): number[] {
    return [...this.#sleepers].map((s) => s.at - this.#now).sort((a, b) => a - b);
  }

  /** Moves time forward by `ms`, waking sleepers in order and letting them run. */
  async advance(ms: number): Promise<void> {
    const end = this.#now + ms;
    await settle();
    while (true) {
      const next = [...this.#sleepers].filter((s) => s.at <= end)
        .sort((a, b) => a.at - b.at || a.seq - b.seq)[0];
      if (next === undefined) break;
      this.#now = next.at;
      next.wake();
      await settle();
    }
    this.#now = end;
    await settle();
  }
}

/**
 * Lets pending promise callbacks (and the work they start) run: a few turns
 * of the event loop's macrotask queue, which drains every microtask between.
 */
export async function settle(turns = 5): Promise<void> {
  for (let i = 0; i < turns; i++) await new Promise((resolve) => setTimeout(resolve, 0));
}
