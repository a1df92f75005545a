/**
 * How big each scenario is: the full run (the sizes the targets name) and a
 * quick one that `deno task test` runs to prove the benchmark works.
 */
import { formatCount } from "./table.ts";

export interface Sizes {
  readonly mode: "full" | "quick";
  /** Runs of `version` and `--help` each. */
  readonly cliRuns: number;
  /** Reaction samples, and as many for the floor. */
  readonly samples: number;
  /** Fan-out sizes, ascending; the largest is also the middle start-to-ready size. */
  readonly fanouts: readonly number[];
  /**
   * How many times the largest fan-out is measured on each store, each time
   * with its floor right after it: the verdict is on the median ratio.
   */
  readonly fanoutPairs: number;
  /** How long a fan-out or a floor waits at most for a quiet machine (quiet.ts). */
  readonly quietSeconds: number;
  /** Start to ready with 0, with the largest fan-out, and with the most workloads. */
  readonly tracked: readonly [0, number, number];
  /** The fan-out whose API requests are counted. */
  readonly requestsFanout: number;
  /** How long "at rest" is watched for requests. */
  readonly restSeconds: number;
  /** Quiet time after ready before idle memory is read. */
  readonly settleSeconds: number;
  /** Rollouts on the real node, each way. */
  readonly nodeSamples: number;
  /** The size of the image the bridge rows rebuild, in MiB. */
  readonly bridgeImageMiB: number;
  /** The memory soak: how long a new tag comes every 2 s, for how many Deployments. */
  readonly soakSeconds: number;
  readonly soakWorkloads: number;
}

export const FULL: Sizes = {
  mode: "full",
  cliRuns: 10,
  samples: 100,
  fanouts: [10, 100, 1_000],
  fanoutPairs: 3,
  quietSeconds: 120,
  tracked: [0, 1_000, 10_000],
  requestsFanout: 100,
  restSeconds: 10,
  settleSeconds: 3,
  nodeSamples: 5,
  bridgeImageMiB: 300,
  soakSeconds: 300,
  soakWorkloads: 20,
};

export const QUICK: Sizes = {
  mode: "quick",
  cliRuns: 3,
  samples: 10,
  fanouts: [10, 100],
  fanoutPairs: 1,
  quietSeconds: 10,
  tracked: [0, 100, 200],
  requestsFanout: 10,
  restSeconds: 2,
  settleSeconds: 1,
  nodeSamples: 2,
  bridgeImageMiB: 16,
  soakSeconds: 20,
  soakWorkloads: 20,
};

/** The largest fan-out. */
export function largestFanout(sizes: Sizes): number {
  return sizes.fanouts[sizes.fanouts.length - 1]!;
}

/** Checks that the sizes fit together (the scenarios reuse workloads across rows). */
export function checkSizes(sizes: Sizes): void {
  const sum = sizes.fanouts.reduce((a, b) => a + b, 0);
  if (sizes.tracked[1] !== largestFanout(sizes)) {
    throw new RangeError("the middle start-to-ready size must be the largest fan-out");
  }
  if (sizes.tracked[2] < sum) {
    throw new RangeError("the largest start-to-ready size must hold every fan-out");
  }
  if (!sizes.fanouts.includes(sizes.requestsFanout)) {
    throw new RangeError("requests are counted on one of the fan-outs");
  }
}

/**
 * The ids of every row a run of these sizes prints, in order. `otherStores`
 * are the image stores measured beside the default one (`classic` with
 * today's engines), each with its reaction and its largest fan-out.
 */
export function plannedRowIds(sizes: Sizes, otherStores: readonly string[] = []): string[] {
  return [
    "cli.bare",
    "cli.version",
    "cli.help",
    "reaction.floor",
    "reaction",
    ...otherStores.flatMap((store) => [`reaction.${store}.floor`, `reaction.${store}`]),
    ...sizes.fanouts.map((n) => `fanout.${n}`),
    ...otherStores.map((store) => `fanout.${store}.${largestFanout(sizes)}`),
    "fanout.floor",
    ...sizes.tracked.map((n) => `ready.${n}`),
    "memory.idle",
    "memory.soak",
    "memory.peak",
    "requests.update",
    "requests.rest",
    "node.floor",
    "node.fresh",
    "node.rollout",
    "bridge.floor",
    "bridge.copy",
    "bridge.save",
    "bridge.rollout",
    "bridge.bytes",
    "registry.floor",
    "registry.rollout",
    "registry.bytes",
    "containers.floor",
    "containers.copy",
    "containers.bytes",
  ];
}

/** `1,000 workloads`. */
export function workloads(count: number): string {
  return `${formatCount(count)} workload${count === 1 ? "" : "s"}`;
}
