/**
 * Logging through LogTape: human text for a terminal, JSON lines with
 * `--log-format json`. Every module logs through `logger(...)`; only the
 * command line calls `setupLogging`. Logs go to stderr so stdout stays free
 * for output a user pipes (`veryfreshpod manifest | kubectl apply -f -`).
 */
import {
  configureSync,
  getLogger,
  type Logger,
  type LogLevel,
  type LogRecord,
  resetSync,
  type Sink,
} from "@logtape/logtape";

export type { Logger, LogLevel };

export const LOG_FORMATS = ["text", "json"] as const;
export type LogFormat = typeof LOG_FORMATS[number];
export const LOG_LEVELS = ["debug", "info", "warning", "error"] as const;

/** A logger for one part of the program, e.g. `logger("engine")`. */
export function logger(...category: string[]): Logger {
  return getLogger(["veryfreshpod", ...category]);
}

/** Options of setupLogging. */
export interface LoggingOptions {
  readonly level: LogLevel;
  readonly format: LogFormat;
  /** Where formatted lines go; stderr by default, a collector in tests. */
  readonly write?: (line: string) => void;
}

const encoder = new TextEncoder();

function writeStderr(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line));
}

/** Configures the process-wide logging; safe to call again (it resets first). */
export function setupLogging(options: LoggingOptions): void {
  const write = options.write ?? writeStderr;
  const format = options.format === "json" ? formatJson : formatText;
  const sink: Sink = (record) => write(format(record));
  resetSync();
  configureSync({
    sinks: { out: sink },
    loggers: [
      { category: ["veryfreshpod"], sinks: ["out"], lowestLevel: options.level },
      // LogTape reports its own problems under this category.
      { category: ["logtape", "meta"], sinks: ["out"], lowestLevel: "warning" },
    ],
  });
}

/**
 * The message with its values in place, strings unquoted, for both formats.
 * `escape` rewrites control characters in the values (the text format needs
 * it; JSON escapes them itself).
 */
export function renderMessage(
  record: LogRecord,
  escape: (value: string) => string = (value) => value,
): string {
  return record.message.map((part, i) => i % 2 === 0 ? String(part) : escape(renderValue(part)))
    .join("");
}

// C0 and C1 controls, DEL, and the Unicode line and paragraph separators.
// deno-lint-ignore no-control-regex
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;
const SHORT_ESCAPES: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * A value with its control characters written as escapes (`\n`, `\x1b`,
 * `\u2028`): a value (an image name, an engine's message) could otherwise
 * end the line and print a second one that looks like a real record, or
 * send terminal escape sequences.
 */
export function escapeControls(value: string): string {
  return value.replace(CONTROL, (char) => {
    const short = SHORT_ESCAPES[char];
    if (short !== undefined) return short;
    const code = char.charCodeAt(0);
    return code <= 0xff
      ? `\\x${code.toString(16).padStart(2, "0")}`
      : `\\u${code.toString(16).padStart(4, "0")}`;
  });
}

function renderValue(value: unknown): string {
  if (typeof value === "string") return value;
  if (value instanceof Error) return value.message;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

const LEVEL_LABELS: Record<LogLevel, string> = {
  trace: "TRACE",
  debug: "DEBUG",
  info: "INFO ",
  warning: "WARN ",
  error: "ERROR",
  fatal: "FATAL",
};

/** `2026-11-25T14:00:00.000Z INFO  message`: one readable line per record. */
export function formatText(record: LogRecord): string {
  const time = new Date(record.timestamp).toISOString();
  return `${time} ${LEVEL_LABELS[record.level]} ${renderMessage(record, escapeControls)}\n`;
}

/** One JSON object per line: time, level, logger, msg, then the structured fields. */
export function formatJson(record: LogRecord): string {
  const fields: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(record.properties)) {
    fields[key] = value instanceof Error ? value.message : value;
  }
  return JSON.stringify({
    time: new Date(record.timestamp).toISOString(),
    level: record.level,
    logger: record.category.slice(1).join(".") || "main",
    msg: renderMessage(record),
    ...fields,
  }) + "\n";
}
