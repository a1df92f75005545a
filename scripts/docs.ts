/**
 * `deno task docs`: writes each command's flag table (lib/cli/flag_tables.ts,
 * the tables the parser and `--help` use) into README.md, between the
 * markers `<!-- flags:<command> -->` and `<!-- /flags:<command> -->`, and the
 * kubeconfig compatibility table (lib/kube/kubeconfig_table.ts) between
 * `<!-- kubeconfig -->` and `<!-- /kubeconfig -->`, then formats it as
 * `deno fmt` would. scripts/docs_test.ts fails when README.md differs from
 * what this writes.
 *
 * Usage: deno task docs
 */
import { FLAG_TABLES } from "../lib/cli/flag_tables.ts";
import { flagMarkdown, type FlagTable } from "../lib/cli/flags.ts";
import { kubeconfigMarkdown } from "../lib/kube/kubeconfig_table.ts";

export const README = new URL("../README.md", import.meta.url);

/** `readme` with every table's block replaced by the table; throws when a block is missing. */
export function renderFlagBlocks(
  readme: string,
  tables: readonly FlagTable[] = FLAG_TABLES,
): string {
  let out = readme;
  for (const table of tables) {
    const start = `<!-- flags:${table.command} -->`;
    const end = `<!-- /flags:${table.command} -->`;
    const from = out.indexOf(start);
    const to = out.indexOf(end);
    if (from < 0 || to < from) {
      throw new Error(`README.md has no block ${start} … ${end} for the ${table.command} flags`);
    }
    out = `${out.slice(0, from + start.length)}\n\n${flagMarkdown(table)}\n\n${out.slice(to)}`;
  }
  return out;
}

/** `readme` with its kubeconfig block replaced by the compatibility table. */
export function renderKubeconfigBlock(readme: string, table = kubeconfigMarkdown()): string {
  const start = "<!-- kubeconfig -->";
  const end = "<!-- /kubeconfig -->";
  const from = readme.indexOf(start);
  const to = readme.indexOf(end);
  if (from < 0 || to < from) {
    throw new Error(`README.md has no block ${start} … ${end} for the kubeconfig table`);
  }
  return `${readme.slice(0, from + start.length)}\n\n${table}\n\n${readme.slice(to)}`;
}

/** Markdown formatted by `deno fmt`, so that the check and the formatter agree. */
export async function formatMarkdown(text: string): Promise<string> {
  const process = new Deno.Command(Deno.execPath(), {
    args: ["fmt", "--ext=md", "-"],
    cwd: new URL("..", import.meta.url).pathname,
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = process.stdin.getWriter();
  await writer.write(new TextEncoder().encode(text));
  await writer.close();
  const result = await process.output();
  if (!result.success) {
    throw new Error(`deno fmt failed: ${new TextDecoder().decode(result.stderr).trim()}`);
  }
  return new TextDecoder().decode(result.stdout);
}

/** README.md as `deno task docs` leaves it. */
export async function expectedReadme(readme: string): Promise<string> {
  return await formatMarkdown(renderKubeconfigBlock(renderFlagBlocks(readme)));
}

if (import.meta.main) {
  const readme = await Deno.readTextFile(README);
  const updated = await expectedReadme(readme);
  if (updated === readme) console.log("README.md's tables are up to date");
  else {
    await Deno.writeTextFile(README, updated);
    console.log("Updated README.md's tables");
  }
}
