/**
 * The workloads the fan-out, start-to-ready, memory and request scenarios
 * share: one namespace per fan-out size (`bench-fan-<n>`, every Deployment on
 * the repository `bench-fan-<n>`), and a namespace of CronJobs that only add
 * to what veryfreshpod tracks.
 */
import type { BenchContext } from "./context.ts";
import type { BenchEngine } from "./engine.ts";
import { TagSequence } from "./context.ts";
import { benchName, type DeploymentWatch, forEachAtOnce } from "./cluster.ts";
import { EventWatch } from "./event_watch.ts";
import { formatCount } from "./table.ts";

const FANOUT_TIMEOUT_MS = 180_000;
/** As many requests at once as veryfreshpod's patch queue sends (lib/loop/controller.ts). */
export const FLOOR_CONCURRENCY = 16;
const SETTLE_TIMEOUT_MS = 600_000;

/** One fan-out namespace. */
export interface FanoutSet {
  readonly size: number;
  readonly namespace: string;
  readonly names: readonly string[];
  readonly tags: TagSequence;
}

/** The outcome of one fan-out. */
export interface Fanout {
  /** From the tag returning to the last workload visible on the new tag. */
  readonly lastMs: number;
  /** Each workload's time, same origin. */
  readonly eachMs: number[];
  /** When the last of the fan-out's Events (one per workload) arrived, same origin. */
  readonly eventsMs: number;
}

/** Creates the namespace and Deployments of one fan-out size, on `<repository>:v0`. */
export async function createFanoutSet(context: BenchContext, size: number): Promise<FanoutSet> {
  const namespace = `bench-fan-${size}`;
  const tags = new TagSequence(namespace, context.images);
  await tags.tag(context.engine);
  context.progress(`creating ${formatCount(size)} Deployments in ${namespace}`);
  await context.cluster.createNamespace(namespace);
  const prefix = "w";
  await context.cluster.createWorkloads("Deployment", namespace, prefix, size, () => tags.current);
  await waitSettled(context, namespace);
  const names = Array.from({ length: size }, (_, i) => benchName(prefix, i));
  return { size, namespace, names, tags };
}

/**
 * Waits until the deployment controller has seen every Deployment of
 * `namespace` (its ReplicaSet made, its status written): a controller still
 * busy with them would compete for the CPU and change resourceVersions under
 * the measurement.
 */
export async function waitSettled(context: BenchContext, namespace: string): Promise<void> {
  const deadline = performance.now() + SETTLE_TIMEOUT_MS;
  const path = `/apis/apps/v1/namespaces/${namespace}/deployments`;
  while (true) {
    let behind = 0;
    let continueToken = "";
    do {
      const query = new URLSearchParams({ limit: "1000", continue: continueToken });
      const page = await context.cluster.request("GET", `${path}?${query}`);
      for (const item of page.items) {
        if ((item.status?.observedGeneration ?? 0) < item.metadata.generation) behind++;
      }
      continueToken = page.metadata.continue ?? "";
    } while (continueToken);
    if (behind === 0) return;
    if (performance.now() > deadline) {
      throw new Error(`the deployment controller is still behind on ${behind} in ${namespace}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1_000));
  }
}

/**
 * Creates `count` workloads that no scenario tags (spread over 100
 * repositories): CronJobs that are never due, since a Deployment would keep
 * the deployment controller busy for minutes, under the measurements.
 */
export async function createBystanders(context: BenchContext, count: number): Promise<void> {
  if (count <= 0) return;
  context.progress(`creating ${formatCount(count)} CronJobs in bench-others`);
  await context.cluster.createNamespace("bench-others");
  await context.cluster.createWorkloads(
    "CronJob",
    "bench-others",
    "other",
    count,
    (i) => `bench-other-${i % 100}:v0`,
  );
}

/**
 * Tags the set's repository once more (a new build) and waits until every
 * Deployment of the set is seen on it through a watch. `via` tags it in
 * another dockerd, with a tag sequence of that daemon's images.
 */
export async function fanOut(
  context: BenchContext,
  set: FanoutSet,
  via: { readonly engine: BenchEngine; readonly tags: TagSequence } = {
    engine: context.engine,
    tags: set.tags,
  },
): Promise<Fanout> {
  return await watching(context, set, via.tags.upcoming, () => via.tags.tag(via.engine));
}

/**
 * The fan-out floor, with veryfreshpod not running: the benchmark itself sends
 * what an ideal controller must for each workload of the set, one PATCH and
 * one Event, FLOOR_CONCURRENCY at a time, and waits until the watch shows
 * every Deployment on the new image: what this API server can take.
 */
export async function fanOutFloor(context: BenchContext, set: FanoutSet): Promise<Fanout> {
  // Another tag name of the same repository, never made in the engine: veryfreshpod,
  // started later, only acts on new tags, and moves these on like the others.
  const image = `${set.tags.repository}:floor-${floors++}`;
  return await watching(context, set, image, async () => {
    const started = performance.now();
    await forEachAtOnce(0, set.names.length, FLOOR_CONCURRENCY, async (i) => {
      const name = set.names[i]!;
      await context.cluster.setImage(set.namespace, name, image);
      await context.cluster.recordEvent(set.namespace, name, `floor: ${image}`);
    });
    return started;
  });
}

/**
 * Runs `change` (which resolves with the time it counts from) with the set's
 * Deployments and Events watched, and times every Deployment seen on `image`
 * and the last of one Event per Deployment naming it; then waits for the
 * deployment controller to settle.
 */
async function watching(
  context: BenchContext,
  set: FanoutSet,
  image: string,
  change: () => Promise<number>,
): Promise<Fanout> {
  const [watch, events]: [DeploymentWatch, EventWatch] = await Promise.all([
    context.cluster.watchDeployments(set.namespace),
    EventWatch.start(context.cluster, set.namespace),
  ]);
  try {
    const seen = watch.waitFor(set.names, image, FANOUT_TIMEOUT_MS);
    const recorded = events.waitFor(image, set.names.length, FANOUT_TIMEOUT_MS);
    // Neither may go unhandled while the other is awaited.
    seen.catch(() => {});
    recorded.catch(() => {});
    const origin = await change();
    const eachMs = (await seen).map((at) => at - origin);
    return { lastMs: Math.max(...eachMs), eachMs, eventsMs: await recorded - origin };
  } finally {
    watch.close();
    events.close();
    // The deployment controller makes a ReplicaSet for each change: not under the next figure.
    await waitSettled(context, set.namespace);
  }
}

let floors = 0;
