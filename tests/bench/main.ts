/**
 * `deno task bench`: veryfreshpod measured against the real test environment
 * (a private dockerd and Kubernetes control plane, as the end-to-end tests
 * start them), each figure beside its target and the floor measured in the
 * same run. Prints a Markdown table, or JSON with `--json`; `--quick` runs
 * small sizes to prove that every scenario works (`deno task test` does).
 *
 * Exits 1 when a scenario could not be measured; a missed target is a
 * result, not a failure.
 */
import { parseArgs } from "node:util";
import { cliRows } from "./cli_scenario.ts";
import { BenchCluster } from "./cluster.ts";
import type { BenchContext, BenchStore } from "./context.ts";
import { docker, dockerClassic, engineSet } from "../env/mod.ts";
import { BenchEngine } from "./engine.ts";
import { fleetRows } from "./fleet_scenario.ts";
import { nodeRows } from "./node_scenario.ts";
import { bridgeRows } from "./bridge_scenario.ts";
import { registryRows } from "./registry_scenario.ts";
import { containersRows } from "./containers_scenario.ts";
import { reactionRows } from "./reaction_scenario.ts";
import { soakRows } from "./soak_scenario.ts";
import { checkSizes, FULL, plannedRowIds, QUICK } from "./sizes.ts";
import { formatConditions, formatJson, formatTable, type Report, type Row } from "./table.ts";

const SCENARIOS = {
  cli: cliRows,
  reaction: reactionRows,
  fleet: fleetRows,
  node: nodeRows,
  bridge: bridgeRows,
  registry: registryRows,
  containers: containersRows,
  soak: soakRows,
};
type ScenarioName = keyof typeof SCENARIOS;

const USAGE = `Usage: deno task bench [--quick] [--json] [--only SCENARIO]

  --quick          small sizes (fan-outs of 10 and 100, 10 samples): proves the bench works
  --json           print the report as JSON instead of a Markdown table
  --only SCENARIO  run one scenario (repeatable): ${Object.keys(SCENARIOS).join(", ")}`;

async function main(args: string[]): Promise<number> {
  let flags;
  try {
    flags = parseArgs({
      args,
      options: {
        quick: { type: "boolean" },
        json: { type: "boolean" },
        only: { type: "string", multiple: true },
        help: { type: "boolean", short: "h" },
      },
    }).values;
  } catch (error) {
    console.error(`error: ${error instanceof Error ? error.message : error}\n${USAGE}`);
    return 2;
  }
  if (flags.help) {
    console.log(USAGE);
    return 0;
  }
  const unknown = (flags.only ?? []).filter((name) => !(name in SCENARIOS));
  if (unknown.length > 0) {
    console.error(`error: no scenario ${unknown.join(", ")}\n${USAGE}`);
    return 2;
  }
  const chosen = (flags.only ?? Object.keys(SCENARIOS)) as ScenarioName[];
  const sizes = flags.quick ? QUICK : FULL;
  checkSizes(sizes);
  const began = performance.now();
  const startedAt = new Date().toISOString();
  const loadAtStart = loadAverage();
  const progress = (message: string) => {
    const seconds = ((performance.now() - began) / 1000).toFixed(0).padStart(4);
    console.error(`bench ${seconds}s: ${message}`);
  };

  progress("tests/env/prepare.ts: installing and building what the test environment needs");
  await prepare();
  progress("starting the test environment (dockerd, etcd, kube-apiserver, controller-manager)");
  const [cluster, engine] = await Promise.all([BenchCluster.connect(), BenchEngine.connect()]);
  const images = await engine.twoImages("bench-source");
  // Today's engines: the default dockerd has the containerd image store, a second one the classic.
  const stores: BenchStore[] = [{ store: (await docker()).store, engine, images }];
  if (engineSet() === "today") {
    progress("starting the classic-store dockerd");
    const classic = await BenchEngine.connect(dockerClassic());
    stores.push({
      store: "classic",
      engine: classic,
      images: await classic.twoImages("bench-source"),
    });
  }
  const context: BenchContext = { sizes, cluster, engine, images, stores, progress };
  const otherStores = stores.slice(1).map((s) => s.store);

  const rows: Row[] = [];
  const failures: string[] = [];
  for (const scenario of chosen.map((name) => SCENARIOS[name])) {
    try {
      rows.push(...await scenario(context));
    } catch (error) {
      const message = error instanceof Error ? error.stack ?? error.message : String(error);
      failures.push(message);
      progress(`${scenario.name} failed: ${message}`);
    }
  }
  cluster.close();
  for (const store of stores) store.engine.close();

  // Every planned row, in order; what a failed scenario left out says so.
  const byId = new Map(rows.map((row) => [row.id, row]));
  const planned = flags.only === undefined
    ? plannedRowIds(sizes, otherStores)
    : plannedRowIds(sizes, otherStores).filter((id) => byId.has(id));
  const ordered = planned.map((id): Row =>
    byId.get(id) ?? {
      id,
      figure: id,
      measured: `not measured: ${failures[0]?.split("\n")[0] ?? "no scenario produced it"}`,
      target: "",
      verdict: "not measured",
      values: {},
    }
  );
  const report: Report = {
    mode: sizes.mode,
    startedAt,
    seconds: Math.round((performance.now() - began) / 1000),
    machine: {
      cpus: navigator.hardwareConcurrency,
      deno: Deno.version.deno,
      load: [loadAtStart, loadAverage()],
    },
    rows: ordered,
  };
  progress("done");
  console.log(
    flags.json ? formatJson(report) : `${formatTable(ordered)}\n\n${formatConditions(report)}`,
  );
  return failures.length > 0 ? 1 : 0;
}

/** The 1-minute load average. */
function loadAverage(): number {
  return Deno.loadavg()[0] ?? NaN;
}

/** Runs tests/env/prepare.ts (quick once done), its output on stderr: stdout is the report's. */
async function prepare(): Promise<void> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", new URL("../env/prepare.ts", import.meta.url).pathname],
    stdin: "null",
    stdout: "piped",
    stderr: "inherit",
  }).output();
  await Deno.stderr.write(output.stdout);
  if (!output.success) throw new Error(`tests/env/prepare.ts failed (${output.code})`);
}

if (import.meta.main) {
  const code = await main(Deno.args).catch((error) => {
    console.error(`error: ${error instanceof Error ? error.message : error}`);
    return 1;
  });
  Deno.exit(code);
}
