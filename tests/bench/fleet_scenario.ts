/**
 * Start to ready, fan-out and memory, on growing numbers of workloads:
 *
 * 1. an empty cluster: start to ready, idle memory;
 * 2. the largest fan-out set alone: start to ready, idle memory; then the
 *    other sets join and each is fanned out once, the largest last; then the
 *    largest fan-out's floor (veryfreshpod stopped), right after it;
 *    2b. more such pairs of the largest fan-out and its floor, each image
 *    store in turn, each by a program of its own warmed up by the smaller
 *    fan-outs; every fan-out and floor waits for a quiet machine first;
 * 3. API requests (requests_scenario.ts), on the same workloads;
 * 4. bystanders up to the largest size: start to ready, then the largest
 *    fan-out once more while the peak resident memory is recorded.
 */
import {
  type BenchContext,
  type BenchStore,
  pause,
  startVeryfreshpod,
  storeSuffix,
  TagSequence,
} from "./context.ts";
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
import { waitQuiet } from "./quiet.ts";
import { percentile, summarize } from "./stats.ts";
import { formatCount, formatMiB, formatMs, type Row, verdictOf } from "./table.ts";

/**
 * Targets, at the sizes the issue names them. The 1,000-workload fan-out is
 * held to its floor measured in the same run (what the API server takes on
 * these two cores), not to a fixed time.
 */
const READY_LIMIT = { workloads: 1_000, ms: 1_000 };
const FANOUT_LIMIT = { workloads: 1_000, timesFloor: 1.05 };
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
 * One fan-out, measured. A fan-out that does not finish is a result (missed),
 * not a failure of the bench; veryfreshpod's warnings then go to stderr.
 * `store` names the image store when it is not the default (`.classic`).
 */
async function measureFanout(
  context: BenchContext,
  program: RunningProgram,
  set: FanoutSet,
  via?: Parameters<typeof fanOut>[2] & { readonly suffix: string; readonly on: string },
): Promise<FanoutResult> {
  const base = { size: set.size, suffix: via?.suffix ?? "", on: via?.on ?? "" };
  try {
    const cpuBefore = program.cpuSeconds();
    const { eachMs, lastMs, eventsMs } = await fanOut(context, set, via);
    return { ...base, eachMs, lastMs, eventsMs, cpuSeconds: program.cpuSeconds() - cpuBefore };
  } catch (error) {
    if (!(error instanceof NotUpdated)) throw error;
    const complaints = program.process.lines.filter((line) => /\b(WARN|ERROR)\b/.test(line));
    context.progress(
      `${error.message}; veryfreshpod logged ${complaints.length} warnings and errors, ` +
        `the last ones:\n${complaints.slice(-10).join("\n")}`,
    );
    return { ...base, lastMs: NaN, notUpdated: error };
  }
}

/** What one fan-out gave: its times, or how far it got. */
interface FanoutResult {
  readonly size: number;
  /** `` for the default store, `.classic` for the other. */
  readonly suffix: string;
  /** ` on Docker's classic image store`, or ``. */
  readonly on: string;
  readonly lastMs: number;
  readonly eachMs?: number[];
  /** When the last of its Events arrived (veryfreshpod records them after the patches). */
  readonly eventsMs?: number;
  readonly cpuSeconds?: number;
  readonly notUpdated?: NotUpdated;
}

/** A fan-out as a row, for the sizes without a target (the largest has `largestRow`). */
function fanoutRow(result: FanoutResult): Row {
  const { size, suffix, on } = result;
  const id = `fanout${suffix}.${size}`;
  const figure = `fan-out${on}: one tag over ${workloads(size)}, tag returned → last PATCH visible`;
  if (result.notUpdated !== undefined) return notFinishedRow(id, figure, "", result.notUpdated);
  const eachMs = result.eachMs!;
  const last = Math.max(...eachMs);
  const { p50 } = summarize(eachMs);
  return {
    id,
    figure,
    measured: `${formatMs(last)} (half of them in ${formatMs(p50)}; their Events all in after ` +
      `${formatMs(result.eventsMs!)}; veryfreshpod's CPU time ${
        formatMs(result.cpuSeconds! * 1000)
      })`,
    target: "",
    verdict: "no target",
    values: {
      ms: last,
      p50Ms: p50,
      eventsMs: result.eventsMs!,
      workloads: size,
      cpuSeconds: result.cpuSeconds!,
    },
  };
}

function notFinishedRow(id: string, figure: string, target: string, error: NotUpdated): Row {
  return {
    id,
    figure,
    measured: `not finished: ${formatCount(error.behind)} of ${formatCount(error.total)} ` +
      `still on the old tag after ${formatMs(error.timeoutMs)}`,
    target,
    verdict: "missed",
    values: { notUpdated: error.behind, workloads: error.total, timeoutMs: error.timeoutMs },
  };
}

/** The middle value (nearest rank, as every figure of the table). */
function median(values: readonly number[]): number {
  return percentile(values, 50);
}

/** The largest fan-out on one store, and the floor measured right after it. */
interface Pair {
  readonly fanout: FanoutResult;
  readonly floor: Floor;
}

/** A floor: the benchmark's own PATCHes and Events, veryfreshpod stopped. */
interface Floor {
  readonly lastMs: number;
  readonly p50Ms: number;
  /** When the last of its Events arrived. */
  readonly eventsMs: number;
  /** The benchmark's CPU time meanwhile. */
  readonly cpuSeconds: number;
}

/**
 * The largest fan-out on one store as a row: each measurement beside the
 * floor measured right after it, in the same state of the cluster (its
 * ReplicaSets and Events grow with every fan-out, and the floor with them);
 * the verdict is on the median of the ratios.
 */
function largestRow(pairs: readonly Pair[]): Row {
  const { size, suffix, on } = pairs[0]!.fanout;
  const limited = size === FANOUT_LIMIT.workloads;
  const id = `fanout${suffix}.${size}`;
  const figure = `fan-out${on}: one tag over ${workloads(size)}, tag returned → last PATCH ` +
    `visible, against the floor measured right after it (${pairs.length} ` +
    `${pairs.length === 1 ? "time" : "times, the median"})`;
  const target = limited ? `≤ ${FANOUT_LIMIT.timesFloor} × floor` : "";
  const unfinished = pairs.find((pair) => pair.fanout.notUpdated !== undefined);
  if (unfinished !== undefined) {
    return notFinishedRow(id, figure, target, unfinished.fanout.notUpdated!);
  }
  const ratios = pairs.map((pair) => pair.fanout.lastMs / pair.floor.lastMs);
  const ratio = median(ratios);
  const each = pairs.map((pair) =>
    `${formatMs(pair.fanout.lastMs)} / ${formatMs(pair.floor.lastMs)}`
  );
  const events = pairs.map((pair) =>
    `${formatMs(pair.fanout.eventsMs!)} / ${formatMs(pair.floor.eventsMs)}`
  );
  return {
    id,
    figure,
    measured: `${ratio.toFixed(2)} × floor (${each.join(", ")}; the Events all in after ` +
      `${events.join(", ")}; veryfreshpod's CPU time ` +
      `${formatMs(median(pairs.map((pair) => pair.fanout.cpuSeconds!)) * 1000)})`,
    target,
    verdict: limited ? verdictOf(ratio <= FANOUT_LIMIT.timesFloor) : "no target",
    values: {
      ratio,
      ms: median(pairs.map((pair) => pair.fanout.lastMs)),
      floorMs: median(pairs.map((pair) => pair.floor.lastMs)),
      workloads: size,
      cpuSeconds: median(pairs.map((pair) => pair.fanout.cpuSeconds!)),
      ...Object.fromEntries(pairs.flatMap((pair, i) => [
        [`pair${i + 1}Ms`, pair.fanout.lastMs],
        [`pair${i + 1}FloorMs`, pair.floor.lastMs],
        [`pair${i + 1}EventsMs`, pair.fanout.eventsMs!],
        [`pair${i + 1}FloorEventsMs`, pair.floor.eventsMs],
        [`pair${i + 1}CpuSeconds`, pair.fanout.cpuSeconds!],
      ])),
      ...(limited ? { limitRatio: FANOUT_LIMIT.timesFloor } : {}),
    },
  };
}

/** The floors of every pair as one row: what the API server takes, veryfreshpod stopped. */
function floorRow(floors: readonly Floor[], size: number): Row {
  const lastMs = median(floors.map((floor) => floor.lastMs));
  return {
    id: "fanout.floor",
    figure: `floor: the benchmark itself sends ${formatCount(size)} PATCHes + ` +
      `${formatCount(size)} Events, ${FLOOR_CONCURRENCY} at a time, alone → last PATCH visible ` +
      `(right after each fan-out over ${formatCount(size)}; the median of ${floors.length})`,
    measured: `${formatMs(lastMs)} (${floors.map((floor) => formatMs(floor.lastMs)).join(", ")}; ` +
      `the benchmark's CPU time ${formatMs(median(floors.map((f) => f.cpuSeconds)) * 1000)})`,
    target: "",
    verdict: "no target",
    values: {
      ms: lastMs,
      p50Ms: median(floors.map((floor) => floor.p50Ms)),
      workloads: size,
      cpuSeconds: median(floors.map((floor) => floor.cpuSeconds)),
      ...Object.fromEntries(floors.map((floor, i) => [`floor${i + 1}Ms`, floor.lastMs])),
    },
  };
}

/** The floor of the largest fan-out, once the machine is quiet. */
async function measureFloor(context: BenchContext, set: FanoutSet): Promise<Floor> {
  await waitQuiet(context.progress, { timeoutMs: context.sizes.quietSeconds * 1000 });
  context.progress(`floor: ${formatCount(set.size)} PATCHes and Events from the benchmark itself`);
  const cpuBefore = cpuSecondsOf(Deno.pid);
  const { eachMs, eventsMs } = await fanOutFloor(context, set);
  return {
    lastMs: Math.max(...eachMs),
    eventsMs,
    p50Ms: summarize(eachMs).p50,
    cpuSeconds: cpuSecondsOf(Deno.pid) - cpuBefore,
  };
}

/** The tags another store makes of a set's repository: `<repository>:<store>0`, `…1`, … */
function storeSequence(set: FanoutSet, store: BenchStore): TagSequence {
  return new TagSequence(set.namespace, store.images, store.store);
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
  const fanouts: FanoutResult[] = [];
  const starts: Start[] = [];

  // 1. Nothing to track.
  let [program, measured] = await start(context, 0);
  starts.push(measured);
  await program.stop();

  // 2. The largest fan-out set, then the others join while it runs; the smaller fan-outs are
  // measured, then the largest, then its floor.
  const largest = largestFanout(sizes);
  const sets = new Map<number, FanoutSet>();
  sets.set(largest, await createFanoutSet(context, largest));
  [program, measured] = await start(context, largest);
  starts.push(measured);
  const pairs = new Map<BenchStore, Pair[]>(context.stores.map((store) => [store, []]));
  const [defaultStore] = context.stores as [BenchStore];
  let first: FanoutResult;
  try {
    for (const size of sizes.fanouts) {
      if (!sets.has(size)) sets.set(size, await createFanoutSet(context, size));
    }
    await pause(2_000); // the watches bring the new sets into its index
    for (const size of sizes.fanouts.filter((size) => size !== largest)) {
      context.progress(`fan-out over ${workloads(size)}`);
      fanouts.push(await measureFanout(context, program, sets.get(size)!));
    }
    await waitQuiet(context.progress, { timeoutMs: context.sizes.quietSeconds * 1000 });
    context.progress(`fan-out over ${workloads(largest)}`);
    first = await measureFanout(context, program, sets.get(largest)!);
  } finally {
    await program.stop();
  }
  // The floor leaves the set on a tag that no engine has. A later start leaves it be: every
  // container was changed since veryfreshpod set it (lib/loop/resume.ts), and its rollout is
  // not followed again (the workload no longer runs what the record names).
  pairs.get(defaultStore)!.push({
    fanout: first,
    floor: await measureFloor(context, sets.get(largest)!),
  });

  // 2b. More pairs, each store in turn: a program of its own, warmed up by the smaller
  // fan-outs (unmeasured; V8 compiles the hot paths meanwhile), the largest fan-out, its floor.
  // Another store tags the same repositories in its own dockerd, with tags of its own.
  const storeTags = new Map(
    context.stores.slice(1).map((store) => [
      store,
      new Map(sizes.fanouts.map((size) => [size, storeSequence(sets.get(size)!, store)])),
    ]),
  );
  const via = (store: BenchStore, size: number) =>
    store === defaultStore
      ? undefined
      : { engine: store.engine, tags: storeTags.get(store)!.get(size)! };
  for (let round = 0; round < sizes.fanoutPairs; round++) {
    for (const store of context.stores) {
      if (round === 0 && store === defaultStore) continue;
      const on = store === defaultStore ? "" : ` on Docker's ${store.store} image store`;
      context.progress(
        `fan-out over ${workloads(largest)}${on} (${round + 1} of ${sizes.fanoutPairs})`,
      );
      const other = await startVeryfreshpod(context, undefined, store.engine);
      let fanout: FanoutResult;
      try {
        for (const size of sizes.fanouts.filter((size) => size !== largest)) {
          await fanOut(context, sets.get(size)!, via(store, size));
        }
        await waitQuiet(context.progress, { timeoutMs: context.sizes.quietSeconds * 1000 });
        const through = via(store, largest);
        fanout = await measureFanout(
          context,
          other,
          sets.get(largest)!,
          through && { ...through, suffix: storeSuffix(context, store), on },
        );
      } finally {
        await other.stop();
      }
      pairs.get(store)!.push({ fanout, floor: await measureFloor(context, sets.get(largest)!) });
    }
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
  const [empty, middle] = starts as [Start, Start, Start];
  return [
    ...fanouts.map(fanoutRow),
    ...context.stores.map((store) => largestRow(pairs.get(store)!)),
    floorRow([...pairs.values()].flat().map((pair) => pair.floor), largest),
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
