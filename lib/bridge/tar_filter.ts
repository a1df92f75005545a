/**
 * Leaves members out of a tar stream as it flows, without holding a member
 * in memory: the node-container path sends `docker save` into the node's
 * `ctr images import` without the blobs the node already holds (an OCI
 * layout's `blobs/sha256/<hex>`). Headers are read as Go's archive/tar
 * writes them: ustar, with PAX (`x`) and GNU long-name (`L`, `K`) headers
 * kept or dropped together with the member they describe.
 */

const BLOCK = 512;
const decoder = new TextDecoder();

/** What the filter left out and let through. */
export interface TarFilterTally {
  /** Members left out, and their content bytes. */
  dropped: number;
  droppedBytes: number;
  /** Members let through whose name `counted` accepted, and their content bytes. */
  kept: number;
  keptBytes: number;
}

/** Reads exact amounts from a stream of chunks of any size. */
class ByteReader {
  readonly #chunks: AsyncIterator<Uint8Array>;
  #current: Uint8Array = new Uint8Array(0);
  #at = 0;

  constructor(chunks: AsyncIterable<Uint8Array>) {
    this.#chunks = chunks[Symbol.asyncIterator]();
  }

  async #fill(): Promise<boolean> {
    while (this.#at >= this.#current.length) {
      const next = await this.#chunks.next();
      if (next.done) return false;
      this.#current = next.value;
      this.#at = 0;
    }
    return true;
  }

  /** Up to `n` bytes, in the pieces they arrive in (fewer only at the end of the stream). */
  async *pieces(n: number): AsyncGenerator<Uint8Array> {
    let left = n;
    while (left > 0 && await this.#fill()) {
      const take = Math.min(left, this.#current.length - this.#at);
      yield this.#current.subarray(this.#at, this.#at + take);
      this.#at += take;
      left -= take;
    }
  }

  /** Exactly `n` bytes in one array, or fewer at the end of the stream. */
  async read(n: number): Promise<Uint8Array> {
    const out = new Uint8Array(n);
    let filled = 0;
    for await (const piece of this.pieces(n)) {
      out.set(piece, filled);
      filled += piece.length;
    }
    return filled === n ? out : out.subarray(0, filled);
  }

  async skip(n: number): Promise<void> {
    for await (const _ of this.pieces(n)) {
      // dropped
    }
  }

  async *rest(): AsyncGenerator<Uint8Array> {
    while (await this.#fill()) {
      yield this.#current.subarray(this.#at);
      this.#at = this.#current.length;
    }
  }
}

function text(bytes: Uint8Array): string {
  const end = bytes.indexOf(0);
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** A size field: octal, or GNU's base-256 for large sizes. */
function size(header: Uint8Array): number {
  if ((header[124]! & 0x80) !== 0) {
    let value = header[124]! & 0x7f;
    for (let i = 125; i < 136; i++) value = value * 256 + header[i]!;
    return value;
  }
  const field = text(header.subarray(124, 136)).trim();
  return field === "" ? 0 : parseInt(field, 8);
}

/** The `path` record of a PAX header's data, if it has one. */
function paxPath(data: Uint8Array): string | undefined {
  let rest = decoder.decode(data);
  while (rest.length > 0) {
    const space = rest.indexOf(" ");
    const length = Number(rest.slice(0, space));
    if (!(length > 0) || space < 0) return undefined;
    const record = rest.slice(space + 1, length - 1);
    if (record.startsWith("path=")) return record.slice(5);
    rest = rest.slice(length);
  }
  return undefined;
}

function memberName(header: Uint8Array): string {
  const name = text(header.subarray(0, 100));
  const prefix = text(header.subarray(345, 500));
  return prefix === "" ? name : `${prefix}/${name}`;
}

function normalised(name: string): string {
  return name.replace(/^(\.\/|\/)+/, "");
}

/**
 * The tar stream `input` without the members whose name `drop` accepts;
 * `tally` says what was left out as it goes. A stream that is no tar (or
 * ends early) is passed on as it is from that point: the reader at the other
 * end reports it.
 */
export async function* dropTarMembers(
  input: AsyncIterable<Uint8Array>,
  drop: (name: string) => boolean,
  tally: TarFilterTally,
  counted: (name: string) => boolean = () => false,
): AsyncGenerator<Uint8Array> {
  const reader = new ByteReader(input);
  // Extended headers wait for the member they describe: they go or stay with it.
  let pending: Uint8Array[] = [];
  let longName: string | undefined;
  let pax: string | undefined;
  while (true) {
    const header = await reader.read(BLOCK);
    if (header.length < BLOCK || header.every((byte) => byte === 0)) {
      yield* pending;
      if (header.length > 0) yield header;
      yield* reader.rest();
      return;
    }
    const type = String.fromCharCode(header[156]!);
    const length = size(header);
    const padded = Math.ceil(length / BLOCK) * BLOCK;
    if (type === "x" || type === "L" || type === "K") {
      const data = await reader.read(padded);
      if (type === "L") longName = text(data.subarray(0, length));
      if (type === "x") pax = paxPath(data.subarray(0, length)) ?? pax;
      pending.push(header, data);
      continue;
    }
    const name = normalised(pax ?? longName ?? memberName(header));
    pax = longName = undefined;
    if (drop(name)) {
      pending = [];
      await reader.skip(padded);
      tally.dropped++;
      tally.droppedBytes += length;
      continue;
    }
    if (counted(name)) {
      tally.kept++;
      tally.keptBytes += length;
    }
    yield* pending;
    pending = [];
    yield header;
    yield* reader.pieces(padded);
  }
}
