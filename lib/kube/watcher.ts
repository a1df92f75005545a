/**
 * Keeps the WorkloadIndex current: for every workload kind (in all namespaces
 * or each chosen one) it lists, then watches from the list's resourceVersion,
 * and starts again after every ending. A watch that expires (410 Gone, as an
 * ERROR event or as the watch request's own answer) causes a re-list that
 * replaces that kind's entries, so nothing that happened while it was down is
 * missed; failures back off and never stop the loop. A kind veryfreshpod may
 * not list (403) or that the server does not serve (404) does not hold up the
 * start: it is reported once and tried again in the background.
 * A watch on a connection that died quietly (rest.ts's deadline on silence)
 * also re-lists: one warning when the first loop notices, one "reconnected"
 * line when every loop has listed again (api_connection.ts).
 * client-node's makeInformer is not used: after a failure it stops until its
 * caller restarts it, and a restarted one reports no `add` for what it knew.
 * The loop itself (ListWatchLoop) keeps any resource in any store: the rollout
 * follower's shared pod watch runs on it too.
 */
import { Backoff, sleep } from "../util/backoff.ts";
import { logger } from "../util/log.ts";
import { plural } from "../util/plural.ts";
import { apiMessage, apiStatus, forbiddenMessage, networkDetail } from "./api_errors.ts";
import { kindInfo, type KubeObject, toTrackedWorkload } from "./kinds.ts";
import { type KubeClient, KubeStalledError } from "./rest.ts";
import { type ApiConnection, apiConnection } from "./api_connection.ts";
import type { WorkloadIndex } from "./workload_index.ts";
import { describeWorkload, type WorkloadKey } from "../model/workload.ts";
import {
  ClusterWorkloadSource,
  type WatchEventHandler,
  type WatchScope,
  type WorkloadSource,
} from "./workload_source.ts";

export type { WatchScope, WorkloadSource };

const log = logger("kube");

/** Waiting, injectable so tests run the backoff without real time. */
export interface WatcherClock {
  /** Resolves after `ms`, or as soon as `signal` aborts (never rejects). */
  sleep(ms: number, signal?: AbortSignal): Promise<void>;
}

/** Options of WorkloadWatcher. */
export interface WatcherOptions {
  readonly clock?: WatcherClock;
  /** The shared connection state; default the process's. */
  readonly connection?: ApiConnection;
}

/** A watch ended because another loop found the shared connection dead. */
class ConnectionLost extends Error {
  constructor() {
    super("another watch on the same connection found it dead");
  }
}

/** An ERROR event or a failed watch, with the status the API server gave. */
class WatchError extends Error {
  constructor(message: string, readonly code: number | undefined) {
    super(message);
  }
}

/** What one watch got through before it ended. */
interface WatchProgress {
  /** Well-formed events (not ERROR events). */
  events: number;
  /** The resourceVersion of the last of them. */
  resourceVersion: string | undefined;
}

/**
 * Statuses that say a scope cannot be read as things are (not allowed, not
 * served); retrying is slow and quiet until they change.
 */
const REFUSED = new Set([403, 404]);

/** What a loop names in its log lines: the resource, and where. */
export interface LoopScope {
  readonly info: { readonly kind: string; readonly plural: string; readonly group: string };
  /** undefined: all namespaces. */
  readonly namespace: string | undefined;
}

/** The API server as one list+watch loop uses it (a WorkloadSource is one). */
export interface ListWatchSource<S extends LoopScope> {
  list(
    scope: S,
    signal: AbortSignal,
  ): Promise<{ items: readonly KubeObject[]; resourceVersion: string }>;
  watch(
    scope: S,
    resourceVersion: string,
    signal: AbortSignal,
    onEvent: WatchEventHandler,
  ): Promise<void>;
}

/** Where a loop keeps what it reads. */
export interface ListWatchStore<S extends LoopScope> {
  /** After a list: the scope holds exactly `items` from now on; returns how many it keeps. */
  replaceAll(scope: S, items: readonly KubeObject[]): number;
  /** One watch event: ADDED, MODIFIED or DELETED. */
  apply(scope: S, type: string, object: KubeObject): void;
}

/** Runs the list+watch loops of all scopes into one store. */
export class ListWatchLoop<S extends LoopScope> {
  readonly #source: ListWatchSource<S>;
  readonly #store: ListWatchStore<S>;
  readonly #scopes: readonly S[];
  readonly #clock: WatcherClock;
  readonly #connection: ApiConnection;
  readonly #synced = new Set<S>();
  /** Scopes that start went on without: their first list was refused. */
  readonly #skipped = new Set<S>();
  /** Scopes whose refusal was reported and not yet followed by a success. */
  readonly #refused = new Set<S>();
  #onSettled: (() => void) | undefined;

  constructor(
    source: ListWatchSource<S>,
    store: ListWatchStore<S>,
    scopes: readonly S[],
    options: WatcherOptions = {},
  ) {
    this.#source = source;
    this.#store = store;
    this.#scopes = scopes;
    this.#clock = options.clock ?? { sleep };
    this.#connection = options.connection ?? apiConnection;
  }

  /** True once every scope has completed its first list. */
  get synced(): boolean {
    return this.#synced.size === this.#scopes.length;
  }

  /**
   * Starts every loop; resolves when each scope has listed once or was
   * refused (then it is tried again in the background), or the signal aborts.
   * The loops go on until the signal aborts; `done` settles then.
   */
  async start(signal: AbortSignal): Promise<{ done: Promise<void> }> {
    const settled = new Promise<void>((resolve) => {
      this.#onSettled = resolve;
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    const done = Promise.all(this.#scopes.map((scope) => this.#loop(scope, signal))).then(
      () => {},
    );
    await settled;
    return { done };
  }

  async #loop(scope: S, signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(250, 5_000);
    // Refusals change only when someone changes RBAC: ask less often.
    const refusedBackoff = new Backoff(1_000, 30_000);
    let resourceVersion: string | undefined;
    // Expiries since the last event: a second in a row backs off.
    let expiries = 0;
    while (!signal.aborted) {
      const progress: WatchProgress = { events: 0, resourceVersion: undefined };
      try {
        if (resourceVersion === undefined) {
          resourceVersion = await this.#list(scope, signal);
          this.#markSynced(scope);
        }
        await this.#watch(scope, resourceVersion, signal, progress, () => {
          expiries = 0;
          backoff.reset();
          refusedBackoff.reset();
          this.#recovered(scope);
        });
        // A watch the server ends at once, again and again, must not spin.
        if (progress.events === 0) await this.#clock.sleep(backoff.next(), signal);
      } catch (error) {
        if (signal.aborted) break;
        if (apiStatus(error) === 410) {
          log.debug("Watch of {resource} expired; listing again", { resource: scope.info.plural });
          resourceVersion = undefined;
          // The first re-lists at once (what changed meanwhile matters); a server that
          // expires every fresh list must not make it list at full speed.
          if (++expiries > 1) await this.#clock.sleep(backoff.next(), signal);
          continue;
        }
        const status = apiStatus(error);
        const dead = error instanceof KubeStalledError || error instanceof ConnectionLost;
        if (dead || (status === undefined && this.#connection.down)) {
          // What happened while the connection was dead may be lost: list again.
          const what = `${resourceVersion === undefined ? "the list" : "the watch"} of ${
            resourceName(scope)
          }`;
          const why = dead ? (error as Error).message : networkDetail(error);
          this.#connection.lost(scope, what, why);
          resourceVersion = undefined;
          progress.resourceVersion = undefined;
          await this.#clock.sleep(backoff.next(), signal);
          continue;
        }
        const refused = status !== undefined && REFUSED.has(status);
        this.#reportFailure(scope, error, refused, resourceVersion === undefined, backoff.attempts);
        if (refused && !this.#synced.has(scope)) this.#markSkipped(scope);
        await this.#clock.sleep((refused ? refusedBackoff : backoff).next(), signal);
      } finally {
        // The next watch goes on from the last event seen, whatever ended this one.
        if (resourceVersion !== undefined && progress.resourceVersion !== undefined) {
          resourceVersion = progress.resourceVersion;
        }
      }
    }
  }

  /** Lists the scope into the store; returns the list's resourceVersion. */
  async #list(scope: S, signal: AbortSignal): Promise<string> {
    const list = await this.#source.list(scope, signal);
    const kept = this.#store.replaceAll(scope, list.items);
    if (this.#refused.has(scope)) {
      log.info("Can read {resource} again: tracking {workloads}", {
        resource: resourceName(scope),
        workloads: plural(kept, scope.info.kind),
      });
    } else {
      log.debug("Listed {workloads}", {
        workloads: plural(kept, scope.info.kind),
        count: kept,
      });
    }
    this.#recovered(scope);
    this.#connection.restored(scope);
    return list.resourceVersion;
  }

  /**
   * Watches from `resourceVersion` until the watch ends, counting the events
   * and the last version seen in `progress`. `onProgress` is called for each
   * well-formed event (not for ERROR events, which end the watch as a
   * WatchError with their status).
   */
  async #watch(
    scope: S,
    resourceVersion: string,
    signal: AbortSignal,
    progress: WatchProgress,
    onProgress: () => void,
  ): Promise<void> {
    let failure: WatchError | undefined;
    // An ERROR event ends this watch: the source is stopped through this controller.
    const stop = new AbortController();
    // A dead connection found by another loop ends this watch too (api_connection.ts).
    const epoch = this.#connection.epoch;
    const stopped = AbortSignal.any([signal, stop.signal, epoch]);
    await this.#source.watch(scope, resourceVersion, stopped, (type, object) => {
      if (failure !== undefined) return;
      if (type === "ERROR") {
        failure = new WatchError(apiMessage({ body: object }), object.code);
        stop.abort();
        return;
      }
      progress.events++;
      progress.resourceVersion = object.metadata?.resourceVersion ?? progress.resourceVersion;
      onProgress();
      if (type === "BOOKMARK") return;
      this.#store.apply(scope, type, object);
    });
    if (failure !== undefined) throw failure;
    if (epoch.aborted && !signal.aborted) throw new ConnectionLost();
  }

  #markSynced(scope: S): void {
    this.#synced.add(scope);
    this.#skipped.delete(scope);
    this.#checkSettled();
  }

  #markSkipped(scope: S): void {
    this.#skipped.add(scope);
    this.#checkSettled();
  }

  #checkSettled(): void {
    if (this.#synced.size + this.#skipped.size === this.#scopes.length) this.#onSettled?.();
  }

  /** After a success: a refusal reported before is over, so a new one is reported again. */
  #recovered(scope: S): void {
    this.#refused.delete(scope);
  }

  #reportFailure(
    scope: S,
    error: unknown,
    refused: boolean,
    listing: boolean,
    attempts: number,
  ): void {
    const resource = resourceName(scope);
    const verb = listing ? "list" : "watch";
    if (refused) {
      // Once per refusal, not once per retry: it lasts until someone changes RBAC.
      if (this.#refused.has(scope)) {
        log.debug("{verb} {resource} still refused: {error}", {
          verb,
          resource,
          error: apiMessage(error),
        });
        return;
      }
      this.#refused.add(scope);
      const reason = apiStatus(error) === 403
        ? forbiddenMessage({ verb, resource, namespace: scope.namespace })
        : `Kubernetes does not serve ${resource} (${apiMessage(error)})`;
      const without = listing && !this.#synced.has(scope)
        ? `; going on without ${scope.info.kind}s`
        : "";
      log.warn("{reason}{without}; trying again in the background", { reason, without });
      return;
    }
    // The first failure is worth a warning; the retries after it only a debug line.
    const message = "Watch of {resource} failed: {error}; retrying";
    const status = apiStatus(error);
    const fields = {
      resource,
      error: status === undefined ? networkDetail(error) : apiMessage(error),
    };
    if (attempts === 0) log.warn(message, fields);
    else log.debug(message, fields);
  }
}

/** Runs the list+watch loops for all workload scopes into one index. */
export class WorkloadWatcher extends ListWatchLoop<WatchScope> {
  readonly #source: WorkloadSource;
  readonly #index: WorkloadIndex;

  /** `kube` is a cluster's client, or another WorkloadSource (tests). */
  constructor(
    kube: KubeClient | WorkloadSource,
    index: WorkloadIndex,
    scopes: readonly WatchScope[],
    options: WatcherOptions = {},
  ) {
    const source = isSource(kube) ? kube : new ClusterWorkloadSource(kube);
    super(source, indexStore(index), scopes, options);
    this.#source = source;
    this.#index = index;
  }

  /**
   * Reads one workload now (after a patch conflict) and puts it in the index,
   * or takes it out when it is gone; throws when the API server cannot answer.
   */
  async refresh(key: WorkloadKey): Promise<void> {
    const object = await this.#source.read(key);
    const tracked = object === undefined
      ? undefined
      : toTrackedWorkload(kindInfo(key.kind), object);
    if (tracked) this.#index.upsert(tracked);
    else this.#index.remove(key);
  }
}

/** The workload index as a loop's store: objects become TrackedWorkloads. */
function indexStore(index: WorkloadIndex): ListWatchStore<WatchScope> {
  return {
    replaceAll(scope, items) {
      const workloads = items.flatMap((item) => {
        const tracked = toTrackedWorkload(scope.info, item);
        return tracked ? [tracked] : [];
      });
      index.replaceAll(scope.info.kind, scope.namespace, workloads);
      return workloads.length;
    },
    apply(scope, type, object) {
      const tracked = toTrackedWorkload(scope.info, object);
      if (!tracked) return;
      if (type === "DELETED") index.remove(tracked.key);
      else index.upsert(tracked);
      log.debug("Watch: {type} {workload}", { type, workload: describeWorkload(tracked.key) });
    },
  };
}

function resourceName(scope: LoopScope): string {
  return scope.info.group === "" ? scope.info.plural : `${scope.info.plural}.${scope.info.group}`;
}

function isSource(kube: KubeClient | WorkloadSource): kube is WorkloadSource {
  return typeof (kube as Partial<WorkloadSource>).list === "function" &&
    typeof (kube as Partial<WorkloadSource>).watch === "function";
}
