/**
 * Decoding of Docker's `GET /events` stream. The daemon writes one JSON object
 * per line (`application/json` before API 1.52, `application/jsonl` after; the
 * bytes are the same), read by the JSON-lines decoder (util/json_lines.ts),
 * which caps a line (`MAX_LINE_BYTES`; a real event is under 2 KB).
 */
import { type EngineEvent, tagKey } from "./engine.ts";
import { logger } from "../util/log.ts";
import { type DecodedLine, JsonLineDecoder, MAX_LINE_BYTES } from "../util/json_lines.ts";

const log = logger("engine");

/**
 * Decodes a byte stream of JSON lines. Each line over `maxLineBytes` is
 * reported once as a line that is not JSON (showing its start) and logged
 * with one warning; the lines after it are decoded as usual.
 */
export async function* decodeJsonLines(
  chunks: AsyncIterable<Uint8Array>,
  maxLineBytes = MAX_LINE_BYTES,
): AsyncGenerator<DecodedLine> {
  const lines = new JsonLineDecoder(maxLineBytes);
  const report = (decoded: DecodedLine[]) => {
    for (const line of decoded) {
      if (!line.ok && line.tooLong) {
        log.warn("Dropped an event line longer than {limit} bytes; it began {start}", {
          limit: maxLineBytes,
          start: line.line,
        });
      }
    }
    return decoded;
  };
  for await (const chunk of chunks) yield* report(lines.push(chunk));
  yield* report(lines.flush());
}

function stringField(record: Record<string, unknown>, name: string): string | undefined {
  const value = record[name];
  return typeof value === "string" && value !== "" ? value : undefined;
}

/**
 * The EngineEvent of one decoded Docker event, or undefined when it is not an
 * image event. Only `Type`, `Action` and `Actor` are read: the legacy fields
 * (`status`, `id`, `from`) are gone from API 1.52 on.
 */
export function toEngineEvent(value: unknown): EngineEvent | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const record = value as Record<string, unknown>;
  // The request filters on type=image already; an event without a Type is
  // kept, because any event only means "re-read the images".
  const type = stringField(record, "Type");
  if (type !== undefined && type !== "image") return undefined;
  const action = stringField(record, "Action") ?? "unknown";
  const actor = typeof record.Actor === "object" && record.Actor !== null
    ? record.Actor as Record<string, unknown>
    : {};
  const id = stringField(actor, "ID") ?? "";
  const attributes = typeof actor.Attributes === "object" && actor.Attributes !== null
    ? actor.Attributes as Record<string, unknown>
    : {};
  // For a tag the name is the new reference and the ID the image; for a pull
  // the ID is the reference already. Both help a debug line.
  const name = stringField(attributes, "name");
  const subject = name !== undefined && name !== id ? (id === "" ? name : `${name} ${id}`) : id;
  const event: {
    action: string;
    subject: string;
    reference?: string;
    time?: number;
    id?: string;
  } = { action, subject };
  // The tag set: a tag event names it in `name`, a pull in the ID (as requested).
  const reference = tagKey(action === "tag" ? name : action === "pull" ? id : undefined);
  if (reference !== undefined) event.reference = reference;
  // A tag event's ID is the image the tag now names (the list's `Id`, whichever store).
  if (action === "tag" && reference !== undefined && IMAGE_ID.test(id)) event.id = id;
  const time = eventTime(record);
  if (time !== undefined) event.time = time;
  return event;
}

const IMAGE_ID = /^sha256:[0-9a-f]{64}$/;

/** `timeNano` (or `time`, in seconds) in milliseconds since the epoch; undefined when absent. */
function eventTime(record: Record<string, unknown>): number | undefined {
  const nanos = record.timeNano;
  if (typeof nanos === "number" && Number.isFinite(nanos) && nanos > 0) return nanos / 1e6;
  const seconds = record.time;
  if (typeof seconds === "number" && Number.isFinite(seconds) && seconds > 0) return seconds * 1000;
  return undefined;
}

/** How a line that was not JSON shows up: an event, so the images are re-read anyway. */
export function unreadableEvent(line: string): EngineEvent {
  const shown = line.length > 120 ? `${line.slice(0, 120)}…` : line;
  return { action: "unreadable", subject: shown };
}
