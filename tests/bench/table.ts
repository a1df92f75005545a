/**
 * The benchmark's result rows and how they are printed: a Markdown table whose
 * columns line up (as `deno fmt` lays out the README's), or JSON.
 */

/** How a figure compares with its target. */
export type Verdict = "met" | "missed" | "no target" | "not measured";

/** One line of the table. */
export interface Row {
  /** Stable key for scripts and tests, e.g. `fanout.1000`. */
  readonly id: string;
  /** What is measured, in words. */
  readonly figure: string;
  /** The measurement, in words and units. */
  readonly measured: string;
  /** The target, in words; empty when the figure has none. */
  readonly target: string;
  readonly verdict: Verdict;
  /** The raw numbers behind `measured` (milliseconds, MiB, counts), for JSON. */
  readonly values: Readonly<Record<string, number>>;
}

/** "met" when every check holds, else "missed"; "no target" without checks. */
export function verdictOf(...checks: boolean[]): Verdict {
  if (checks.length === 0) return "no target";
  return checks.every(Boolean) ? "met" : "missed";
}

/** Milliseconds in words: `0.8 ms`, `12 ms`, `1.43 s`. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms >= 1000) return `${(ms / 1000).toFixed(2)} s`;
  if (ms >= 10) return `${Math.round(ms)} ms`;
  return `${ms.toFixed(1)} ms`;
}

/** MiB in words: `134 MiB`. */
export function formatMiB(mib: number): string {
  return `${Math.round(mib)} MiB`;
}

/** A count with thousands separators: `10,000`. */
export function formatCount(count: number): string {
  return count.toLocaleString("en-US");
}

const HEADERS = ["figure", "measured", "target", "verdict"] as const;

function cell(text: string): string {
  // A pipe would end the cell; a newline would end the row.
  return text.replaceAll("|", "\\|").replaceAll("\n", " ");
}

/** The rows as a Markdown table with aligned columns. */
export function formatTable(rows: readonly Row[]): string {
  const lines = rows.map((row) =>
    [row.figure, row.measured, row.target || "—", row.verdict].map(cell)
  );
  const widths = HEADERS.map((header, column) =>
    Math.max(header.length, 3, ...lines.map((line) => line[column]!.length))
  );
  const format = (cells: readonly string[]) =>
    `| ${cells.map((text, column) => text.padEnd(widths[column]!)).join(" | ")} |`;
  return [
    format(HEADERS),
    `| ${widths.map((width) => "-".repeat(width)).join(" | ")} |`,
    ...lines.map(format),
  ].join("\n");
}

/** What `--json` prints. */
export interface Report {
  readonly mode: "full" | "quick";
  readonly startedAt: string;
  readonly seconds: number;
  readonly machine: {
    readonly cpus: number;
    readonly deno: string;
    /** The 1-minute load average at start and at the end: other work on the machine skews. */
    readonly load: readonly [number, number];
  };
  readonly rows: readonly Row[];
}

/** One line under the table: the conditions of the run. */
export function formatConditions(report: Report): string {
  const { cpus, deno, load } = report.machine;
  return `${report.mode} run, ${report.seconds} s; ${cpus} CPUs, load average ` +
    `${load[0].toFixed(1)} at start, ${load[1].toFixed(1)} at the end; deno ${deno}`;
}

/** The report as indented JSON. */
export function formatJson(report: Report): string {
  return JSON.stringify(report, null, 2);
}
