/**
 * Start to ready, fan-out and memory, on growing numbers of workloads:
 *
 * 1. an empty cluster: start to ready, idle memory;
 * 2. the largest fan-out set alone: start to ready, idle memory; then the
 *    other sets join and each is fanned out once;
 * 3. API requests (requests_scenario.ts), on the same workloads;
 * 4. bystanders up to the largest size: start to ready, then the largest
 *    fan-out once more while the peak resident memory is recorded;
 * 5. the floor of the largest fan-out, veryfreshpod stopped.
 */
import { type BenchContext, pause, startVeryfreshpod } from "./context.ts";
import { NotUpdated } from "./cluster.ts";
import {
  createBystanders,
  createFanoutSet,
  fanOut,
  fanOutFloor,
  type FanoutSet,
  FLOOR_CONCURRENCY,
} from "./fleet.ts";
import { cpuSecondsOf, type Memory, type RunningProgram } from "./program.ts";
import { requestRows } from "./requests_scenario.ts";
import { largestFanout, workloads } from "./sizes.ts";
import { summarize } from "./stats.ts";
import { formatCount, formatMiB, formatMs, type Row, verdictOf } from "./table.ts";

/** Targets, at the sizes the issue names them. */
const READY_LIMIT = { workloads: 1_000, ms: 1_000 };
const FANOUT_LIMIT = { workloads: 1_000, ms: 2_000 };
const IDLE_LIMIT_MIB = 120;
const PEAK_LIMIT = { workloads: 10_000, fanout: 1_000, mib: 200 };

/** Measured while starting: time to ready, and memory once it has settled. */
interface Start {
  readonly tracked: number;
  /** What the workloads are, when not all Deployments. */
  readonly detail: string;
  readonly readyMs: number;
  readonly idle: Memory;
}

async function start(
  context: BenchContext,
  tracked: number,
  detail = "",
): Promise<[RunningProgram, Start]> {
  context.progress(`start to ready with ${workloads(tracked)}`);
  const program = await startVeryfreshpod(context);
  await pause(context.sizes.settleSeconds * 1000);
  return [program, { tracked, detail, readyMs: program.readyMs, idle: program.memory() }];
}

function readyRow(start: Start): Row {
  const limited = start.tracked === READY_LIMIT.workloads;
  return {
    id: `ready.${start.tracked}`,
    figure: `start to ready with ${workloads(start.tracked)}${start.detail} ` +
      "(spawn → /readyz 200)",
    measured: formatMs(start.readyMs),
    target: limited ? `≤ ${formatMs(READY_LIMIT.ms)}` : "",
    verdict: limited ? verdictOf(start.readyMs <= READY_LIMIT.ms) : "no target",
    values: { ms: start.readyMs, workloads: start.tracked },
  };
}

/**
 * One fan-out as a row. A fan-out that does not finish is a result (missed),
 * not a failure of the bench; veryfreshpod's warnings then go to stderr.
 */
async function measureFanout(
  context: BenchContext,
  program: RunningProgram,
  set: FanoutSet,
): Promise<{ row: Row; lastMs: number }> {
  try {
    const cpuBefore = program.cpuSeconds();
    const { eachMs, lastMs } = await fanOut(context, set);
    return { row: fanoutRow(set.size, eachMs, program.cpuSeconds() - cpuBefore), lastMs };
  } catch (error) {
    if (!(error instanceof NotUpdated)) throw error;
    const complaints = program.process.lines.filter((line) => /\b(WARN|ERROR)\b/.test(line));
    context.progress(
      `${error.message}; veryfreshpod logged ${complaints.length} warnings and errors, ` +
        `the last ones:\n${complaints.slice(-10).join("\n")}`,
    );
    const limited = set.size === FANOUT_LIMIT.workloads;
    return {
      lastMs: NaN,
      row: {
        id: `fanout.${set.size}`,
        figure: `fan-out: one tag over ${workloads(set.size)}, tag returned → last PATCH visible`,
        measured: `not finished: ${formatCount(error.behind)} of ${formatCount(error.total)} ` +
          `still on the old tag after ${formatMs(error.timeoutMs)}`,
        target: limited ? `≤ ${formatMs(FANOUT_LIMIT.ms)}` : "",
        verdict: "missed",
        values: { notUpdated: error.behind, workloads: error.total, timeoutMs: error.timeoutMs },
      },
    };
  }
}

/** `cpuSeconds`: what veryfreshpod used meanwhile (it shares the CPUs with the API server). */
function fanoutRow(size: number, eachMs: number[], cpuSeconds: number): Row {
  const last = Math.max(...eachMs);
  const limited = size === FANOUT_LIMIT.workloads;
  return {
    id: `fanout.${size}`,
    figure: `fan-out: one tag over ${workloads(size)}, tag returned → last PATCH visible`,
    measured: `${formatMs(last)} (half of them in ${formatMs(summarize(eachMs).p50)}; ` +
      `veryfreshpod's CPU time ${formatMs(cpuSeconds * 1000)})`,
    target: limited ? `≤ ${formatMs(FANOUT_LIMIT.ms)}` : "",
    verdict: limited ? verdictOf(last <= FANOUT_LIMIT.ms) : "no target",
    values: { ms: last, p50Ms: summarize(eachMs).p50, workloads: size, cpuSeconds },
  };
}

/** The floor of the largest fan-out: the benchmark's own PATCHes and Events, veryfreshpod stopped. */
async function floorRow(context: BenchContext, set: FanoutSet): Promise<Row> {
  context.progress(`floor: ${formatCount(set.size)} PATCHes and Events from the benchmark itself`);
  const cpuBefore = cpuSecondsOf(Deno.pid);
  const { eachMs } = await fanOutFloor(context, set);
  const cpuSeconds = cpuSecondsOf(Deno.pid) - cpuBefore;
  const last = Math.max(...eachMs);
  return {
    id: "fanout.floor",
    figure: `floor: the benchmark itself sends ${formatCount(set.size)} PATCHes + ` +
      `${formatCount(set.size)} Events, ${FLOOR_CONCURRENCY} at a time, alone → last PATCH visible`,
    measured: `${formatMs(last)} (half of them in ${formatMs(summarize(eachMs).p50)}; ` +
      `the benchmark's CPU time ${formatMs(cpuSeconds * 1000)})`,
    target: "",
    verdict: "no target",
    values: { ms: last, p50Ms: summarize(eachMs).p50, workloads: set.size, cpuSeconds },
  };
}

/** Samples the resident memory every 20 ms while `work` runs; resolves with the largest. */
async function largestRss<T>(program: RunningProgram, work: Promise<T>): Promise<[T, number]> {
  let largest = program.memory().rssMiB;
  const timer = setInterval(() => {
    largest = Math.max(largest, program.memory().rssMiB);
  }, 20);
  try {
    return [await work, largest];
  } finally {
    clearInterval(timer);
  }
}

export async function fleetRows(context: BenchContext): Promise<Row[]> {
  const { sizes } = context;
  const rows: Row[] = [];
  const starts: Start[] = [];

  // 1. Nothing to track.
  let [program, measured] = await start(context, 0);
  starts.push(measured);
  await program.stop();

  // 2. The largest fan-out set, then the others join while it runs.
  const largest = largestFanout(sizes);
  const sets = new Map<number, FanoutSet>();
  sets.set(largest, await createFanoutSet(context, largest));
  [program, measured] = await start(context, largest);
  starts.push(measured);
  try {
    for (const size of sizes.fanouts) {
      if (!sets.has(size)) sets.set(size, await createFanoutSet(context, size));
    }
    await pause(2_000); // the watches bring the new sets into its index
    for (const size of sizes.fanouts) {
      context.progress(`fan-out over ${workloads(size)}`);
      rows.push((await measureFanout(context, program, sets.get(size)!)).row);
    }
  } finally {
    await program.stop();
  }

  // 3. Requests.
  rows.push(...await requestRows(context, sets.get(sizes.requestsFanout)!));

  // 4. Up to the largest size; the largest fan-out once more, for the peak.
  const inSets = sizes.fanouts.reduce((a, b) => a + b, 0);
  await createBystanders(context, sizes.tracked[2] - inSets);

  const others = sizes.tracked[2] - inSets;
  const mix = ` (${formatCount(inSets)} Deployments, ${formatCount(others)} CronJobs)`;
  [program, measured] = await start(context, sizes.tracked[2], mix);
  starts.push(measured);
  let peak: Row;
  try {
    context.progress(`fan-out over ${workloads(largest)} with ${workloads(sizes.tracked[2])}`);
    const [{ lastMs }, duringMiB] = await largestRss(
      program,
      measureFanout(context, program, sets.get(largest)!),
    );
    const { peakMiB } = program.memory();
    const limited = sizes.tracked[2] === PEAK_LIMIT.workloads && largest === PEAK_LIMIT.fanout;
    peak = {
      id: "memory.peak",
      figure: `peak resident memory (VmHWM), ${workloads(sizes.tracked[2])}${mix} tracked, ` +
        `fan-out over ${formatCount(largest)}`,
      measured: `${formatMiB(peakMiB)} (${formatMiB(duringMiB)} during the fan-out, ` +
        (Number.isNaN(lastMs) ? "which did not finish)" : `which took ${formatMs(lastMs)})`),
      target: limited ? `≤ ${PEAK_LIMIT.mib} MiB` : "",
      verdict: limited ? verdictOf(peakMiB <= PEAK_LIMIT.mib) : "no target",
      values: {
        mib: peakMiB,
        duringFanoutMiB: duringMiB,
        ...(Number.isNaN(lastMs) ? {} : { fanoutMs: lastMs }),
      },
    };
  } finally {
    await program.stop();
  }
  // Last: the floor leaves the set on a tag that veryfreshpod's own record does not
  // name, which a later start would take for a fan-out cut short and complete.
  rows.push(await floorRow(context, sets.get(largest)!));

  const [empty, middle] = starts as [Start, Start, Start];
  return [
    ...rows,
    ...starts.map(readyRow),
    {
      id: "memory.idle",
      figure: `resident memory idle, ${workloads(middle.tracked)} tracked ` +
        `(${sizes.settleSeconds} s after ready)`,
      measured: `${formatMiB(middle.idle.rssMiB)} (${formatMiB(empty.idle.rssMiB)} with none)`,
      target: `≤ ${IDLE_LIMIT_MIB} MiB`,
      verdict: verdictOf(middle.idle.rssMiB <= IDLE_LIMIT_MIB),
      values: { mib: middle.idle.rssMiB, emptyMiB: empty.idle.rssMiB },
    },
    peak,
  ];
}
