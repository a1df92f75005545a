/**
 * Decoding of Docker's `GET /events` stream. The daemon writes one JSON object
 * per line (`application/json` before API 1.52, `application/jsonl` after; the
 * bytes are the same), but HTTP chunks split and join lines arbitrarily, so
 * the decoder buffers partial lines. A line that is not JSON is reported, not
 * thrown: losing the events after it would be worse than one odd line.
 *
 * A line is capped (`MAX_LINE_BYTES`; a real event is under 2 KB): the part of
 * a longer line that is over is never held, only skipped up to the next
 * newline, so a broken or hostile stream cannot grow the memory without bound.
 */
import { type EngineEvent, tagKey } from "./engine.ts";
import { logger } from "../util/log.ts";
import { concatBytes } from "../util/bytes.ts";

const log = logger("engine");

/** The longest event line kept: 1 MiB, far above a real event (under 2 KB). */
export const MAX_LINE_BYTES = 1024 * 1024;

/** One decoded line: a JSON value, or the text of a line that was not JSON. */
export type DecodedLine =
  | { readonly ok: true; readonly value: unknown }
  | {
    readonly ok: false;
    /** The line, or the start of one that was too long. */
    readonly line: string;
    readonly error: string;
    /** True when the line went over the cap and was dropped. */
    readonly tooLong: boolean;
  };

const NEWLINE = 0x0a;
// How much of an over-long line its report shows.
const SHOWN_BYTES = 120;

/**
 * Splits bytes fed in arbitrary pieces into JSON lines. It splits on the
 * newline byte, which never occurs inside a UTF-8 sequence, and decodes only
 * whole lines, so a character split across pieces is kept whole.
 */
export class JsonLineDecoder {
  readonly #maxLineBytes: number;
  #parts: Uint8Array[] = [];
  #size = 0;
  /** Inside a line that went over the cap: skip up to the next newline. */
  #skipping = false;

  constructor(maxLineBytes = MAX_LINE_BYTES) {
    this.#maxLineBytes = maxLineBytes;
  }

  /** How many bytes of an unfinished line are held; never more than the cap. */
  get pendingBytes(): number {
    return this.#size;
  }

  /** Feeds more bytes; returns the lines it completed, and one report per over-long line. */
  push(bytes: Uint8Array): DecodedLine[] {
    const decoded: DecodedLine[] = [];
    let start = 0;
    while (start < bytes.length) {
      const newline = bytes.indexOf(NEWLINE, start);
      const end = newline === -1 ? bytes.length : newline;
      this.#append(bytes.subarray(start, end), decoded);
      if (newline === -1) break;
      this.#endLine(decoded);
      start = newline + 1;
    }
    return decoded;
  }

  /** Ends the input; returns what was left without a final newline. */
  flush(): DecodedLine[] {
    const decoded: DecodedLine[] = [];
    this.#endLine(decoded);
    return decoded;
  }

  #append(piece: Uint8Array, decoded: DecodedLine[]): void {
    if (this.#skipping || piece.length === 0) return;
    if (this.#size + piece.length > this.#maxLineBytes) {
      this.#parts.push(piece.subarray(0, SHOWN_BYTES));
      const shown = new TextDecoder().decode(this.#take().subarray(0, SHOWN_BYTES));
      const error = `longer than ${this.#maxLineBytes} bytes`;
      decoded.push({ ok: false, line: `${shown}…`, error, tooLong: true });
      this.#skipping = true;
      return;
    }
    // A copy: a view would keep the whole chunk alive while the line waits.
    this.#parts.push(piece.slice());
    this.#size += piece.length;
  }

  #endLine(decoded: DecodedLine[]): void {
    if (this.#skipping) {
      this.#skipping = false;
      return;
    }
    const line = new TextDecoder().decode(this.#take()).trim();
    if (line === "") return;
    try {
      decoded.push({ ok: true, value: JSON.parse(line) });
    } catch (error) {
      const message = error instanceof Error ? error.message : "";
      decoded.push({ ok: false, line, error: message, tooLong: false });
    }
  }

  /** The bytes of the pending line, which starts empty again. */
  #take(): Uint8Array {
    const bytes = concatBytes(this.#parts);
    this.#parts = [];
    this.#size = 0;
    return bytes;
  }
}

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
