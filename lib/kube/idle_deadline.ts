/**
 * A deadline on silence: it expires when nothing happened for `ms` since it
 * was armed or last touched. A request or a watch whose connection died
 * quietly (a laptop that slept, a VPN that changed, a frozen API server) gets
 * no error from the kernel for many minutes; this is how the client notices.
 * Runs on a Clock, so unit tests drive it with a fake one.
 */
import type { Clock } from "../util/clock.ts";

export class IdleDeadline {
  readonly #clock: Clock;
  readonly #ms: number;
  readonly #expired = new AbortController();
  readonly #stopped = new AbortController();
  #last = 0;
  #armed = false;

  constructor(clock: Clock, ms: number) {
    this.#clock = clock;
    this.#ms = ms;
  }

  /** The bound, in milliseconds. */
  get ms(): number {
    return this.#ms;
  }

  /** Aborts when the deadline expires. */
  get signal(): AbortSignal {
    return this.#expired.signal;
  }

  get expired(): boolean {
    return this.#expired.signal.aborted;
  }

  /** Starts counting (again from now, when already armed). */
  arm(): void {
    this.#last = this.#clock.now();
    if (this.#armed) return;
    this.#armed = true;
    void this.#run();
  }

  /** Something arrived: the silence starts again from now. */
  touch(): void {
    this.#last = this.#clock.now();
  }

  /** The exchange is over: never expires. */
  stop(): void {
    // With a reason: without one, every request's end would build a DOMException (and its stack).
    this.#stopped.abort("stopped");
  }

  async #run(): Promise<void> {
    const stopped = this.#stopped.signal;
    while (!stopped.aborted) {
      const remaining = this.#last + this.#ms - this.#clock.now();
      if (remaining <= 0) {
        this.#expired.abort();
        return;
      }
      await this.#clock.sleep(remaining, stopped);
    }
  }
}
