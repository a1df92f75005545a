/**
 * A tar writer (POSIX ustar, with PAX extended headers for what ustar cannot
 * hold: long or non-ASCII paths, sizes of 8 GiB and more). It writes the root
 * filesystem of the image veryfreshpod builds from its own executable, which
 * the Docker Engine imports as one layer. The whole archive is built in
 * memory: it holds one executable and a few libraries.
 */

/** One member of the archive. */
export interface TarEntry {
  /** The path inside the archive, absolute or relative; stored relative. */
  readonly path: string;
  readonly type: "file" | "directory" | "symlink";
  /** Permission bits, e.g. 0o755. */
  readonly mode: number;
  /** A file's content. */
  readonly bytes?: Uint8Array;
  /** A symlink's target. */
  readonly target?: string;
  /** Seconds since the epoch; 0 by default, so that the same files make the same archive. */
  readonly mtime?: number;
  readonly uid?: number;
  readonly gid?: number;
}

const BLOCK = 512;
const encoder = new TextEncoder();

/** The whole archive: every entry, then the two zero blocks that end a tar file. */
export function writeTar(entries: readonly TarEntry[]): Uint8Array<ArrayBuffer> {
  const parts = entries.flatMap(entryBlocks);
  const total = parts.reduce((sum, part) => sum + padded(part.length), 0) + 2 * BLOCK;
  const out = new Uint8Array(total);
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += padded(part.length);
  }
  return out;
}

function padded(length: number): number {
  return Math.ceil(length / BLOCK) * BLOCK;
}

/** The header (preceded by a PAX header when needed) and the content of one entry. */
function entryBlocks(entry: TarEntry): Uint8Array[] {
  let name = entry.path.replace(/^\/+/, "");
  if (entry.type === "directory" && !name.endsWith("/")) name += "/";
  if (name === "" || name === "/") throw new Error("a tar entry needs a path");
  const content = entry.type === "file" ? entry.bytes ?? new Uint8Array() : new Uint8Array();
  const target = entry.type === "symlink" ? entry.target ?? "" : "";

  const pax: Record<string, string> = {};
  const split = splitName(name);
  if (split === undefined) pax.path = name;
  if (encoder.encode(target).length > 100 || !isAscii(target)) pax.linkpath = target;
  if (content.length >= 8 ** 11) pax.size = String(content.length);

  const blocks: Uint8Array[] = [];
  if (Object.keys(pax).length > 0) {
    const records = paxRecords(pax);
    const paxName = utf8Head(`PaxHeaders/${name.replace(/\/$/, "").split("/").pop()}`, 99);
    blocks.push(
      header({ name: paxName, prefix: "", typeflag: "x", size: records.length }),
      records,
    );
  }
  blocks.push(
    header({
      // The full path is in the PAX header; ustar's field keeps what fits of its end.
      name: split?.name ?? utf8Tail(name, 99).replace(/^\/+/, ""),
      prefix: split?.prefix ?? "",
      typeflag: entry.type === "file" ? "0" : entry.type === "directory" ? "5" : "2",
      size: pax.size === undefined ? content.length : 0,
      mode: entry.mode,
      mtime: entry.mtime ?? 0,
      uid: entry.uid ?? 0,
      gid: entry.gid ?? 0,
      linkname: pax.linkpath === undefined ? target : "",
    }),
  );
  if (content.length > 0) blocks.push(content);
  return blocks;
}

/**
 * The longest start of `text` that is at most `maxBytes` bytes of UTF-8, cut
 * between characters (header fields count bytes; `slice` counts UTF-16 units).
 */
export function utf8Head(text: string, maxBytes: number): string {
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    bytes += encoder.encode(char).length;
    if (bytes > maxBytes) break;
    end += char.length;
  }
  return text.slice(0, end);
}

/** The longest end of `text` that is at most `maxBytes` bytes of UTF-8, cut between characters. */
export function utf8Tail(text: string, maxBytes: number): string {
  const chars = [...text];
  let bytes = 0;
  let start = chars.length;
  while (start > 0 && bytes + encoder.encode(chars[start - 1]!).length <= maxBytes) {
    start--;
    bytes += encoder.encode(chars[start]!).length;
  }
  return chars.slice(start).join("");
}

function isAscii(text: string): boolean {
  // deno-lint-ignore no-control-regex
  return /^[\x01-\x7f]*$/.test(text);
}

/**
 * ustar's split of a path into `prefix` (155 bytes) and `name` (100 bytes) at
 * a slash, or undefined when the path does not fit (it then goes in a PAX header).
 */
function splitName(name: string): { prefix: string; name: string } | undefined {
  if (!isAscii(name)) return undefined;
  if (name.length <= 100) return { prefix: "", name };
  for (let at = name.indexOf("/"); at >= 0; at = name.indexOf("/", at + 1)) {
    const prefix = name.slice(0, at);
    const rest = name.slice(at + 1);
    if (prefix.length <= 155 && rest.length <= 100 && rest !== "") return { prefix, name: rest };
  }
  return undefined;
}

/** PAX records, `<length> <key>=<value>\n`, where the length counts its own digits. */
function paxRecords(values: Record<string, string>): Uint8Array {
  let text = "";
  for (const [key, value] of Object.entries(values)) {
    const body = ` ${key}=${value}\n`;
    const bodyLength = encoder.encode(body).length;
    let length = bodyLength + String(bodyLength).length;
    if (String(length).length !== String(bodyLength).length) {
      length = bodyLength + String(length).length;
    }
    text += `${length}${body}`;
  }
  return encoder.encode(text);
}

interface HeaderFields {
  readonly name: string;
  readonly prefix: string;
  readonly typeflag: string;
  readonly size: number;
  readonly mode?: number;
  readonly mtime?: number;
  readonly uid?: number;
  readonly gid?: number;
  readonly linkname?: string;
}

/** One 512-byte ustar header with its checksum. */
function header(fields: HeaderFields): Uint8Array {
  const block = new Uint8Array(BLOCK);
  const put = (offset: number, length: number, text: string) => {
    const bytes = encoder.encode(text);
    if (bytes.length > length) throw new Error(`tar field too long: ${text}`);
    block.set(bytes, offset);
  };
  const octal = (offset: number, length: number, value: number) =>
    put(offset, length, value.toString(8).padStart(length - 1, "0") + "\0");
  put(0, 100, fields.name);
  octal(100, 8, fields.mode ?? 0o644);
  octal(108, 8, fields.uid ?? 0);
  octal(116, 8, fields.gid ?? 0);
  octal(124, 12, fields.size);
  octal(136, 12, fields.mtime ?? 0);
  put(148, 8, "        ");
  put(156, 1, fields.typeflag);
  put(157, 100, fields.linkname ?? "");
  put(257, 6, "ustar\0");
  put(263, 2, "00");
  put(265, 32, "root");
  put(297, 32, "root");
  octal(329, 8, 0);
  octal(337, 8, 0);
  put(345, 155, fields.prefix);
  const sum = block.reduce((total, byte) => total + byte, 0);
  put(148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
  return block;
}
