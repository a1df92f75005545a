/**
 * Reaction: from `docker tag` returning to the PATCH being visible through a
 * separate watch, one workload, one tag at a time. Beside it the floor, in
 * the same run and alone (no veryfreshpod running): the benchmark itself
 * waits for the tag event on a plain /events stream and sends one PATCH the
 * moment it arrives, observed through the same kind of watch. That is what
 * an ideal controller could do.
 */
import {
  type BenchContext,
  type BenchStore,
  pause,
  startVeryfreshpod,
  storeSuffix,
  TagSequence,
} from "./context.ts";
import { deploymentObject } from "./cluster.ts";
import { summarize, type Summary } from "./stats.ts";
import { formatMs, type Row, verdictOf } from "./table.ts";

const P99_LIMIT_MS = 50;
const TIMEOUT_MS = 15_000;

/** Makes namespace `name` with one Deployment `web` on the sequence's first tag. */
async function oneWorkload(
  context: BenchContext,
  store: BenchStore,
  name: string,
  tags: TagSequence,
) {
  await tags.tag(store.engine);
  await context.cluster.createNamespace(name);
  await context.cluster.request(
    "POST",
    `/apis/apps/v1/namespaces/${name}/deployments`,
    deploymentObject(name, "web", tags.current),
  );
}

async function removeWorkload(context: BenchContext, namespace: string): Promise<void> {
  await context.cluster.request("DELETE", `/apis/apps/v1/namespaces/${namespace}/deployments/web`);
}

interface Floor {
  readonly total: Summary;
  readonly event: Summary;
  readonly patch: Summary;
}

/** `bench-floor`, `bench-floor-classic`: one namespace and repository per store. */
function nameFor(context: BenchContext, store: BenchStore, base: string): string {
  return `${base}${storeSuffix(context, store).replace(".", "-")}`;
}

async function measureFloor(context: BenchContext, store: BenchStore): Promise<Floor> {
  const namespace = nameFor(context, store, "bench-floor");
  const tags = new TagSequence(namespace, store.images, "s");
  await oneWorkload(context, store, namespace, tags);
  const watch = await context.cluster.watchDeployments(namespace);
  const events = await store.engine.tagEvents();
  const total: number[] = [];
  const event: number[] = [];
  const patch: number[] = [];
  try {
    for (let i = 0; i < context.sizes.samples; i++) {
      const reference = tags.upcoming;
      const seen = watch.waitFor(["web"], reference, TIMEOUT_MS);
      const arrived = events.arrival(reference, TIMEOUT_MS);
      // The ideal controller: one PATCH the moment the event arrives.
      const patched = arrived.then(async () => {
        const sent = performance.now();
        await context.cluster.setImage(namespace, "web", reference);
        return sent;
      });
      const returned = await tags.tag(store.engine);
      const [arrival, sent, [visible]] = await Promise.all([arrived, patched, seen]);
      total.push(visible! - returned);
      event.push(arrival - returned);
      patch.push(visible! - sent);
      await pause(20);
    }
  } finally {
    events.close();
    watch.close();
  }
  await removeWorkload(context, namespace);
  return { total: summarize(total), event: summarize(event), patch: summarize(patch) };
}

async function measureReaction(context: BenchContext, store: BenchStore): Promise<Summary> {
  const namespace = nameFor(context, store, "bench-react");
  const tags = new TagSequence(namespace, store.images, "s");
  await oneWorkload(context, store, namespace, tags);
  const program = await startVeryfreshpod(context, undefined, store.engine);
  const samples: number[] = [];
  try {
    const watch = await context.cluster.watchDeployments(namespace);
    try {
      for (let i = 0; i < context.sizes.samples; i++) {
        const seen = watch.waitFor(["web"], tags.upcoming, TIMEOUT_MS);
        const returned = await tags.tag(store.engine);
        const [visible] = await seen;
        samples.push(visible! - returned);
        // Let it finish the update (its Event) before the next tag.
        await pause(100);
      }
    } finally {
      watch.close();
    }
  } finally {
    await program.stop();
  }
  await removeWorkload(context, namespace);
  return summarize(samples);
}

/** The reaction and its floor on each Docker image store. */
export async function reactionRows(context: BenchContext): Promise<Row[]> {
  const rows: Row[] = [];
  for (const store of context.stores) rows.push(...await storeRows(context, store));
  return rows;
}

async function storeRows(context: BenchContext, store: BenchStore): Promise<Row[]> {
  const n = context.sizes.samples;
  const on = `Docker's ${store.store} image store`;
  context.progress(`floor (${on}): ${n} tags, each answered by one PATCH from the benchmark`);
  const floor = await measureFloor(context, store);
  context.progress(`reaction (${on}): ${n} tags, each rolled out by veryfreshpod`);
  const reaction = await measureReaction(context, store);
  const limit = 2 * floor.total.p50;
  const suffix = storeSuffix(context, store);
  return [
    {
      id: `reaction${suffix}.floor`,
      figure: `floor (${on}): tag event on a plain /events stream + one PATCH seen by a ` +
        "watch, alone",
      measured: `p50 ${formatMs(floor.total.p50)} (event ${formatMs(floor.event.p50)}, ` +
        `PATCH to watch ${formatMs(floor.patch.p50)}), p99 ${formatMs(floor.total.p99)}`,
      target: "",
      verdict: "no target",
      values: {
        p50Ms: floor.total.p50,
        p99Ms: floor.total.p99,
        eventP50Ms: floor.event.p50,
        patchP50Ms: floor.patch.p50,
        samples: n,
      },
    },
    {
      id: `reaction${suffix}`,
      figure: `reaction (${on}): \`docker tag\` returned → PATCH visible through a watch, ` +
        `${n} samples`,
      measured: `p50 ${formatMs(reaction.p50)}, p99 ${formatMs(reaction.p99)} ` +
        `(max ${formatMs(reaction.max)})`,
      target: `p50 ≤ 2 × floor = ${formatMs(limit)}; p99 ≤ ${P99_LIMIT_MS} ms`,
      verdict: verdictOf(reaction.p50 <= limit, reaction.p99 <= P99_LIMIT_MS),
      values: {
        p50Ms: reaction.p50,
        p99Ms: reaction.p99,
        maxMs: reaction.max,
        minMs: reaction.min,
        samples: n,
      },
    },
  ];
}
