/**
 * Keeps the WorkloadIndex current: for every workload kind (in all namespaces
 * or each chosen one) it lists, then watches from the list's resourceVersion,
 * and starts again after every ending. A watch that expires (410 Gone) causes
 * a re-list that replaces that kind's entries, so nothing that happened while
 * it was down is missed; failures back off and never stop the loop.
 * (client-node's informer stops for good on errors; this loop does not.)
 */
import "../quiet_deprecations.ts";
import { type KubeConfig, KubernetesObjectApi, Watch } from "@kubernetes/client-node";
import { Backoff } from "../backoff.ts";
import { logger } from "../log.ts";
import { plural } from "../plural.ts";
import { apiMessage, apiStatus, forbiddenMessage, networkDetail } from "./api_errors.ts";
import {
  collectionPath,
  kindInfo,
  type KubeObject,
  toTrackedWorkload,
  type WorkloadKindInfo,
} from "./kinds.ts";
import type { WorkloadIndex } from "./workload_index.ts";
import { describeWorkload, type WorkloadKey } from "./workload.ts";

const log = logger("kube");

/** One list+watch loop's scope. */
export interface WatchScope {
  readonly info: WorkloadKindInfo;
  /** undefined: all namespaces. */
  readonly namespace: string | undefined;
}

class WatchExpired extends Error {}

/** Runs the list+watch loops for all scopes into one index. */
export class WorkloadWatcher {
  readonly #config: KubeConfig;
  readonly #index: WorkloadIndex;
  readonly #scopes: readonly WatchScope[];
  readonly #synced = new Set<WatchScope>();
  #onSynced: (() => void) | undefined;
  /** Counts watch (re)starts and re-lists, for metrics. */
  restarts = 0;
  relists = 0;

  constructor(config: KubeConfig, index: WorkloadIndex, scopes: readonly WatchScope[]) {
    this.#config = config;
    this.#index = index;
    this.#scopes = scopes;
  }

  /** True once every scope has completed its first list. */
  get synced(): boolean {
    return this.#synced.size === this.#scopes.length;
  }

  /**
   * Starts every loop; resolves when all have listed once (or the signal
   * aborts). The loops go on until the signal aborts; `done` settles then.
   */
  async start(signal: AbortSignal): Promise<{ done: Promise<void> }> {
    const synced = new Promise<void>((resolve) => {
      this.#onSynced = resolve;
      signal.addEventListener("abort", () => resolve(), { once: true });
    });
    const done = Promise.all(this.#scopes.map((scope) => this.#loop(scope, signal))).then(
      () => {},
    );
    await synced;
    return { done };
  }

  async #loop(scope: WatchScope, signal: AbortSignal): Promise<void> {
    const backoff = new Backoff(250, 5_000);
    let resourceVersion: string | undefined;
    while (!signal.aborted) {
      try {
        if (resourceVersion === undefined) {
          resourceVersion = await this.#list(scope);
          this.#markSynced(scope);
        }
        resourceVersion = await this.#watch(scope, resourceVersion, signal, () => backoff.reset());
        this.restarts++;
      } catch (error) {
        if (signal.aborted) break;
        if (error instanceof WatchExpired) {
          log.debug("Watch of {resource} expired; listing again", { resource: scope.info.plural });
          resourceVersion = undefined;
          continue;
        }
        this.#reportFailure(scope, error, backoff.attempts);
        await backoff.wait(signal);
      }
    }
  }

  /** Lists the scope into the index; returns the list's resourceVersion. */
  async #list(scope: WatchScope): Promise<string> {
    const list = await scope.info.list(this.#config, scope.namespace);
    const workloads = list.items.flatMap((item) => {
      const tracked = toTrackedWorkload(scope.info, item);
      return tracked ? [tracked] : [];
    });
    this.#index.replaceAll(scope.info.kind, scope.namespace, workloads);
    this.relists++;
    log.debug("Listed {workloads}", {
      workloads: plural(workloads.length, scope.info.kind),
      count: workloads.length,
    });
    return list.metadata?.resourceVersion ?? "";
  }

  /** Watches from `resourceVersion` until the watch ends; returns the last version seen. */
  #watch(
    scope: WatchScope,
    resourceVersion: string,
    signal: AbortSignal,
    onEvent: () => void,
  ): Promise<string> {
    let latest = resourceVersion;
    return new Promise<string>((resolve, reject) => {
      let finished = false;
      const finish = (error?: unknown) => {
        if (finished) return;
        finished = true;
        signal.removeEventListener("abort", abort);
        if (error) reject(error);
        else resolve(latest);
      };
      let request: AbortController | undefined;
      const abort = () => {
        request?.abort();
        finish();
      };
      signal.addEventListener("abort", abort, { once: true });
      const query = {
        resourceVersion,
        allowWatchBookmarks: true,
        // Let the server end each watch after 5-10 minutes, as client-go does, so a
        // connection that silently died is replaced.
        timeoutSeconds: 300 + Math.floor(Math.random() * 300),
      };
      new Watch(this.#config).watch(
        collectionPath(scope.info, scope.namespace),
        query,
        (type: string, object: KubeObject & { code?: number }) => {
          onEvent();
          if (type === "ERROR") {
            const expired = object.code === 410;
            return finish(expired ? new WatchExpired() : new Error(apiMessage({ body: object })));
          }
          latest = object.metadata?.resourceVersion ?? latest;
          if (type === "BOOKMARK") return;
          const tracked = toTrackedWorkload(scope.info, object);
          if (!tracked) return;
          if (type === "DELETED") this.#index.remove(tracked.key);
          else this.#index.upsert(tracked);
          log.debug("Watch: {type} {workload}", { type, workload: describeWorkload(tracked.key) });
        },
        (error: unknown) => finish(error ?? undefined),
      ).then((controller) => {
        request = controller;
        if (finished) controller.abort();
      }, finish);
    });
  }

  /**
   * Reads one workload now (after a patch conflict) and puts it in the index,
   * or takes it out when it is gone; throws when the API server cannot answer.
   */
  async refresh(key: WorkloadKey): Promise<void> {
    const info = kindInfo(key.kind);
    try {
      const object = await KubernetesObjectApi.makeApiClient(this.#config).read({
        apiVersion: info.apiVersion,
        kind: key.kind,
        metadata: { name: key.name, namespace: key.namespace },
      });
      const tracked = toTrackedWorkload(info, object as KubeObject);
      if (tracked) this.#index.upsert(tracked);
      else this.#index.remove(key);
    } catch (error) {
      if (apiStatus(error) !== 404) throw error;
      this.#index.remove(key);
    }
  }

  #markSynced(scope: WatchScope): void {
    this.#synced.add(scope);
    if (this.synced) this.#onSynced?.();
  }

  #reportFailure(scope: WatchScope, error: unknown, attempts: number): void {
    const status = apiStatus(error);
    const resource = `${scope.info.plural}.${scope.info.group}`;
    if (status === 403) {
      log.error(forbiddenMessage({ verb: "watch", resource, namespace: scope.namespace }));
      return;
    }
    // The first failure is worth a warning; the retries after it only a debug line.
    const message = "Watch of {resource} failed: {error}; retrying";
    const fields = {
      resource,
      error: status === undefined ? networkDetail(error) : apiMessage(error),
    };
    if (attempts === 0) log.warn(message, fields);
    else log.debug(message, fields);
  }
}
