/**
 * `deno task compile`: builds the single veryfreshpod executable for Linux
 * x86_64 and aarch64 into dist/, with the manifest and the version embedded
 * (`veryfreshpod version` prints it).
 *
 * `deno compile` downloads its runtime stub (denort) for each target from
 * dl.deno.land. Where that host cannot be reached, this script stops with
 * one line saying so; DENORT_BIN may name a denort binary of the same Deno
 * version to use instead (for the host's own target). Tests never depend on
 * the compiled executable: they run main.ts from source.
 *
 * Usage: deno task compile [--target TRIPLE]... [--out-dir DIR]
 */
import { parseArgs } from "node:util";
import { VERSION } from "../lib/version.ts";

const TARGETS = ["x86_64-unknown-linux-gnu", "aarch64-unknown-linux-gnu"] as const;
const root = new URL("..", import.meta.url).pathname;

class CompileError extends Error {}

function readVersion(): string {
  const config = JSON.parse(Deno.readTextFileSync(`${root}deno.json`)) as { version?: unknown };
  if (config.version !== VERSION) {
    throw new CompileError(
      `deno.json says version ${config.version} but lib/version.ts says ${VERSION}; make them equal`,
    );
  }
  return VERSION;
}

/** One line for a failed `deno compile`, from its error output. */
export function explainCompileFailure(target: string, stderr: string): string {
  // deno colours its output; the cause chain follows "Caused by:".
  // deno-lint-ignore no-control-regex
  const text = stderr.replace(/\x1b\[[0-9;]*m/g, "");
  const url = text.match(/https:\/\/dl\.deno\.land\/\S+?\.zip/)?.[0];
  if (url !== undefined || /denort/i.test(text) && /error sending request|dns error/i.test(text)) {
    return `deno compile could not download its runtime stub for ${target}` +
      `${url ? ` (${url})` : ""}: this machine cannot reach dl.deno.land; run ` +
      "`deno task compile` where it can, or set DENORT_BIN to a denort binary of Deno " +
      `${Deno.version.deno} for this target`;
  }
  const notFound = text.match(/Could not find denort at '([^']+)'/);
  if (notFound) return `DENORT_BIN names "${notFound[1]}", which does not exist; fix or unset it`;
  const lines = text.split("\n").map((line) => line.trim()).filter((line) => line !== "");
  const cause = lines.find((line) => /^error:/.test(line)) ?? lines.at(-1) ?? "no output";
  return `deno compile failed for ${target}: ${cause.replace(/^error:\s*/, "")}`;
}

async function compile(target: string, output: string): Promise<void> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      ...["compile", "--allow-all", "--target", target, "--output", output],
      // V8 does not see the container's memory limit: cap the heap well below the manifest's
      // 384Mi, so that garbage is collected instead of the pod being killed.
      "--v8-flags=--max-old-space-size=192",
      `${root}main.ts`,
    ],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!result.success) {
    throw new CompileError(explainCompileFailure(target, new TextDecoder().decode(result.stderr)));
  }
}

/** Runs a binary built for this host and checks that it reports the version. */
async function checkVersion(output: string, version: string): Promise<void> {
  const result = await new Deno.Command(output, { args: ["version"], stdout: "piped" }).output();
  const text = new TextDecoder().decode(result.stdout).trim();
  if (text !== `veryfreshpod ${version}`) {
    throw new CompileError(
      `${output} version printed "${text}", expected "veryfreshpod ${version}"`,
    );
  }
}

async function main(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { target: { type: "string", multiple: true }, "out-dir": { type: "string" } },
  });
  const targets = values.target ?? [...TARGETS];
  for (const target of targets) {
    if (!(TARGETS as readonly string[]).includes(target)) {
      throw new CompileError(`unknown target "${target}": use ${TARGETS.join(" or ")}`);
    }
  }
  const version = readVersion();
  const outDir = values["out-dir"] ?? `${root}dist`;
  await Deno.mkdir(outDir, { recursive: true });
  for (const target of targets) {
    const output = `${outDir}/veryfreshpod-${version}-${target}`;
    await compile(target, output);
    if (target === Deno.build.target) await checkVersion(output, version);
    console.log(`Built ${output}`);
  }
  return 0;
}

if (import.meta.main) {
  try {
    Deno.exit(await main(Deno.args));
  } catch (error) {
    if (!(error instanceof CompileError)) throw error;
    console.error(`error: ${error.message}`);
    Deno.exit(1);
  }
}
