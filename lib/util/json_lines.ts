/**
 * JSON lines (one JSON value per line) from bytes that arrive in arbitrary
 * pieces: Docker's `GET /events` and the Kubernetes API's watch streams both
 * send them, and HTTP chunks split and join lines anywhere, so the decoder
 * buffers partial lines. A line that is not JSON is reported, not thrown:
 * losing the lines after it would be worse than one odd line.
 *
 * A line is capped (`MAX_LINE_BYTES`): the part of a longer line that is over
 * is never held, only skipped up to the next newline, so a broken or hostile
 * stream cannot grow the memory without bound.
 */
import { concatBytes } from "./bytes.ts";

/** The longest line kept: 1 MiB, far above a real Docker event (under 2 KB) or watch event. */
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
