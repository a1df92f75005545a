/**
 * What the workload watcher needs of the API server (list a scope, watch it
 * from a resourceVersion, read one object) behind a small interface: the real
 * one, on @kubernetes/client-node, is here; unit tests pass a fake
 * (fake_kube.ts).
 */
import "../quiet_deprecations.ts";
import { type KubeConfig, KubernetesObjectApi, Watch } from "@kubernetes/client-node";
import { apiStatus } from "./api_errors.ts";
import { collectionPath, kindInfo, type KubeObject, type WorkloadKindInfo } from "./kinds.ts";
import type { WorkloadKey } from "./workload.ts";

/** One list+watch loop's scope. */
export interface WatchScope {
  readonly info: WorkloadKindInfo;
  /** undefined: all namespaces. */
  readonly namespace: string | undefined;
  /** Only workloads whose labels match (`--selector`); undefined: all. */
  readonly labelSelector?: string | undefined;
}

/** A watch event as the API server sends it; an ERROR event's object is a Status. */
export type WatchEventHandler = (
  type: string,
  object: KubeObject & { readonly code?: number; readonly message?: string },
) => void;

/** The API server, as the watcher uses it. Errors carry the HTTP status (`apiStatus`). */
export interface WorkloadSource {
  /** Lists a scope: its objects and the resourceVersion to watch from. */
  list(
    scope: WatchScope,
    signal: AbortSignal,
  ): Promise<{ items: readonly KubeObject[]; resourceVersion: string }>;
  /**
   * Watches a scope from `resourceVersion`, calling `onEvent` for each event.
   * Resolves when the server ends the watch or `signal` aborts; rejects when
   * it fails (a 410 Gone when `resourceVersion` is too old).
   */
  watch(
    scope: WatchScope,
    resourceVersion: string,
    signal: AbortSignal,
    onEvent: WatchEventHandler,
  ): Promise<void>;
  /** Reads one workload; undefined when it does not exist. */
  read(key: WorkloadKey): Promise<KubeObject | undefined>;
}

/** The real API server, through @kubernetes/client-node. */
export class ClusterWorkloadSource implements WorkloadSource {
  readonly #config: KubeConfig;

  constructor(config: KubeConfig) {
    this.#config = config;
  }

  async list(
    scope: WatchScope,
  ): Promise<{ items: readonly KubeObject[]; resourceVersion: string }> {
    const list = await scope.info.list(this.#config, scope.namespace, scope.labelSelector);
    return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? "" };
  }

  watch(
    scope: WatchScope,
    resourceVersion: string,
    signal: AbortSignal,
    onEvent: WatchEventHandler,
  ): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let finished = false;
      let request: AbortController | undefined;
      const finish = (error?: unknown) => {
        if (finished) return;
        finished = true;
        signal.removeEventListener("abort", abort);
        request?.abort();
        if (error) reject(error);
        else resolve();
      };
      const abort = () => finish();
      if (signal.aborted) return finish();
      signal.addEventListener("abort", abort, { once: true });
      const query = {
        resourceVersion,
        allowWatchBookmarks: true,
        // Let the server end each watch after 5-10 minutes, as client-go does, so a
        // connection that silently died is replaced.
        timeoutSeconds: 300 + Math.floor(Math.random() * 300),
        // A workload relabelled out of the selection comes as a DELETED event.
        ...(scope.labelSelector === undefined ? {} : { labelSelector: scope.labelSelector }),
      };
      new Watch(this.#config).watch(
        collectionPath(scope.info, scope.namespace),
        query,
        (type: string, object: KubeObject) => {
          if (!finished) onEvent(type, object);
        },
        // client-node passes an error with `statusCode` for a non-200 answer (a 410 too).
        (error: unknown) => finish(error ?? undefined),
      ).then((controller) => {
        request = controller;
        if (finished) controller.abort();
      }, finish);
    });
  }

  async read(key: WorkloadKey): Promise<KubeObject | undefined> {
    const info = kindInfo(key.kind);
    try {
      return await KubernetesObjectApi.makeApiClient(this.#config).read({
        apiVersion: info.apiVersion,
        kind: key.kind,
        metadata: { name: key.name, namespace: key.namespace },
      }) as KubeObject;
    } catch (error) {
      if (apiStatus(error) === 404) return undefined;
      throw error;
    }
  }
}
