/**
 * Pods on the test node, for end-to-end tests that assert what runs: the pods
 * of a workload, read through the real API server, and waits for the state
 * the kubelet reports.
 */
import { eventually } from "./eventually.ts";
import { api } from "./workloads.ts";

/** What a test needs of a pod. */
export interface PodState {
  readonly name: string;
  readonly uid: string;
  readonly phase: string;
  /** Set while the pod is being deleted (old pods of a rollout). */
  readonly deleting: boolean;
  /** The first container's image, as in the pod spec. */
  readonly image: string;
  /** The first container's `imageID` as the kubelet reports it (empty until it ran). */
  readonly imageId: string;
  /** The first container's waiting reason (`ErrImagePull`, …), if any. */
  readonly waiting: string | undefined;
  readonly ready: boolean;
}

// deno-lint-ignore no-explicit-any
function podState(pod: any): PodState {
  const status = pod.status?.containerStatuses?.[0];
  return {
    name: pod.metadata.name,
    uid: pod.metadata.uid,
    phase: pod.status?.phase ?? "",
    deleting: pod.metadata.deletionTimestamp !== undefined,
    image: pod.spec.containers[0].image,
    imageId: status?.imageID ?? "",
    waiting: status?.state?.waiting?.reason,
    ready: status?.ready === true,
  };
}

/** The pods of `namespace` whose labels match `selector` (e.g. `app=web`). */
export async function listPods(namespace: string, selector: string): Promise<PodState[]> {
  const query = new URLSearchParams({ labelSelector: selector });
  const list = await api("GET", `/api/v1/namespaces/${namespace}/pods?${query}`);
  return list.items.map(podState);
}

/**
 * Waits until the pods matching `selector` are exactly `count` pods, none
 * being deleted, all Running with `imageId` (the old pods of a rollout are
 * gone by then); returns them.
 */
export function waitForPodsOn(
  namespace: string,
  selector: string,
  imageId: string,
  options: { count?: number; phase?: string; timeoutMs?: number } = {},
): Promise<PodState[]> {
  const count = options.count ?? 1;
  const phase = options.phase ?? "Running";
  let last: PodState[] = [];
  return eventually(
    `${count} pod(s) ${selector} in ${namespace} ${phase} on ${imageId}`,
    async () => {
      last = await listPods(namespace, selector);
      const done = last.length === count &&
        last.every((pod) => !pod.deleting && pod.phase === phase && pod.imageId === imageId);
      return done ? last : undefined;
    },
    options.timeoutMs ?? 90_000,
  ).catch((error) => {
    throw new Error(`${error.message}; pods: ${JSON.stringify(last)}`);
  });
}

/** Waits until some pod matching `selector` is waiting with one of `reasons`; returns it. */
export function waitForWaitingPod(
  namespace: string,
  selector: string,
  image: string,
  reasons: string[],
): Promise<PodState> {
  return eventually(
    `a pod ${selector} in ${namespace} on ${image} waiting with ${reasons.join(" or ")}`,
    async () =>
      (await listPods(namespace, selector)).find((pod) =>
        pod.image === image && pod.waiting !== undefined && reasons.includes(pod.waiting)
      ),
    90_000,
  );
}
