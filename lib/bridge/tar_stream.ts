/**
 * A tar archive read as it streams in (a `docker save` answer), member by
 * member, without storing it: each member's content is handed on in chunks
 * and whatever the reader leaves unread is skipped. Headers are parsed as
 * tar_index.ts parses a file. Bytes after the archive, or in place of a
 * header, end the stream with a TrailingDataError carrying them: Docker
 * appends its error there when a save fails partway.
 */
import { concatBytes } from "../util/bytes.ts";
import {
  applyNames,
  BLOCK,
  noPendingNames,
  paddedSize,
  parseHeader,
  type TarMember,
} from "./tar_index.ts";

/** One member as it streams by; `chunks` may be read once, before the next member. */
export interface StreamedMember extends Omit<TarMember, "offset"> {
  chunks(): AsyncIterable<Uint8Array>;
}

/** How much of the bytes after the archive is kept, for the message. */
const TRAILING_LIMIT = 64 * 1024;

/** The archive stopped being a tar archive; `trailing` holds what came instead. */
export class TrailingDataError extends Error {
  override readonly name = "TrailingDataError";
  constructor(message: string, readonly trailing: Uint8Array) {
    super(message);
  }
}

/** Exact reads over a byte stream, keeping what a read left over. */
class ByteReader {
  readonly #reader: ReadableStreamDefaultReader<Uint8Array>;
  #buffer: Uint8Array = new Uint8Array();
  /** Bytes consumed so far, for messages. */
  position = 0;

  constructor(stream: ReadableStream<Uint8Array>) {
    this.#reader = stream.getReader();
  }

  async #fill(): Promise<boolean> {
    const { done, value } = await this.#reader.read();
    if (done) return false;
    this.#buffer = this.#buffer.length === 0 ? value : concatBytes([this.#buffer, value]);
    return true;
  }

  /** Exactly `length` bytes, or fewer when the stream ends first. */
  async read(length: number): Promise<Uint8Array> {
    while (this.#buffer.length < length && await this.#fill());
    const out = this.#buffer.subarray(0, Math.min(length, this.#buffer.length));
    this.#buffer = this.#buffer.subarray(out.length);
    this.position += out.length;
    return out;
  }

  /** The next `length` bytes in the chunks they come in; throws when the stream ends first. */
  async *chunks(length: number, what: string): AsyncGenerator<Uint8Array> {
    let left = length;
    while (left > 0) {
      if (this.#buffer.length === 0 && !await this.#fill()) {
        throw new Error(`the archive ends inside ${what}`);
      }
      const take = this.#buffer.subarray(0, Math.min(left, this.#buffer.length));
      this.#buffer = this.#buffer.subarray(take.length);
      this.position += take.length;
      left -= take.length;
      yield take;
    }
  }

  /** Up to `limit` bytes of what is left. */
  rest(limit: number): Promise<Uint8Array> {
    return this.read(limit);
  }

  cancel(): void {
    this.#reader.cancel().catch(() => {});
  }
}

/**
 * Every member of the tar archive `stream`, in order. The stream is
 * cancelled when the caller stops early. Throws a TrailingDataError when
 * something other than a tar header or the archive's end follows a member.
 */
export async function* tarStream(
  stream: ReadableStream<Uint8Array>,
): AsyncGenerator<StreamedMember> {
  const reader = new ByteReader(stream);
  let pending = noPendingNames();
  try {
    while (true) {
      const at = reader.position;
      const block = await reader.read(BLOCK);
      if (block.length === 0) return; // no end blocks: tolerated, as Go's reader does
      let header;
      try {
        if (block.length < BLOCK) throw new Error("a short header");
        header = parseHeader(block, pending, at);
      } catch {
        const rest = await reader.rest(TRAILING_LIMIT);
        throw new TrailingDataError(
          `the archive is not a tar archive from byte ${at} on`,
          concatBytes([block, rest]),
        );
      }
      if (header.kind === "end") {
        // Two zero blocks end the archive; anything but zeros after them is trailing data.
        const rest = await reader.rest(TRAILING_LIMIT);
        if (rest.some((byte) => byte !== 0)) {
          throw new TrailingDataError(`the archive has data after its end`, rest);
        }
        return;
      }
      const size = header.kind === "member" ? header.member.size : header.size;
      const what = header.kind === "member" ? header.member.name : "a tar header";
      if (header.kind === "names") {
        applyNames(pending, header.typeflag, concatBytes(await collect(reader.chunks(size, what))));
      } else if (header.kind === "member") {
        const member = header.member;
        let left = member.size;
        let started = false;
        const body = async function* (): AsyncGenerator<Uint8Array> {
          for await (const chunk of reader.chunks(left, member.name)) {
            left -= chunk.length;
            yield chunk;
          }
        };
        yield {
          ...member,
          chunks: () => {
            if (started) throw new Error(`the content of ${member.name} was read already`);
            started = true;
            return body();
          },
        };
        // Whatever the caller left unread is skipped.
        for await (const _ of reader.chunks(left, member.name));
        pending = noPendingNames();
      } else {
        for await (const _ of reader.chunks(size, what));
      }
      const padding = paddedSize(size) - size;
      if (padding > 0 && (await reader.read(padding)).length < padding) {
        throw new Error(`the archive ends inside ${what}`);
      }
    }
  } finally {
    reader.cancel();
  }
}

async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array[]> {
  const parts: Uint8Array[] = [];
  for await (const chunk of chunks) parts.push(chunk.slice());
  return parts;
}
