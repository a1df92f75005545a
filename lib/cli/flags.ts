/**
 * Flag parsing shared by every subcommand, on top of node:util parseArgs
 * (JSR's @std/cli is not reachable from this project's registries). Turns
 * parseArgs' exceptions into a UserError with exit code 2 and the command's
 * usage line, the way kubectl answers a bad flag.
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { ExitCode, UserError } from "../errors.ts";
import type { OperatingSystem } from "../engine/docker_host.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "../log.ts";

/** A subcommand: its help text and what it does. */
export interface Command {
  readonly name: string;
  /** Full help, printed by `--help`. */
  readonly help: string;
  /** Runs it; resolves to the exit code. */
  run(args: string[], context: CommandContext): Promise<number>;
}

/** What a command may touch besides its arguments: injected so tests can replace it. */
export interface CommandContext {
  readonly env: (name: string) => string | undefined;
  /** Standard output (for data a user pipes, like a manifest). */
  readonly stdout: (text: string) => void;
  /** Aborted on SIGINT/SIGTERM. */
  readonly signal: AbortSignal;
  /** The OS veryfreshpod runs on (`Deno.build.os`): default sockets and install differ by it. */
  readonly os: OperatingSystem;
}

export type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** Parses `args` against `options`; a bad flag becomes a usage error naming the command. */
export function parseFlags(
  command: string,
  args: string[],
  options: ParseArgsOptionsConfig,
): FlagValues {
  try {
    const { values, positionals } = parseArgs({
      args,
      options: { help: { type: "boolean", short: "h" }, ...options },
      strict: true,
      allowPositionals: true,
    });
    if (positionals.length > 0 && !values.help) {
      throw usageError(command, `unexpected argument "${positionals[0]}"`);
    }
    return values;
  } catch (error) {
    if (error instanceof UserError) throw error;
    // parseArgs throws TypeErrors with messages like "Unknown option '--x'".
    const detail = error instanceof Error ? error.message.replace(/\. To specify.*$/s, "") : "";
    throw usageError(command, detail.charAt(0).toLowerCase() + detail.slice(1));
  }
}

/** A usage error: exit code 2, pointing at the command's `--help` (the program's without one). */
export function usageError(command: string | undefined, detail: string): UserError {
  const help = command === undefined ? "veryfreshpod --help" : `veryfreshpod ${command} --help`;
  return new UserError(`${detail}\nRun "${help}" for usage.`, ExitCode.usage);
}

/** The string value of a flag, or undefined. */
export function stringFlag(values: FlagValues, name: string): string | undefined {
  const value = values[name];
  return typeof value === "string" ? value : undefined;
}

/** Every value of a repeatable flag; also splits comma-separated lists like kubectl. */
export function listFlag(values: FlagValues, name: string): string[] {
  const value = values[name];
  const items = Array.isArray(value) ? value : value === undefined ? [] : [value];
  return items.flatMap((item) => String(item).split(",")).map((s) => s.trim()).filter((s) => s);
}

/** A flag whose value must be one of `choices`. */
export function choiceFlag<T extends string>(
  command: string,
  values: FlagValues,
  name: string,
  choices: readonly T[],
  fallback: T,
): T {
  const value = stringFlag(values, name);
  if (value === undefined) return fallback;
  if ((choices as readonly string[]).includes(value)) return value as T;
  throw usageError(
    command,
    `invalid value "${value}" for --${name}: must be one of ${choices.join(", ")}`,
  );
}

/** Options every long-running or cluster-facing command shares. */
export const LOGGING_OPTIONS = {
  "log-level": { type: "string" },
  "log-format": { type: "string" },
} as const satisfies ParseArgsOptionsConfig;

export const LOGGING_HELP = `  --log-level LEVEL       debug, info, warning or error (default info)
  --log-format FORMAT     text or json (default text)`;

/** Reads --log-level and --log-format. */
export function loggingFlags(
  command: string,
  values: FlagValues,
): { level: LogLevel; format: LogFormat } {
  return {
    level: choiceFlag(command, values, "log-level", LOG_LEVELS, "info"),
    format: choiceFlag(command, values, "log-format", LOG_FORMATS, "text"),
  };
}

export const KUBE_OPTIONS = {
  kubeconfig: { type: "string" },
  context: { type: "string" },
} as const satisfies ParseArgsOptionsConfig;

/** `--kubeconfig` and `--context`, as loadKubeConfig takes them. */
export function kubeFlags(
  values: FlagValues,
): { kubeconfig: string | undefined; context: string | undefined } {
  return { kubeconfig: stringFlag(values, "kubeconfig"), context: stringFlag(values, "context") };
}

export const KUBE_HELP =
  `  --kubeconfig PATH       kubeconfig file (default: $KUBECONFIG, ~/.kube/config, in-cluster)
  --context NAME          kubeconfig context to use (default: the current context)`;
