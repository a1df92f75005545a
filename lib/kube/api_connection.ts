/**
 * Whether the connection to the API server is taken for dead, shared by every
 * list+watch loop of the process (workloads and pods): a frozen server or a
 * laptop back from sleep stalls all their watches at once, and the user needs
 * one warning when it is noticed and one line when every loop has listed
 * again, not one per watch.
 */
import { logger } from "../util/log.ts";

const log = logger("kube");

export class ApiConnection {
  /** The loops (by scope) that lost the connection and have not listed again. */
  readonly #lost = new Set<object>();
  #epoch = new AbortController();

  /**
   * Aborts when a loop finds the connection dead: every other watch was on the
   * same connection (HTTP/2 carries them all), so it ends now and lists again
   * instead of each waiting out its own deadline.
   */
  get epoch(): AbortSignal {
    return this.#epoch.signal;
  }

  /** True while some loop waits to list again after a lost connection. */
  get down(): boolean {
    return this.#lost.size > 0;
  }

  /** `who` found its connection dead (`why`); the first of a run warns. */
  lost(who: object, what: string, why: string): void {
    const fields = { what, why };
    if (this.#lost.size === 0) {
      log.warn(
        "The connection to the Kubernetes API server seems dead ({what}: {why}); " +
          "listing everything again once it answers",
        fields,
      );
    } else log.debug("Also lost: {what}: {why}", fields);
    const first = this.#lost.size === 0;
    this.#lost.add(who);
    // The first loss of a run ends the watches started before it; later ones are on new
    // connections (rest.ts resets its pool) and are left alone.
    if (first) {
      const old = this.#epoch;
      this.#epoch = new AbortController();
      old.abort();
    }
  }

  /** `who` listed again; when it was the last, one line says the loop is whole again. */
  restored(who: object): void {
    if (!this.#lost.delete(who) || this.#lost.size > 0) return;
    log.info(
      "Reconnected to the Kubernetes API server: listed again, so nothing that changed " +
        "meanwhile is missed",
    );
  }
}

/** The process's one connection state (tests pass their own). */
export const apiConnection = new ApiConnection();
