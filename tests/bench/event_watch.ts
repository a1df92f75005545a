/**
 * The Events recorded on a namespace's workloads as a watch shows them, with
 * the time each arrived: when the Events of a fan-out are all in.
 */
import { escapeRegExp } from "../helpers/regexp.ts";
import { type BenchCluster, ObjectView } from "./cluster.ts";

/** The reason veryfreshpod (and the floor) records a changed image with. */
const REASON = "ImageUpdated";

/** Events of `reason` ImageUpdated, by arrival; `waitFor` counts those naming an image. */
export class EventWatch extends ObjectView {
  readonly #seen: Array<{ message: string; at: number }> = [];
  readonly #waiters = new Set<() => void>();

  /** Watches the ImageUpdated Events of `namespace` from now on. */
  static start(cluster: BenchCluster, namespace: string): Promise<EventWatch> {
    return cluster.watch(`/api/v1/namespaces/${namespace}/events`, new EventWatch(), {
      fieldSelector: `reason=${REASON}`,
      listLimit: 1,
    });
  }

  // deno-lint-ignore no-explicit-any
  see(object: any, at: number): void {
    if (object?.reason === REASON && typeof object.message === "string") {
      this.#seen.push({ message: object.message, at });
    }
  }

  /**
   * Resolves with the arrival time of the `count`-th Event whose message names
   * `image` (a whole reference: `app:v1` is not `app:v10`); fails after
   * `timeoutMs` or when the watch breaks.
   */
  waitFor(image: string, count: number, timeoutMs: number): Promise<number> {
    const names = new RegExp(`${escapeRegExp(image)}(?![\\w.:@-])`);
    let got = 0;
    let next = 0;
    return new Promise((resolve, reject) => {
      // Each chunk of the watch: only the Events not looked at yet.
      const check = () => {
        if (this.failure) return finish(() => reject(this.failure));
        for (; next < this.#seen.length; next++) {
          const event = this.#seen[next]!;
          if (names.test(event.message) && ++got === count) return finish(() => resolve(event.at));
        }
      };
      const timer = setTimeout(() => {
        finish(() =>
          reject(
            new Error(`${got} of ${count} Events naming ${image} within ${timeoutMs / 1000} s`),
          )
        );
      }, timeoutMs);
      const finish = (settle: () => void) => {
        clearTimeout(timer);
        this.#waiters.delete(check);
        settle();
      };
      this.#waiters.add(check);
      check();
    });
  }

  protected wake(): void {
    for (const check of [...this.#waiters]) check();
  }
}
