/**
 * `deno task compile`: builds the single veryfreshpod executable for Linux
 * (x86_64, aarch64: the nodes) and macOS (x86_64, aarch64: `run` from a Mac
 * against Docker Desktop) into dist/, with the manifest and the version
 * embedded (`veryfreshpod version` prints it).
 *
 * The version is deno.json's, or the release tag's with `--version v1.2.3`
 * (the release workflow passes its tag): the sources are then compiled from a
 * staged copy whose deno.json says that version, so the checkout is never
 * changed.
 *
 * `deno compile` downloads its runtime stub (denort) for each target from
 * dl.deno.land. Where that host cannot be reached, this script stops with
 * one line saying so; DENORT_BIN may name a denort binary of the same Deno
 * version to use instead (for the host's own target). Tests never depend on
 * the compiled executable: they run main.ts from source.
 *
 * Usage: deno task compile [--version VERSION] [--target TRIPLE]... [--out-dir DIR]
 */
import { parseArgs } from "node:util";

/** Every target a release carries, in the order the release lists them. */
export const TARGETS = [
  "x86_64-unknown-linux-gnu",
  "aarch64-unknown-linux-gnu",
  "x86_64-apple-darwin",
  "aarch64-apple-darwin",
] as const;
const root = new URL("..", import.meta.url).pathname;
/** What main.ts needs at build time: its imports, the embedded manifest, config and lock. */
const SOURCES = ["main.ts", "deno.json", "deno.lock", "lib", "manifest"];

export class CompileError extends Error {}

/**
 * The version to embed: `requested` (a release tag, `v` optional) when given,
 * else deno.json's. Only plain semantic versions are accepted, because the
 * version names the release, its files and the installer's image tag.
 */
export function releaseVersion(requested: string | undefined, configVersion: unknown): string {
  const version = requested?.replace(/^v/, "") ?? configVersion;
  if (typeof version !== "string" || !/^\d+\.\d+\.\d+(?:-[0-9A-Za-z.-]+)?$/.test(version)) {
    const origin = requested === undefined ? "deno.json's version" : "--version";
    throw new CompileError(
      `invalid ${origin} "${requested ?? String(version)}": use a version like 1.2.3 or v1.2.3`,
    );
  }
  return version;
}

/**
 * Copies what the build needs into `dir`, with deno.json's version set to
 * `version`; returns the staged main.ts.
 */
export async function stageSources(version: string, dir: string): Promise<string> {
  for (const name of SOURCES) {
    await copy(`${root}${name}`, `${dir}/${name}`);
  }
  const config = JSON.parse(await Deno.readTextFile(`${dir}/deno.json`));
  await Deno.writeTextFile(`${dir}/deno.json`, JSON.stringify({ ...config, version }, null, 2));
  return `${dir}/main.ts`;
}

async function copy(from: string, to: string): Promise<void> {
  const info = await Deno.stat(from);
  if (!info.isDirectory) return await Deno.copyFile(from, to);
  await Deno.mkdir(to, { recursive: true });
  for await (const entry of Deno.readDir(from)) {
    await copy(`${from}/${entry.name}`, `${to}/${entry.name}`);
  }
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

/**
 * The V8 flags of the release binary. V8 sees neither the container's memory
 * limit nor how little the program keeps: the old space is capped well below
 * the manifest's 256Mi, so garbage is collected instead of the pod being
 * killed; the young generation is capped at 1 MiB a semi-space (V8's default
 * grows it to 16), which held a 5-minute soak of a new tag every 2 s to ~80
 * MiB resident instead of 150 (docs/decisions.md).
 */
export const RELEASE_V8_FLAGS = "--max-old-space-size=160,--max-semi-space-size=1";

async function compile(entry: string, target: string, output: string): Promise<void> {
  const result = await new Deno.Command(Deno.execPath(), {
    args: [
      ...["compile", "--allow-all", "--target", target, "--output", output],
      `--v8-flags=${RELEASE_V8_FLAGS}`,
      entry,
    ],
    cwd: entry.slice(0, entry.lastIndexOf("/")),
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
    options: {
      version: { type: "string" },
      target: { type: "string", multiple: true },
      "out-dir": { type: "string" },
    },
  });
  const targets = values.target ?? [...TARGETS];
  for (const target of targets) {
    if (!(TARGETS as readonly string[]).includes(target)) {
      throw new CompileError(`unknown target "${target}": use one of ${TARGETS.join(", ")}`);
    }
  }
  const config = JSON.parse(await Deno.readTextFile(`${root}deno.json`)) as { version?: unknown };
  const version = releaseVersion(values.version, config.version);
  await Deno.mkdir(values["out-dir"] ?? `${root}dist`, { recursive: true });
  // deno compile runs in the staged copy: a relative --out-dir must not follow it there.
  const outDir = await Deno.realPath(values["out-dir"] ?? `${root}dist`);
  const stage = await Deno.makeTempDir({ prefix: "veryfreshpod-compile-" });
  try {
    const entry = await stageSources(version, stage);
    for (const target of targets) {
      const output = `${outDir}/veryfreshpod-${version}-${target}`;
      await compile(entry, target, output);
      if (target === Deno.build.target) await checkVersion(output, version);
      console.log(`Built ${output}`);
    }
  } finally {
    await Deno.remove(stage, { recursive: true });
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
