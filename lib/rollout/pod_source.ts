/**
 * The API server's pods, as the shared pod watch lists and watches them (the
 * workload watcher's ListWatchSource): pages of 500 kept as slim copies, and
 * a watch from the list's resourceVersion that the server ends after 5-10
 * minutes. Needs list and watch on pods, nothing else.
 */
import "../quiet_deprecations.ts";
import { CoreV1Api, type KubeConfig, Watch } from "@kubernetes/client-node";
import { type KubeObject, LIST_PAGE_SIZE, listAll } from "../kube/kinds.ts";
import type { ListWatchSource } from "../kube/watcher.ts";
import type { WatchEventHandler } from "../kube/workload_source.ts";
import { type PodScope, slimPod } from "./pod_store.ts";

/** The real API server, through @kubernetes/client-node. */
export class ClusterPodSource implements ListWatchSource<PodScope> {
  readonly #config: KubeConfig;

  constructor(config: KubeConfig) {
    this.#config = config;
  }

  async list(scope: PodScope): Promise<{ items: readonly KubeObject[]; resourceVersion: string }> {
    const api = this.#config.makeApiClient(CoreV1Api);
    const namespace = scope.namespace;
    const list = await listAll(slimPod as (object: KubeObject) => KubeObject, (_continue) => {
      const query = { limit: LIST_PAGE_SIZE, _continue };
      return namespace === undefined
        ? api.listPodForAllNamespaces(query)
        : api.listNamespacedPod({ namespace, ...query });
    });
    return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? "" };
  }

  watch(
    scope: PodScope,
    resourceVersion: string,
    signal: AbortSignal,
    onEvent: WatchEventHandler,
  ): Promise<void> {
    const path = scope.namespace === undefined
      ? "/api/v1/pods"
      : `/api/v1/namespaces/${encodeURIComponent(scope.namespace)}/pods`;
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
        // As the workload watch: the server ends it after 5-10 minutes, so a
        // connection that silently died is replaced.
        timeoutSeconds: 300 + Math.floor(Math.random() * 300),
      };
      new Watch(this.#config).watch(
        path,
        query,
        (type: string, object: KubeObject) => {
          if (!finished) onEvent(type, object);
        },
        (error: unknown) => finish(error ?? undefined),
      ).then((controller) => {
        request = controller;
        if (finished) controller.abort();
      }, finish);
    });
  }
}
