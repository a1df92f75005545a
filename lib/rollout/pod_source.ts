/**
 * The API server's pods, as the shared pod watch lists and watches them (the
 * workload watcher's ListWatchSource), through veryfreshpod's own client
 * (rest.ts): pages of 500 kept as slim copies, and a watch from the list's
 * resourceVersion that the server ends after 5-10 minutes. Needs list and
 * watch on pods, nothing else.
 */
import { type KubeObject, LIST_PAGE_SIZE, listAll } from "../kube/kinds.ts";
import type { KubeClient } from "../kube/rest.ts";
import type { ListWatchSource } from "../kube/watcher.ts";
import type { WatchEventHandler } from "../kube/workload_source.ts";
import { type PodScope, slimPod } from "./pod_store.ts";

/** A page of a pod list as the API server sends it. */
interface PodPage {
  readonly metadata?: { readonly resourceVersion?: string; readonly continue?: string };
  readonly items?: readonly KubeObject[];
}

/** The pods collection of one namespace, or of all. */
export function podsPath(namespace: string | undefined): string {
  return namespace === undefined
    ? "/api/v1/pods"
    : `/api/v1/namespaces/${encodeURIComponent(namespace)}/pods`;
}

/** The real API server. */
export class ClusterPodSource implements ListWatchSource<PodScope> {
  readonly #client: KubeClient;

  constructor(client: KubeClient) {
    this.#client = client;
  }

  async list(
    scope: PodScope,
    signal: AbortSignal,
  ): Promise<{ items: readonly KubeObject[]; resourceVersion: string }> {
    const path = podsPath(scope.namespace);
    const list = await listAll(slimPod as (object: KubeObject) => KubeObject, async (token) => {
      const page = await this.#client.json<PodPage>("GET", path, {
        query: { limit: LIST_PAGE_SIZE, continue: token },
        signal,
      });
      return {
        metadata: {
          resourceVersion: page.metadata?.resourceVersion,
          continue: page.metadata?.continue,
        },
        items: page.items ?? [],
      };
    });
    return { items: list.items, resourceVersion: list.metadata?.resourceVersion ?? "" };
  }

  watch(
    scope: PodScope,
    resourceVersion: string,
    signal: AbortSignal,
    onEvent: WatchEventHandler,
  ): Promise<void> {
    return this.#client.watch(
      podsPath(scope.namespace),
      {
        resourceVersion,
        allowWatchBookmarks: true,
        // timeoutSeconds: the client's, from its deadline on silence (rest.ts).
      },
      signal,
      onEvent,
    );
  }
}
