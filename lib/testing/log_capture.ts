/**
 * For tests: the process-wide log collected into a list, and put back
 * unconfigured (as before any setupLogging) when disposed, so that no test
 * leaves the next one a changed logging configuration.
 */
import { resetSync } from "@logtape/logtape";
import { type LogFormat, type LogLevel, setupLogging } from "../util/log.ts";

/** The lines logged until disposal: `using logs = captureLogs(); … logs.lines`. */
export interface CapturedLogs extends Disposable {
  readonly lines: string[];
}

/** Sends the log, formatted as `format` from `level` up, into `lines` until disposed. */
export function captureLogs(level: LogLevel = "debug", format: LogFormat = "text"): CapturedLogs {
  const lines: string[] = [];
  setupLogging({ level, format, write: (line) => lines.push(line) });
  return { lines, [Symbol.dispose]: () => resetSync() };
}
