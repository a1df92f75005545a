/**
 * The command line: picks the subcommand, runs it, and turns what it throws
 * into one line on stderr and an exit code. The only place besides main.ts
 * that knows about exit codes; nothing in lib/ calls Deno.exit.
 *
 * Each command's module is imported only when that command runs: the
 * Kubernetes client and gRPC cost about 0.3 s and 90 MiB to load, which
 * `version` and `--help` must not pay.
 */
import { causeChain, ExitCode, UserError } from "../util/errors.ts";
import { type Command, type CommandContext, usageError } from "./flags.ts";

/** A command as the overview lists it, and how to load it. */
interface CommandEntry {
  readonly name: string;
  readonly summary: string;
  readonly load: () => Promise<Command>;
}

const COMMANDS: readonly CommandEntry[] = [
  {
    name: "run",
    summary: "watch the engine and update workloads (the default)",
    load: async () => (await import("./run.ts")).runCommand,
  },
  {
    name: "status",
    summary: "show what veryfreshpod changed and how each rollout went",
    load: async () => (await import("./status.ts")).statusCommand,
  },
  {
    name: "restore",
    summary: "put workloads back on the images they had before veryfreshpod",
    load: async () => (await import("./restore.ts")).restoreCommand,
  },
  {
    name: "install",
    summary: "deploy veryfreshpod into the cluster",
    load: async () => (await import("./install.ts")).installCommand,
  },
  {
    name: "uninstall",
    summary: "remove veryfreshpod from the cluster",
    load: async () => (await import("./uninstall.ts")).uninstallCommand,
  },
  {
    name: "manifest",
    summary: "print the install manifest, for kubectl apply -f -",
    load: async () => (await import("./manifest.ts")).manifestCommand,
  },
  {
    name: "version",
    summary: "print the version",
    load: async () => (await import("./version.ts")).versionCommand,
  },
];

const RUN = COMMANDS[0]!;
const VERSION = COMMANDS.find((c) => c.name === "version")!;

function overview(): string {
  const width = Math.max(...COMMANDS.map((c) => c.name.length));
  const lines = COMMANDS.map((c) => `  ${c.name.padEnd(width)}  ${c.summary}`);
  return `veryfreshpod: a new image on the node redeploys every workload that runs it.

Usage: veryfreshpod [command] [flags]

Commands:
${lines.join("\n")}

"veryfreshpod" alone is "veryfreshpod run". Run "veryfreshpod <command> --help" for its flags.`;
}

/** Where errors go; injectable so tests can read them. */
export interface CliIo extends CommandContext {
  readonly stderr: (text: string) => void;
}

/** Runs the command line `args`; resolves to the process exit code. */
export async function main(args: string[], io: CliIo): Promise<number> {
  const [first, ...rest] = args;
  try {
    if (first === "help" || first === "--help" || first === "-h") {
      io.stdout(overview() + "\n");
      return ExitCode.ok;
    }
    if (first === "--version") return await (await VERSION.load()).run([], io);
    const entry = first === undefined || first.startsWith("-")
      ? RUN
      : COMMANDS.find((c) => c.name === first);
    if (!entry) {
      const names = COMMANDS.map((c) => c.name).join(", ");
      throw usageError(undefined, `unknown command "${first}"; the commands are ${names}`);
    }
    const command = await entry.load();
    return await command.run(entry === RUN && first !== "run" ? args : rest, io);
  } catch (error) {
    return report(error, io, wantsDebug(args));
  }
}

/**
 * True when the arguments ask for debug logging (`--log-level debug` or
 * `--log-level=debug`), which adds causes and stack traces to errors. Only
 * the flag's own value counts: `-n debug` names a namespace.
 */
export function wantsDebug(args: readonly string[]): boolean {
  for (const [i, arg] of args.entries()) {
    if (arg === "--") return false;
    if (arg === "--log-level=debug") return true;
    if (arg === "--log-level" && args[i + 1] === "debug") return true;
  }
  return false;
}

function report(error: unknown, io: CliIo, verbose: boolean): number {
  if (error instanceof UserError) {
    io.stderr(`error: ${error.message}\n`);
    if (verbose) { for (const cause of causeChain(error)) io.stderr(`  caused by: ${cause}\n`); }
    return error.exitCode;
  }
  // Not a fault the user can fix: say so, with the detail needed for a bug report.
  const detail = error instanceof Error ? (verbose ? error.stack : error.message) : String(error);
  io.stderr(`error: internal error: ${detail}\nPlease report this as a bug.\n`);
  return ExitCode.internal;
}
