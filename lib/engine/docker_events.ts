/**
 * Decoding of Docker's `GET /events` stream. The daemon writes one JSON object
 * per line (`application/json` before API 1.52, `application/jsonl` after; the
 * bytes are the same), but HTTP chunks split and join lines arbitrarily, so
 * the decoder buffers partial lines. A line that is not JSON is reported, not
 * thrown: losing the events after it would be worse than one odd line.
 */
import type { EngineEvent } from "./engine.ts";

/** One decoded line: a JSON value, or the text of a line that was not JSON. */
export type DecodedLine =
  | { readonly ok: true; readonly value: unknown }
  | { readonly ok: false; readonly line: string; readonly error: string };

/** Splits text fed in arbitrary pieces into JSON lines. */
export class JsonLineDecoder {
  #pending = "";

  /** Feeds more text; returns the lines it completed. */
  push(text: string): DecodedLine[] {
    this.#pending += text;
    if (!text.includes("\n")) return [];
    const lines = this.#pending.split("\n");
    this.#pending = lines.pop() ?? "";
    return decodeLines(lines);
  }

  /** Ends the input; returns what was left without a final newline. */
  flush(): DecodedLine[] {
    const rest = this.#pending;
    this.#pending = "";
    return decodeLines([rest]);
  }
}

function decodeLines(lines: string[]): DecodedLine[] {
  const decoded: DecodedLine[] = [];
  for (const raw of lines) {
    const line = raw.trim();
    if (line === "") continue;
    try {
      decoded.push({ ok: true, value: JSON.parse(line) });
    } catch (error) {
      decoded.push({ ok: false, line, error: error instanceof Error ? error.message : "" });
    }
  }
  return decoded;
}

/** Decodes a byte stream of JSON lines; UTF-8 sequences split across chunks are kept whole. */
export async function* decodeJsonLines(
  chunks: AsyncIterable<Uint8Array>,
): AsyncGenerator<DecodedLine> {
  const text = new TextDecoder();
  const lines = new JsonLineDecoder();
  for await (const chunk of chunks) {
    yield* lines.push(text.decode(chunk, { stream: true }));
  }
  yield* lines.push(text.decode());
  yield* lines.flush();
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
  return { action, subject };
}

/** How a line that was not JSON shows up: an event, so the images are re-read anyway. */
export function unreadableEvent(line: string): EngineEvent {
  const shown = line.length > 120 ? `${line.slice(0, 120)}…` : line;
  return { action: "unreadable", subject: shown };
}
