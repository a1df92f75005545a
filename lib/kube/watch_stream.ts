/**
 * Reads a Kubernetes watch response: one JSON event per line
 * (`{"type":"ADDED","object":{…}}`), split and joined arbitrarily by HTTP
 * chunks, decoded by the engine's JSON-lines decoder. A line is capped like an
 * engine event line (1 MiB): a longer one is dropped with one warning and
 * reported as an expired watch (410), so the caller lists again and the object
 * it carried is not missed. Lines that are not events are skipped with a debug
 * line.
 */
import { JsonLineDecoder, MAX_LINE_BYTES } from "../util/json_lines.ts";
import { logger } from "../util/log.ts";

const log = logger("kube");

/** Called for each event; an ERROR event's object is a Status. */
export type WatchEventHandler = (
  type: string,
  // deno-lint-ignore no-explicit-any -- the objects are whatever the API server sends
  object: any,
) => void;

/** The Status reported for a dropped line: the caller re-lists as after a 410 Gone. */
export function tooLongStatus(maxLineBytes: number) {
  return {
    kind: "Status",
    apiVersion: "v1",
    status: "Failure",
    reason: "Expired",
    code: 410,
    message: `a watch event longer than ${maxLineBytes} bytes was dropped; listing again`,
  };
}

/**
 * Delivers the events of `body` until it ends (resolves), `signal` aborts
 * (resolves) or a line goes over the cap (an ERROR event, then resolves).
 * Rejects when the stream breaks. `onData` hears of every chunk (the
 * deadline on silence).
 */
export async function readWatch(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal,
  onEvent: WatchEventHandler,
  maxLineBytes = MAX_LINE_BYTES,
  onData: () => void = () => {},
): Promise<void> {
  const lines = new JsonLineDecoder(maxLineBytes);
  const reader = body.getReader();
  const cancel = () => reader.cancel().catch(() => {});
  signal.addEventListener("abort", cancel, { once: true });
  try {
    while (!signal.aborted) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (signal.aborted) return;
        throw error;
      }
      onData();
      const decoded = chunk.done ? lines.flush() : lines.push(chunk.value);
      for (const line of decoded) {
        if (signal.aborted) return;
        if (line.ok) {
          const event = line.value as { type?: unknown; object?: unknown } | null;
          if (typeof event?.type === "string" && typeof event.object === "object") {
            onEvent(event.type, event.object);
          } else {
            log.debug("Skipped a watch line that is not an event: {line}", {
              line: JSON.stringify(line.value).slice(0, 120),
            });
          }
        } else if (line.tooLong) {
          log.warn("Dropped a watch event longer than {limit} bytes; it began {start}", {
            limit: maxLineBytes,
            start: line.line,
          });
          onEvent("ERROR", tooLongStatus(maxLineBytes));
          return;
        } else {
          log.debug("Skipped a watch line that is not JSON: {line}", { line: line.line });
        }
      }
      if (chunk.done) return;
    }
  } finally {
    signal.removeEventListener("abort", cancel);
    await cancel();
  }
}
