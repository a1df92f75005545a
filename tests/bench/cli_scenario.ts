/** `veryfreshpod version` and `--help`: spawn to exit, beside a bare Deno program. */
import type { BenchContext } from "./context.ts";
import { timeBareDeno, timeCommand } from "./program.ts";
import { summarize } from "./stats.ts";
import { formatMs, type Row, verdictOf } from "./table.ts";

const LIMIT_MS = 100;

async function series(runs: number, once: () => Promise<number>): Promise<number[]> {
  await once(); // warm the module cache: a first run after an edit transpiles
  const samples: number[] = [];
  for (let i = 0; i < runs; i++) samples.push(await once());
  return samples;
}

export async function cliRows(context: BenchContext): Promise<Row[]> {
  const runs = context.sizes.cliRuns;
  context.progress(`timing version and --help, ${runs} runs each`);
  const bare = summarize(await series(runs, timeBareDeno));
  const row = (id: string, figure: string, samples: number[]): Row => {
    const summary = summarize(samples);
    return {
      id,
      figure,
      measured: `p50 ${formatMs(summary.p50)} (min ${formatMs(summary.min)}, ${runs} runs)`,
      target: `≤ ${LIMIT_MS} ms`,
      verdict: verdictOf(summary.p50 <= LIMIT_MS),
      values: { p50Ms: summary.p50, minMs: summary.min, maxMs: summary.max, runs },
    };
  };
  return [
    {
      id: "cli.bare",
      figure: "floor: a bare Deno program printing a version, spawn to exit",
      measured: `p50 ${formatMs(bare.p50)} (min ${formatMs(bare.min)}, ${runs} runs)`,
      target: "",
      verdict: "no target",
      values: { p50Ms: bare.p50, minMs: bare.min, maxMs: bare.max, runs },
    },
    row(
      "cli.version",
      "`veryfreshpod version`, spawn to exit",
      await series(runs, () => timeCommand(["version"])),
    ),
    row(
      "cli.help",
      "`veryfreshpod --help`, spawn to exit",
      await series(runs, () => timeCommand(["--help"])),
    ),
  ];
}
