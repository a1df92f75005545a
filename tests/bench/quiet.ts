/**
 * Waiting for a quiet machine before a fan-out or its floor: after 1,000
 * changes the controller-manager keeps working for a while (new ReplicaSets,
 * old ones collected), and a measurement that starts under that work is
 * slower by chance. Measured in an alternating run without this wait, the
 * floor went 3.3 → 5.2 → 9.0 s within minutes.
 */
import { pause } from "./context.ts";

/** The machine's CPU time in clock ticks, all CPUs: in total and idle. */
export interface CpuTimes {
  readonly total: number;
  readonly idle: number;
}

/** Reads the first line of /proc/stat (`cpu  user nice system idle iowait …`). */
export function parseCpuTimes(stat: string): CpuTimes {
  const line = stat.split("\n", 1)[0] ?? "";
  const [label, ...rest] = line.trim().split(/\s+/);
  const ticks = rest.map(Number);
  if (label !== "cpu" || ticks.length < 5 || ticks.some((n) => !Number.isFinite(n))) {
    throw new Error(`not the summary line of /proc/stat: ${JSON.stringify(line)}`);
  }
  // idle and iowait count as idle; guest time is already in user and nice.
  const total = ticks.slice(0, 8).reduce((a, b) => a + b, 0);
  return { total, idle: ticks[3]! + ticks[4]! };
}

/** The share of CPU time that was idle between two readings (1 when no time passed). */
export function idleShare(before: CpuTimes, after: CpuTimes): number {
  const total = after.total - before.total;
  return total <= 0 ? 1 : (after.idle - before.idle) / total;
}

export interface QuietOptions {
  /** The idle share a window must reach. */
  readonly minIdle: number;
  readonly windowMs: number;
  /** Past this, go on anyway (said in a progress line). */
  readonly timeoutMs: number;
  readonly read: () => CpuTimes;
  readonly sleep: (ms: number) => Promise<void>;
  readonly now: () => number;
}

const DEFAULTS: QuietOptions = {
  minIdle: 0.9,
  windowMs: 1_000,
  timeoutMs: 120_000,
  read: () => parseCpuTimes(Deno.readTextFileSync("/proc/stat")),
  sleep: pause,
  now: () => performance.now(),
};

/**
 * Resolves once a whole window was at least `minIdle` idle, or at the
 * timeout; `true` when it was quiet.
 */
export async function waitQuiet(
  progress: (message: string) => void,
  options: Partial<QuietOptions> = {},
): Promise<boolean> {
  const { minIdle, windowMs, timeoutMs, read, sleep, now } = { ...DEFAULTS, ...options };
  const deadline = now() + timeoutMs;
  let before = read();
  while (true) {
    await sleep(windowMs);
    const after = read();
    const idle = idleShare(before, after);
    if (idle >= minIdle) return true;
    if (now() >= deadline) {
      progress(`the machine is still busy (${Math.round(idle * 100)} % idle); measuring anyway`);
      return false;
    }
    before = after;
  }
}
