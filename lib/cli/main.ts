/**
 * The command line: picks the subcommand, runs it, and turns what it throws
 * into one line on stderr and an exit code. The only place besides main.ts
 * that knows about exit codes; nothing in lib/ calls Deno.exit.
 */
import { causeChain, ExitCode, UserError } from "../errors.ts";
import { type Command, type CommandContext, usageError } from "./flags.ts";
import { installCommand } from "./install.ts";
import { manifestCommand } from "./manifest.ts";
import { runCommand } from "./run.ts";
import { uninstallCommand } from "./uninstall.ts";
import { versionCommand } from "./version.ts";

const COMMANDS: readonly Command[] = [
  runCommand,
  installCommand,
  uninstallCommand,
  manifestCommand,
  versionCommand,
];

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
  /** Adds the cause chain to error lines (set when --log-level debug is given). */
  readonly verbose?: boolean;
}

/** Runs the command line `args`; resolves to the process exit code. */
export async function main(args: string[], io: CliIo): Promise<number> {
  const [first, ...rest] = args;
  try {
    if (first === "help" || first === "--help" || first === "-h") {
      io.stdout(overview() + "\n");
      return ExitCode.ok;
    }
    if (first === "--version") return await versionCommand.run([], io);
    const command = first === undefined || first.startsWith("-")
      ? runCommand
      : COMMANDS.find((c) => c.name === first);
    if (!command) {
      throw usageError("help", `unknown command "${first}"`);
    }
    return await command.run(command === runCommand && first !== "run" ? args : rest, io);
  } catch (error) {
    return report(error, io, args.includes("debug") || args.includes("--log-level=debug"));
  }
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
