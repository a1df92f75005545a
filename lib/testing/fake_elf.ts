/**
 * Makes small synthetic ELF files for unit tests: a header, a loadable
 * segment, and optionally PT_INTERP and a dynamic section with DT_NEEDED,
 * DT_RPATH and DT_RUNPATH. Enough for the loader-like search to be tested on
 * a tree of files the test controls. Helpers only; no tests here.
 */

export interface FakeElf {
  readonly bits?: 32 | 64;
  readonly littleEndian?: boolean;
  /** 62 (x86-64) by default. */
  readonly machine?: number;
  readonly interpreter?: string;
  readonly needed?: string[];
  readonly rpath?: string;
  readonly runpath?: string;
}

const BASE = 0x400000;

/** The bytes of an ELF file with these properties. */
export function fakeElf(options: FakeElf = {}): Uint8Array {
  const wide = (options.bits ?? 64) === 64;
  const little = options.littleEndian ?? true;
  const headerSize = wide ? 64 : 52;
  const phentsize = wide ? 56 : 32;
  const encoder = new TextEncoder();

  // String table: offset 0 is the empty string.
  let strtab = "\0";
  const add = (text: string) => {
    const at = strtab.length;
    strtab += text + "\0";
    return at;
  };
  const dynamic: Array<[number, number]> = [];
  for (const name of options.needed ?? []) dynamic.push([1, add(name)]);
  if (options.rpath !== undefined) dynamic.push([15, add(options.rpath)]);
  if (options.runpath !== undefined) dynamic.push([29, add(options.runpath)]);
  const hasDynamic = dynamic.length > 0;
  const interp = options.interpreter === undefined
    ? undefined
    : encoder.encode(options.interpreter + "\0");

  const phnum = 1 + (interp ? 1 : 0) + (hasDynamic ? 1 : 0);
  let at = headerSize + phnum * phentsize;
  const interpOffset = at;
  at += interp?.length ?? 0;
  const strtabOffset = at;
  const strtabBytes = encoder.encode(strtab);
  at += strtabBytes.length;
  at = Math.ceil(at / 8) * 8;
  const dynamicOffset = at;
  const entrySize = wide ? 16 : 8;
  const dynamicEntries = hasDynamic
    ? [[5, BASE + strtabOffset] as [number, number], ...dynamic, [0, 0] as [number, number]]
    : [];
  at += dynamicEntries.length * entrySize;
  const size = at;

  const bytes = new Uint8Array(size);
  const view = new DataView(bytes.buffer);
  const word = (offset: number, value: number) =>
    wide ? view.setBigUint64(offset, BigInt(value), little) : view.setUint32(offset, value, little);
  bytes.set([0x7f, 0x45, 0x4c, 0x46, wide ? 2 : 1, little ? 1 : 2, 1]);
  view.setUint16(16, 2, little); // ET_EXEC
  view.setUint16(18, options.machine ?? 62, little);
  word(wide ? 32 : 28, headerSize); // e_phoff
  view.setUint16(wide ? 54 : 42, phentsize, little);
  view.setUint16(wide ? 56 : 44, phnum, little);

  let ph = headerSize;
  const program = (type: number, offset: number, filesz: number) => {
    view.setUint32(ph, type, little);
    if (wide) {
      word(ph + 8, offset);
      word(ph + 16, BASE + offset);
      word(ph + 32, filesz);
    } else {
      word(ph + 4, offset);
      word(ph + 8, BASE + offset);
      word(ph + 16, filesz);
    }
    ph += phentsize;
  };
  program(1, 0, size); // PT_LOAD: the whole file
  if (interp) program(3, interpOffset, interp.length);
  if (hasDynamic) program(2, dynamicOffset, dynamicEntries.length * entrySize);

  if (interp) bytes.set(interp, interpOffset);
  bytes.set(strtabBytes, strtabOffset);
  dynamicEntries.forEach(([tag, value], i) => {
    word(dynamicOffset + i * entrySize, tag);
    word(dynamicOffset + i * entrySize + (wide ? 8 : 4), value);
  });
  return bytes;
}

/** Writes files (ELF bytes or text) under `root`, making directories as needed. */
export async function writeTree(root: string, files: Record<string, Uint8Array | string>) {
  for (const [path, content] of Object.entries(files)) {
    const full = `${root}${path}`;
    await Deno.mkdir(full.slice(0, full.lastIndexOf("/")), { recursive: true });
    if (typeof content === "string") await Deno.writeTextFile(full, content);
    else await Deno.writeFile(full, content, { mode: 0o755 });
  }
}
