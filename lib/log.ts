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

/** The message with its values in place, strings unquoted, for both formats. */
export function renderMessage(record: LogRecord): string {
  return record.message.map((part, i) => i % 2 === 0 ? String(part) : renderValue(part)).join(
    "",
  );
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
  return `${time} ${LEVEL_LABELS[record.level]} ${renderMessage(record)}\n`;
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
