/**
 * Memory in a long session: veryfreshpod follows a few Deployments while a
 * new tag of their repository comes every 2 s (each one a fan-out: a PATCH
 * and an Event per Deployment), and its resident memory is read every 5 s.
 * The steady state is the highest reading of the second half, after the heap
 * has had time to find its size; the first reading is the start. veryfreshpod
 * watches the soak's namespace only (`--namespace`), as a developer with one
 * dev namespace may run it.
 */
import { type BenchContext, pause, startVeryfreshpod, TagSequence } from "./context.ts";
import { waitSettled } from "./fleet.ts";
import { formatCount, formatMiB, type Row, verdictOf } from "./table.ts";

const STEADY_LIMIT_MIB = 100;
const TAG_EVERY_MS = 2_000;
const SAMPLE_EVERY_MS = 5_000;

/** The soak's row. */
export async function soakRows(context: BenchContext): Promise<Row[]> {
  const { sizes } = context;
  const namespace = "bench-soak";
  const tags = new TagSequence(namespace, context.images);
  await tags.tag(context.engine);
  context.progress(`soak: ${sizes.soakWorkloads} Deployments in ${namespace}`);
  await context.cluster.createNamespace(namespace);
  await context.cluster.createWorkloads(
    "Deployment",
    namespace,
    "s",
    sizes.soakWorkloads,
    () => tags.current,
  );
  await waitSettled(context, namespace);
  // Its own namespace only: what is measured is 20 Deployments over time, not what other
  // scenarios of the same run left in the cluster (the fleet's 10,000 workloads).
  const program = await startVeryfreshpod(context, undefined, undefined, [
    "--namespace",
    namespace,
  ]);
  const samples: number[] = [];
  let tagged = 0;
  try {
    context.progress(`soak: a new tag every 2 s for ${sizes.soakSeconds} s`);
    await pause(sizes.settleSeconds * 1000);
    samples.push(program.memory().rssMiB);
    const started = performance.now();
    let nextSample = started + SAMPLE_EVERY_MS;
    while (performance.now() - started < sizes.soakSeconds * 1000) {
      await tags.tag(context.engine);
      tagged++;
      await pause(TAG_EVERY_MS);
      if (performance.now() >= nextSample) {
        samples.push(program.memory().rssMiB);
        nextSample += SAMPLE_EVERY_MS;
      }
    }
    samples.push(program.memory().rssMiB);
  } finally {
    await program.stop();
  }
  const updateLines = program.process.lines.filter((line) =>
    /Updated Deployment \S+ container /.test(line)
  );
  const updates = updateLines.length;
  const secondHalf = samples.slice(Math.floor(samples.length / 2));
  const steady = Math.max(...secondHalf);
  const start = samples[0]!;
  const minutes = sizes.soakSeconds / 60;
  return [{
    id: "memory.soak",
    figure:
      `resident memory in a ${
        minutes >= 1 ? `${minutes}-minute` : `${sizes.soakSeconds} s`
      } soak: ${sizes.soakWorkloads} Deployments (\`--namespace ${namespace}\`), a new tag every 2 s ` +
      `(${formatCount(tagged)} tags, ${formatCount(updates)} updates)`,
    measured: `${formatMiB(steady)} steady (${formatMiB(start)} at start, ${
      formatMiB(Math.max(...samples))
    } highest)`,
    target: `≤ ${STEADY_LIMIT_MIB} MiB`,
    verdict: verdictOf(steady <= STEADY_LIMIT_MIB),
    values: { mib: steady, startMiB: start, highestMiB: Math.max(...samples), tagged, updates },
  }];
}
