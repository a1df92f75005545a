/**
 * Flag parsing shared by every subcommand, on top of node:util parseArgs
 * (JSR's @std/cli is not reachable from this project's registries). Each
 * command's flags are one table (flag_tables.ts) that drives the parser, the
 * `--help` text and the README's flag tables (`deno task docs`). A command
 * whose table allows it also takes its flags from `VERYFRESHPOD_*`
 * environment variables; a flag on the command line wins. Bad flags become a
 * UserError with exit code 2 naming the flag or variable, the way kubectl
 * answers a bad flag.
 */
import { parseArgs, type ParseArgsOptionsConfig } from "node:util";
import { ExitCode, UserError } from "../util/errors.ts";
import type { OperatingSystem } from "../engine/docker_host.ts";
import { LOG_FORMATS, LOG_LEVELS, type LogFormat, type LogLevel } from "../util/log.ts";

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

/** One flag of a command: what the parser, `--help` and the README know about it. */
export interface FlagSpec {
  /** The long name, without `--`. */
  readonly name: string;
  readonly short?: string;
  /** `list`: repeatable, and comma-separated values split like kubectl's. */
  readonly type: "string" | "list" | "boolean";
  /** The value's name in help, e.g. `PATH`. */
  readonly value?: string;
  /** What applies without the flag, in words; omitted when that is nothing. */
  readonly default?: string;
  /** What it does, in one or two short sentences without a final period. */
  readonly help: string;
}

/** A command's flags. */
export interface FlagTable {
  readonly command: string;
  readonly flags: readonly FlagSpec[];
  /** Whether `VERYFRESHPOD_<FLAG>` variables may give them (run's, for the in-cluster Deployment). */
  readonly env?: boolean;
  /** The arguments besides flags, as the usage line shows them (`[KIND/NAME ...]`); none when absent. */
  readonly arguments?: string;
}

/** The environment variable that gives `--flag`: `VERYFRESHPOD_RESYNC_PERIOD`. */
export function envName(flag: string): string {
  return `VERYFRESHPOD_${flag.toUpperCase().replaceAll("-", "_")}`;
}

export type FlagValues = Record<string, string | boolean | (string | boolean)[] | undefined>;

/** Where each value came from, for messages: `--flag`, or the variable's name. */
const origins = new WeakMap<FlagValues, Map<string, string>>();
/** The arguments besides flags, for tables that take them. */
const positionals = new WeakMap<FlagValues, string[]>();

/** The arguments given besides flags (only tables with `arguments` take any). */
export function argumentsOf(values: FlagValues): readonly string[] {
  return positionals.get(values) ?? [];
}

/** How a message names the source of flag `name`'s value: `--name` or `VERYFRESHPOD_NAME`. */
export function flagOrigin(values: FlagValues, name: string): string {
  return origins.get(values)?.get(name) ?? `--${name}`;
}

const TRUE = ["true", "1", "yes", "on"];
const FALSE = ["false", "0", "no", "off"];

/**
 * Parses `args` against `table`; a bad flag becomes a usage error naming the
 * command. When the table allows it, a flag not given takes the value of its
 * `VERYFRESHPOD_*` variable from `env`.
 */
export function parseFlags(
  table: FlagTable,
  args: string[],
  env: (name: string) => string | undefined = () => undefined,
): FlagValues {
  const { command } = table;
  const options: ParseArgsOptionsConfig = { help: { type: "boolean", short: "h" } };
  for (const flag of table.flags) {
    options[flag.name] = {
      type: flag.type === "boolean" ? "boolean" : "string",
      ...(flag.short === undefined ? {} : { short: flag.short }),
      ...(flag.type === "list" ? { multiple: true } : {}),
    };
  }
  let values: FlagValues;
  try {
    const parsed = parseArgs({ args, options, strict: true, allowPositionals: true });
    if (parsed.positionals.length > 0 && !parsed.values.help && table.arguments === undefined) {
      throw usageError(command, `unexpected argument "${parsed.positionals[0]}"`);
    }
    values = parsed.values;
    positionals.set(values, parsed.positionals);
  } catch (error) {
    if (error instanceof UserError) throw error;
    // parseArgs throws TypeErrors with messages like "Unknown option '--x'".
    const detail = error instanceof Error ? error.message.replace(/\. To specify.*$/s, "") : "";
    throw usageError(command, detail.charAt(0).toLowerCase() + detail.slice(1));
  }
  if (table.env) {
    const from = new Map<string, string>();
    for (const flag of table.flags) {
      const name = envName(flag.name);
      const text = env(name);
      // Empty counts as unset, as a manifest's `value: ""` usually means.
      if (values[flag.name] !== undefined || text === undefined || text === "") continue;
      from.set(flag.name, name);
      if (flag.type === "boolean") {
        const word = text.trim().toLowerCase();
        if (!TRUE.includes(word) && !FALSE.includes(word)) {
          throw usageError(command, `invalid value "${text}" for ${name}: use true or false`);
        }
        values[flag.name] = TRUE.includes(word);
      } else {
        values[flag.name] = flag.type === "list" ? [text] : text;
      }
    }
    origins.set(values, from);
  }
  return values;
}

/** A usage error: exit code 2, pointing at the command's `--help` (the program's without one). */
export function usageError(command: string | undefined, detail: string): UserError {
  const help = command === undefined ? "veryfreshpod --help" : `veryfreshpod ${command} --help`;
  return new UserError(`${detail}\nRun "${help}" for usage.`, ExitCode.usage);
}

/** A usage error about the value of flag `name`, naming the flag or the variable it came from. */
export function invalidFlag(
  command: string,
  values: FlagValues,
  name: string,
  detail: string,
): UserError {
  const value = values[name];
  const shown = typeof value === "string" ? ` "${value}"` : "";
  return usageError(command, `invalid value${shown} for ${flagOrigin(values, name)}: ${detail}`);
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
  throw invalidFlag(command, values, name, `must be one of ${choices.join(", ")}`);
}

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

/** `--kubeconfig` and `--context`, as loadKubeConfig takes them. */
export function kubeFlags(
  values: FlagValues,
): { kubeconfig: string | undefined; context: string | undefined } {
  return { kubeconfig: stringFlag(values, "kubeconfig"), context: stringFlag(values, "context") };
}

const HELP_WIDTH = 80;
const LABEL_WIDTH = 24;

/** `-n, --namespace NS`: how help and the README name a flag. */
export function flagLabel(flag: FlagSpec): string {
  const long = `--${flag.name}${flag.value === undefined ? "" : ` ${flag.value}`}`;
  return flag.short === undefined ? long : `-${flag.short}, ${long}`;
}

/** Words laid into lines of at most `width` characters. */
function wrap(text: string, width: number): string[] {
  const lines: string[] = [];
  let line = "";
  for (const word of text.split(/\s+/).filter((w) => w !== "")) {
    if (line !== "" && line.length + 1 + word.length > width) {
      lines.push(line);
      line = word;
    } else line = line === "" ? word : `${line} ${word}`;
  }
  if (line !== "") lines.push(line);
  return lines;
}

/** The `Flags:` part of a command's `--help`, from its table. */
export function flagHelp(table: FlagTable): string {
  const entries: [string, string][] = table.flags.map((flag) => [
    flagLabel(flag),
    [
      flag.help,
      flag.default === undefined ? "" : `(default: ${flag.default})`,
      table.env ? `[${envName(flag.name)}]` : "",
    ].filter((part) => part !== "").join(" "),
  ]);
  entries.push(["-h, --help", "show this help"]);
  const indent = " ".repeat(2 + LABEL_WIDTH);
  const lines: string[] = [];
  for (const [label, text] of entries) {
    const body = wrap(text, HELP_WIDTH - indent.length);
    if (label.length > LABEL_WIDTH - 2) lines.push(`  ${label}`);
    else lines.push(`  ${label.padEnd(LABEL_WIDTH)}${body.shift() ?? ""}`);
    for (const line of body) lines.push(`${indent}${line}`);
  }
  return lines.join("\n");
}

/** A command's whole `--help`: its description, usage line and flags. */
export function commandHelp(table: FlagTable, description: string): string {
  const environment = table.env
    ? "\n\nEvery flag can also be set with the environment variable in brackets; the flag wins."
    : "";
  const usage = `veryfreshpod ${table.command} [flags]${
    table.arguments === undefined ? "" : ` ${table.arguments}`
  }`;
  return `${description}\n\nUsage: ${usage}\n\nFlags:\n${flagHelp(table)}${environment}`;
}

/** The README's table of a command's flags (Markdown), from its table. */
export function flagMarkdown(table: FlagTable): string {
  // `|` ends a cell and `<x>` would be read as HTML.
  const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("<", "\\<");
  const code = (text: string) => `\`${cell(text)}\``;
  const header = table.env ? ["flag", "default", "environment", "meaning"] : [
    "flag",
    "default",
    "meaning",
  ];
  const rows = table.flags.map((flag) => [
    code(flagLabel(flag)).replace(", ", "`, `"),
    cell(flag.default ?? ""),
    ...(table.env ? [code(envName(flag.name))] : []),
    cell(flag.help),
  ]);
  return [header, header.map(() => "---"), ...rows].map((row) => `| ${row.join(" | ")} |`)
    .join("\n");
}
