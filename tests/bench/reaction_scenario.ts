/**
 * Reaction: from `docker tag` returning to the PATCH being visible through a
 * separate watch, one workload, one tag at a time. Beside it the floor, in
 * the same run and alone (no veryfreshpod running): the benchmark itself
 * waits for the tag event on a plain /events stream and sends one PATCH the
 * moment it arrives, observed through the same kind of watch. That is what
 * an ideal controller could do.
 */
import { type BenchContext, pause, startVeryfreshpod, TagSequence } from "./context.ts";
import { deploymentObject } from "./cluster.ts";
import { summarize, type Summary } from "./stats.ts";
import { formatMs, type Row, verdictOf } from "./table.ts";

const P99_LIMIT_MS = 50;
const TIMEOUT_MS = 15_000;

/** Makes namespace `name` with one Deployment `web` on the sequence's first tag. */
async function oneWorkload(context: BenchContext, name: string, tags: TagSequence) {
  await tags.tag(context.engine);
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

async function measureFloor(context: BenchContext): Promise<Floor> {
  const tags = new TagSequence("bench-floor", context.images, "s");
  await oneWorkload(context, "bench-floor", tags);
  const watch = await context.cluster.watchDeployments("bench-floor");
  const events = await context.engine.tagEvents();
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
        await context.cluster.setImage("bench-floor", "web", reference);
        return sent;
      });
      const returned = await tags.tag(context.engine);
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
  await removeWorkload(context, "bench-floor");
  return { total: summarize(total), event: summarize(event), patch: summarize(patch) };
}

async function measureReaction(context: BenchContext): Promise<Summary> {
  const tags = new TagSequence("bench-react", context.images, "s");
  await oneWorkload(context, "bench-react", tags);
  const program = await startVeryfreshpod(context);
  const samples: number[] = [];
  try {
    const watch = await context.cluster.watchDeployments("bench-react");
    try {
      for (let i = 0; i < context.sizes.samples; i++) {
        const seen = watch.waitFor(["web"], tags.upcoming, TIMEOUT_MS);
        const returned = await tags.tag(context.engine);
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
  await removeWorkload(context, "bench-react");
  return summarize(samples);
}

export async function reactionRows(context: BenchContext): Promise<Row[]> {
  const n = context.sizes.samples;
  context.progress(`floor: ${n} tags, each answered by one PATCH from the benchmark itself`);
  const floor = await measureFloor(context);
  context.progress(`reaction: ${n} tags, each rolled out by veryfreshpod`);
  const reaction = await measureReaction(context);
  const limit = 2 * floor.total.p50;
  return [
    {
      id: "reaction.floor",
      figure: "floor: tag event on a plain /events stream + one PATCH seen by a watch, alone",
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
      id: "reaction",
      figure: `reaction: \`docker tag\` returned → PATCH visible through a watch, ${n} samples`,
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
