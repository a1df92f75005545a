/**
 * Where each member of a tar file on disk is: its name, type, size and the
 * offset of its content, read from the headers alone, so that a `docker
 * save` archive of any size can be indexed and its members read back one by
 * one without holding it in memory. ustar with PAX (`x`) and GNU long-name
 * (`L`, `K`) headers, as Go's archive/tar writes them.
 */

/** One member of the archive. */
export interface TarMember {
  /** The path, without a leading `./` or `/`. */
  readonly name: string;
  readonly type: "file" | "symlink" | "directory" | "other";
  /** A symlink's target, as written. */
  readonly linkname: string;
  /** Where the content starts in the file. */
  readonly offset: number;
  readonly size: number;
}

/** The tar block size. */
export const BLOCK = 512;
const decoder = new TextDecoder();

function field(header: Uint8Array, at: number, length: number): string {
  const bytes = header.subarray(at, at + length);
  const end = bytes.indexOf(0);
  return decoder.decode(end < 0 ? bytes : bytes.subarray(0, end));
}

/** An octal number field, or the base-256 form GNU tar uses for large sizes. */
function number(header: Uint8Array, at: number, length: number): number {
  if ((header[at]! & 0x80) !== 0) {
    let value = header[at]! & 0x7f;
    for (let i = 1; i < length; i++) value = value * 256 + header[at + i]!;
    return value;
  }
  const text = field(header, at, length).trim();
  return text === "" ? 0 : parseInt(text, 8);
}

/** The records of a PAX extended header: `<length> <key>=<value>\n` each. */
export function parsePax(bytes: Uint8Array): Record<string, string> {
  const records: Record<string, string> = {};
  let at = 0;
  while (at < bytes.length) {
    const space = bytes.indexOf(0x20, at);
    if (space < 0) break;
    const length = parseInt(decoder.decode(bytes.subarray(at, space)), 10);
    if (!(length > 0)) break;
    const record = decoder.decode(bytes.subarray(space + 1, at + length - 1));
    const equals = record.indexOf("=");
    if (equals > 0) records[record.slice(0, equals)] = record.slice(equals + 1);
    at += length;
  }
  return records;
}

/** A member's path without a leading `./` or `/` or a trailing `/`. */
export function clean(name: string): string {
  return name.replace(/^(\.\/|\/)+/, "").replace(/\/+$/, "");
}

async function readAt(file: Deno.FsFile, offset: number, length: number): Promise<Uint8Array> {
  const buffer = new Uint8Array(length);
  await file.seek(offset, Deno.SeekMode.Start);
  let filled = 0;
  while (filled < length) {
    const read = await file.read(buffer.subarray(filled));
    if (read === null) break;
    filled += read;
  }
  return buffer.subarray(0, filled);
}

/** What the headers before a member said about it (PAX, GNU long names). */
export interface PendingNames {
  pax: Record<string, string>;
  longName: string | undefined;
  longLink: string | undefined;
}

/** A fresh PendingNames, for the first member and after each member. */
export function noPendingNames(): PendingNames {
  return { pax: {}, longName: undefined, longLink: undefined };
}

/** One 512-byte header, read: a member, or a header that only names the next one. */
export type TarHeader =
  | { readonly kind: "member"; readonly member: Omit<TarMember, "offset"> }
  | { readonly kind: "names"; readonly typeflag: "x" | "L" | "K"; readonly size: number }
  | { readonly kind: "skip"; readonly size: number }
  | { readonly kind: "end" };

/**
 * Reads one header block; throws on a bad checksum (at `at`, for the
 * message). A member's name comes from `pending`, which the caller resets
 * after each member and fills with applyNames() after a names header.
 */
export function parseHeader(header: Uint8Array, pending: PendingNames, at: number): TarHeader {
  if (header.every((byte) => byte === 0)) return { kind: "end" };
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : header[i]!;
  if (sum !== number(header, 148, 8)) {
    throw new Error(
      `not a tar archive: bad header checksum at byte ${at} (${field(header, 148, 8)})`,
    );
  }
  const typeflag = String.fromCharCode(header[156] || 0x30);
  const size = pending.pax.size !== undefined ? Number(pending.pax.size) : number(header, 124, 12);
  if (typeflag === "x" || typeflag === "L" || typeflag === "K") {
    return { kind: "names", typeflag, size };
  }
  if (typeflag === "g") return { kind: "skip", size };
  const prefix = field(header, 345, 155);
  const ustarName = prefix === "" ? field(header, 0, 100) : `${prefix}/${field(header, 0, 100)}`;
  const name = clean(pending.pax.path ?? pending.longName ?? ustarName);
  const linkname = pending.pax.linkpath ?? pending.longLink ?? field(header, 157, 100);
  const type = typeflag === "0" || typeflag === "7"
    ? "file"
    : typeflag === "2"
    ? "symlink"
    : typeflag === "5"
    ? "directory"
    : "other";
  return { kind: "member", member: { name, type, linkname, size } };
}

/** Records what a names header's content (`content`) says about the next member. */
export function applyNames(
  pending: PendingNames,
  typeflag: "x" | "L" | "K",
  content: Uint8Array,
): void {
  if (typeflag === "x") pending.pax = { ...pending.pax, ...parsePax(content) };
  else if (typeflag === "L") pending.longName = field(content, 0, content.length);
  else pending.longLink = field(content, 0, content.length);
}

/** Bytes a member of `size` takes in the archive, with its padding. */
export function paddedSize(size: number): number {
  return Math.ceil(size / BLOCK) * BLOCK;
}

/** Every member of the tar file `file`, by name; throws on a truncated or corrupt archive. */
export async function indexTar(file: Deno.FsFile): Promise<Map<string, TarMember>> {
  const members = new Map<string, TarMember>();
  const { size: fileSize } = await file.stat();
  let at = 0;
  let pending = noPendingNames();
  while (at + BLOCK <= fileSize) {
    const header = parseHeader(await readAt(file, at, BLOCK), pending, at);
    if (header.kind === "end") break;
    const size = header.kind === "member" ? header.member.size : header.size;
    const offset = at + BLOCK;
    if (offset + size > fileSize) throw new Error("the tar archive is truncated");
    at = offset + paddedSize(size);
    if (header.kind === "names") {
      applyNames(pending, header.typeflag, await readAt(file, offset, size));
    } else if (header.kind === "member") {
      members.set(header.member.name, { ...header.member, offset });
      pending = noPendingNames();
    }
  }
  return members;
}

/** The member `name` refers to, following symlinks (relative to the link's directory). */
export function resolveMember(
  members: ReadonlyMap<string, TarMember>,
  name: string,
): TarMember | undefined {
  let current = members.get(clean(name));
  for (let hops = 0; current?.type === "symlink" && hops < 10; hops++) {
    const dir = current.name.includes("/")
      ? current.name.slice(0, current.name.lastIndexOf("/"))
      : "";
    const parts: string[] = [];
    for (const part of `${dir}/${current.linkname}`.split("/")) {
      if (part === "" || part === ".") continue;
      if (part === "..") parts.pop();
      else parts.push(part);
    }
    current = members.get(parts.join("/"));
  }
  return current?.type === "file" ? current : undefined;
}

/** The content of one member, in chunks of up to `chunkSize` bytes. */
export async function* readMember(
  file: Deno.FsFile,
  member: TarMember,
  chunkSize = 1 << 20,
): AsyncGenerator<Uint8Array> {
  for (let done = 0; done < member.size;) {
    const chunk = await readAt(file, member.offset + done, Math.min(chunkSize, member.size - done));
    if (chunk.length === 0) throw new Error(`the tar archive ends inside ${member.name}`);
    done += chunk.length;
    yield chunk;
  }
}

/** The whole content of a small member (a manifest or config). */
export async function readSmallMember(file: Deno.FsFile, member: TarMember): Promise<Uint8Array> {
  if (member.size > 64 << 20) throw new Error(`${member.name} is too large to be metadata`);
  return await readAt(file, member.offset, member.size);
}
