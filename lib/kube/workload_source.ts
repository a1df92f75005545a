/**
 * What the workload watcher needs of the API server (list a scope, watch it
 * from a resourceVersion, read one object) behind a small interface: the real
 * one, on rest.ts's client, is here; unit tests pass a fake (fake_kube.ts).
 */
import { apiStatus } from "./api_errors.ts";
import {
  collectionPath,
  kindInfo,
  type KubeObject,
  listWorkloads,
  objectPath,
  type WorkloadKindInfo,
} from "./kinds.ts";
import type { KubeClient } from "./rest.ts";
import type { WorkloadKey } from "../model/workload.ts";

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

/** The real API server. */
export class ClusterWorkloadSource implements WorkloadSource {
  readonly #client: KubeClient;

  constructor(client: KubeClient) {
    this.#client = client;
  }

  async list(
    scope: WatchScope,
    signal: AbortSignal,
  ): Promise<{ items: readonly KubeObject[]; resourceVersion: string }> {
    const list = await listWorkloads(
      this.#client,
      scope.info,
      scope.namespace,
      scope.labelSelector,
      signal,
    );
    return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? "" };
  }

  watch(
    scope: WatchScope,
    resourceVersion: string,
    signal: AbortSignal,
    onEvent: WatchEventHandler,
  ): Promise<void> {
    return this.#client.watch(
      collectionPath(scope.info, scope.namespace),
      {
        resourceVersion,
        allowWatchBookmarks: true,
        // timeoutSeconds: the client's, from its deadline on silence (rest.ts).
        // A workload relabelled out of the selection comes as a DELETED event.
        labelSelector: scope.labelSelector,
      },
      signal,
      onEvent,
    );
  }

  async read(key: WorkloadKey): Promise<KubeObject | undefined> {
    try {
      return await this.#client.json<KubeObject>(
        "GET",
        objectPath(kindInfo(key.kind), key.namespace, key.name),
      );
    } catch (error) {
      if (apiStatus(error) === 404) return undefined;
      throw error;
    }
  }
}
