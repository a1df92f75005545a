/**
 * Just enough of the ELF format to know what an executable needs at run time:
 * its program interpreter (PT_INTERP, the dynamic loader) and the shared
 * libraries it names (DT_NEEDED), with the search paths it carries (DT_RPATH,
 * DT_RUNPATH). The image veryfreshpod builds from its own executable holds
 * exactly these files, so reading them here replaces `ldd` (which runs the
 * loader, and is not on every host). 32- and 64-bit, either byte order.
 */

/** What the dynamic loader needs to know about one ELF file. */
export interface ElfInfo {
  readonly bits: 32 | 64;
  readonly littleEndian: boolean;
  /** `e_machine`: 62 is x86-64, 183 is AArch64. */
  readonly machine: number;
  /** `e_type`: 2 is an executable, 3 a shared object or position-independent executable. */
  readonly type: number;
  /** The PT_INTERP path, for dynamically linked executables. */
  readonly interpreter: string | undefined;
  /** DT_NEEDED entries, in order. */
  readonly needed: string[];
  /** DT_RPATH, split on `:`. */
  readonly rpath: string[];
  /** DT_RUNPATH, split on `:`. */
  readonly runpath: string[];
}

/** The file is not ELF, or is cut short; `reason` says how. */
export class NotElfError extends Error {
  readonly reason: string;
  constructor(reason: string) {
    super(`not an ELF file: ${reason}`);
    this.name = "NotElfError";
    this.reason = reason;
  }
}

/** Debian's multiarch names, and Kubernetes' GOARCH names, per `e_machine`. */
export const MACHINES: Readonly<Record<number, { triplet: string; goarch: string }>> = {
  3: { triplet: "i386-linux-gnu", goarch: "386" },
  40: { triplet: "arm-linux-gnueabihf", goarch: "arm" },
  62: { triplet: "x86_64-linux-gnu", goarch: "amd64" },
  183: { triplet: "aarch64-linux-gnu", goarch: "arm64" },
  243: { triplet: "riscv64-linux-gnu", goarch: "riscv64" },
};

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0;
const DT_NEEDED = 1;
const DT_STRTAB = 5;
const DT_RPATH = 15;
const DT_RUNPATH = 29;

interface Segment {
  readonly type: number;
  readonly offset: number;
  readonly vaddr: number;
  readonly filesz: number;
}

/** A bounds-checked reader of one ELF file's fields. */
class Reader {
  readonly #view: DataView;
  readonly #little: boolean;
  readonly wide: boolean;

  constructor(bytes: Uint8Array, little: boolean, wide: boolean) {
    this.#view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    this.#little = little;
    this.wide = wide;
  }

  #check(offset: number, size: number): void {
    if (offset < 0 || offset + size > this.#view.byteLength) {
      throw new NotElfError(
        `truncated (needs byte ${offset + size}, has ${this.#view.byteLength})`,
      );
    }
  }

  u16(offset: number): number {
    this.#check(offset, 2);
    return this.#view.getUint16(offset, this.#little);
  }

  u32(offset: number): number {
    this.#check(offset, 4);
    return this.#view.getUint32(offset, this.#little);
  }

  /** A 32- or 64-bit address or offset, as a number (files are far below 2^53 bytes). */
  word(offset: number): number {
    if (!this.wide) return this.u32(offset);
    this.#check(offset, 8);
    return Number(this.#view.getBigUint64(offset, this.#little));
  }

  /** A signed word, for dynamic tags. */
  sword(offset: number): number {
    if (!this.wide) return this.#view.getInt32(offset, this.#little);
    this.#check(offset, 8);
    return Number(this.#view.getBigInt64(offset, this.#little));
  }
}

/** True when `bytes` starts with the ELF magic number. */
export function isElf(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x7f && bytes[1] === 0x45 && bytes[2] === 0x4c &&
    bytes[3] === 0x46;
}

/** Reads the interpreter, needed libraries and search paths of an ELF file. */
export function parseElf(bytes: Uint8Array): ElfInfo {
  if (!isElf(bytes)) throw new NotElfError("no ELF magic number at the start");
  if (bytes.length < 52) throw new NotElfError("truncated header");
  const elfClass = bytes[4];
  const encoding = bytes[5];
  if (elfClass !== 1 && elfClass !== 2) throw new NotElfError(`unknown class ${elfClass}`);
  if (encoding !== 1 && encoding !== 2) throw new NotElfError(`unknown byte order ${encoding}`);
  const wide = elfClass === 2;
  const r = new Reader(bytes, encoding === 1, wide);
  const type = r.u16(16);
  const machine = r.u16(18);
  const phoff = r.word(wide ? 32 : 28);
  const phentsize = r.u16(wide ? 54 : 42);
  const phnum = r.u16(wide ? 56 : 44);

  const segments: Segment[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = phoff + i * phentsize;
    segments.push(
      wide
        ? {
          type: r.u32(at),
          offset: r.word(at + 8),
          vaddr: r.word(at + 16),
          filesz: r.word(at + 32),
        }
        : {
          type: r.u32(at),
          offset: r.word(at + 4),
          vaddr: r.word(at + 8),
          filesz: r.word(at + 16),
        },
    );
  }

  const interp = segments.find((s) => s.type === PT_INTERP);
  const interpreter = interp === undefined
    ? undefined
    : cString(bytes, interp.offset, interp.offset + interp.filesz);

  const needed: string[] = [];
  let rpath: string[] = [];
  let runpath: string[] = [];
  const dynamic = segments.find((s) => s.type === PT_DYNAMIC);
  if (dynamic !== undefined) {
    const entrySize = wide ? 16 : 8;
    const entries: Array<{ tag: number; value: number }> = [];
    for (
      let at = dynamic.offset;
      at + entrySize <= dynamic.offset + dynamic.filesz;
      at += entrySize
    ) {
      const tag = r.sword(at);
      if (tag === DT_NULL) break;
      entries.push({ tag, value: r.word(at + (wide ? 8 : 4)) });
    }
    const strtabAddress = entries.find((e) => e.tag === DT_STRTAB)?.value;
    if (strtabAddress !== undefined) {
      // DT_STRTAB is a virtual address: find the file offset through the loadable segments.
      const load = segments.find((s) =>
        s.type === PT_LOAD && strtabAddress >= s.vaddr && strtabAddress < s.vaddr + s.filesz
      );
      if (load === undefined) throw new NotElfError("the string table is in no loadable segment");
      const strtab = load.offset + (strtabAddress - load.vaddr);
      const text = (value: number) => cString(bytes, strtab + value, bytes.length);
      for (const entry of entries) {
        if (entry.tag === DT_NEEDED) needed.push(text(entry.value));
        else if (entry.tag === DT_RPATH) rpath = splitPath(text(entry.value));
        else if (entry.tag === DT_RUNPATH) runpath = splitPath(text(entry.value));
      }
    }
  }
  return {
    bits: wide ? 64 : 32,
    littleEndian: encoding === 1,
    machine,
    type,
    interpreter,
    needed,
    rpath,
    runpath,
  };
}

function splitPath(text: string): string[] {
  return text.split(":").filter((dir) => dir !== "");
}

const decoder = new TextDecoder();

/** The NUL-terminated string at `start`; a string running past `end` is a truncated file. */
function cString(bytes: Uint8Array, start: number, end: number): string {
  const limit = Math.min(end, bytes.length);
  if (start < 0 || start >= limit) throw new NotElfError("a string points outside the file");
  const nul = bytes.subarray(start, limit).indexOf(0);
  if (nul < 0) throw new NotElfError("a string runs past the end of its section");
  return decoder.decode(bytes.subarray(start, start + nul));
}
