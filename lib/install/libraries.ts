/**
 * Finds the files an executable needs to start: its ELF interpreter and the
 * shared libraries it names, recursively, searched on this host the way the
 * dynamic loader searches them (DT_RPATH, DT_RUNPATH with $ORIGIN, the
 * directories of /etc/ld.so.conf and its includes, then the multiarch and
 * standard directories). The result is the closure an image needs, with the
 * path each file gets in the image: the path the loader would look at.
 */
import { ExitCode, UserError } from "../util/errors.ts";
import { type ElfInfo, MACHINES, NotElfError, parseElf } from "./elf.ts";

/** One file of the closure. */
export interface NeededFile {
  /** Where the loader finds it (the image gets it at this path). */
  readonly path: string;
  /** Its content (symlinks followed). */
  readonly bytes: Uint8Array;
}

/** Everything an executable needs to start, found on the host. */
export interface Closure {
  readonly executable: NeededFile;
  readonly elf: ElfInfo;
  /** The ELF interpreter; undefined for a static executable. */
  readonly interpreter: NeededFile | undefined;
  readonly libraries: NeededFile[];
}

/** Where to look; `root` prefixes every host path (tests build a tree of their own). */
export interface ClosureOptions {
  readonly root?: string;
}

/** Resolves the closure of `executable`; every fault a user can fix is a UserError. */
export function resolveClosure(executable: string, options: ClosureOptions = {}): Closure {
  const root = (options.root ?? "").replace(/\/+$/, "");
  const executableFile = { path: executable, bytes: readExecutable(root + executable) };
  const elf = parseExecutable(executable, executableFile.bytes);
  const searchConfigured = configuredDirs(root, "/etc/ld.so.conf");
  const libraries = new Map<string, NeededFile>();
  const queue: Array<{ file: NeededFile; elf: ElfInfo }> = [{ file: executableFile, elf }];
  const compatible = (candidate: ElfInfo) =>
    candidate.bits === elf.bits && candidate.machine === elf.machine &&
    candidate.littleEndian === elf.littleEndian;

  while (queue.length > 0) {
    const { file, elf: object } = queue.shift()!;
    for (const name of object.needed) {
      if (libraries.has(name) || [...libraries.values()].some((f) => basename(f.path) === name)) {
        continue;
      }
      const dirs = searchDirs(object, elf, file.path, executable, searchConfigured);
      const found = name.includes("/")
        ? loadLibrary(root, name, compatible)
        : dirs.map((dir) => loadLibrary(root, `${dir}/${name}`, compatible)).find((x) => x);
      if (!found) {
        throw new UserError(
          `Cannot find the library "${name}" that ${basename(file.path)} needs (searched ` +
            `${dirs.join(", ")}); install it, or pass --image to use an image built elsewhere`,
          ExitCode.usage,
        );
      }
      libraries.set(name, found.file);
      queue.push(found);
    }
  }

  let interpreter: NeededFile | undefined;
  if (elf.interpreter !== undefined) {
    const bytes = readHost(root, elf.interpreter);
    if (bytes === undefined) {
      throw new UserError(
        `Cannot read the ELF interpreter "${elf.interpreter}" of ${executable}; ` +
          "build the image on a host that can run the executable, or pass --image",
        ExitCode.usage,
      );
    }
    interpreter = { path: elf.interpreter, bytes };
  }
  return {
    executable: executableFile,
    elf,
    interpreter,
    libraries: [...libraries.values()].filter((lib) => lib.path !== interpreter?.path),
  };
}

function readExecutable(path: string): Uint8Array {
  try {
    return Deno.readFileSync(path);
  } catch (error) {
    const why = error instanceof Deno.errors.NotFound
      ? "no such file"
      : error instanceof Deno.errors.PermissionDenied
      ? "permission denied"
      : error instanceof Error && /directory/i.test(error.message)
      ? "it is a directory"
      : error instanceof Error
      ? error.message
      : String(error);
    throw new UserError(
      `Cannot read the executable "${path}": ${why}; pass --executable with a readable ` +
        "veryfreshpod binary, or --image",
      ExitCode.usage,
      { cause: error },
    );
  }
}

function parseExecutable(path: string, bytes: Uint8Array): ElfInfo {
  try {
    return parseElf(bytes);
  } catch (error) {
    if (!(error instanceof NotElfError)) throw error;
    throw new UserError(
      `"${path}" is not a Linux executable (${error.reason}); pass --executable with the ` +
        "veryfreshpod binary for Linux, or --image",
      ExitCode.usage,
      { cause: error },
    );
  }
}

/** The loader's search order for the libraries `object` needs. */
function searchDirs(
  object: ElfInfo,
  executable: ElfInfo,
  objectPath: string,
  executablePath: string,
  configured: string[],
): string[] {
  const origin = (path: string) => dirname(path);
  const expand = (dirs: string[], from: string) =>
    dirs.map((dir) => expandTokens(dir, origin(from), executable));
  const dirs: string[] = [];
  // DT_RPATH counts only when the object has no DT_RUNPATH; the executable's applies to all.
  if (object.runpath.length === 0) {
    dirs.push(...expand(object.rpath, objectPath));
    if (object !== executable && executable.runpath.length === 0) {
      dirs.push(...expand(executable.rpath, executablePath));
    }
  }
  dirs.push(...expand(object.runpath, objectPath), ...configured, ...defaultDirs(executable));
  return [...new Set(dirs.map(normalise))];
}

/** $ORIGIN, $LIB and $PLATFORM, in both spellings. */
function expandTokens(dir: string, origin: string, elf: ElfInfo): string {
  const lib = elf.bits === 64 && elf.machine === 62 ? "lib64" : "lib";
  const platform = elf.machine === 62 ? "x86_64" : elf.machine === 183 ? "aarch64" : "";
  return dir.replace(/\$(\{ORIGIN\}|ORIGIN)/g, origin).replace(/\$(\{LIB\}|LIB)/g, lib)
    .replace(/\$(\{PLATFORM\}|PLATFORM)/g, platform);
}

/** The loader's built-in directories, multiarch first (Debian, Ubuntu), then the classic ones. */
function defaultDirs(elf: ElfInfo): string[] {
  const triplet = MACHINES[elf.machine]?.triplet;
  const multiarch = triplet ? [`/lib/${triplet}`, `/usr/lib/${triplet}`] : [];
  const lib64 = elf.bits === 64 ? ["/lib64", "/usr/lib64"] : ["/lib32", "/usr/lib32"];
  return [...multiarch, ...lib64, "/lib", "/usr/lib"];
}

/**
 * The directories named by an ld.so.conf file and its `include` globs, in
 * order. `hwcap` lines and comments are skipped; a missing file is empty.
 */
export function configuredDirs(root: string, file: string, seen = new Set<string>()): string[] {
  if (seen.has(file) || seen.size > 100) return [];
  seen.add(file);
  let text: string;
  try {
    text = Deno.readTextFileSync(root + file);
  } catch {
    return [];
  }
  const dirs: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    if (line === "" || line.startsWith("hwcap ")) continue;
    const include = line.match(/^include\s+(.+)$/);
    if (include) {
      for (const pattern of include[1]!.trim().split(/\s+/)) {
        const absolute = pattern.startsWith("/") ? pattern : `${dirname(file)}/${pattern}`;
        for (const path of expandGlob(root, absolute)) {
          dirs.push(...configuredDirs(root, path, seen));
        }
      }
      continue;
    }
    // Old syntax allowed `dir=TYPE` and several directories on a line.
    for (const dir of line.split(/[\s,:]+/)) {
      const path = dir.replace(/=.*$/, "");
      if (path.startsWith("/")) dirs.push(normalise(path));
    }
  }
  return dirs;
}

/** Files matching `pattern`, whose last component may hold `*` and `?` (as ld.so.conf uses). */
function expandGlob(root: string, pattern: string): string[] {
  const dir = dirname(pattern);
  const name = basename(pattern);
  if (!/[*?[]/.test(name)) return [pattern];
  const re = new RegExp(
    "^" + name.replace(/[.+^${}()|\\]/g, "\\$&").replace(/\*/g, "[^/]*").replace(/\?/g, "[^/]") +
      "$",
  );
  try {
    return [...Deno.readDirSync(root + dir)].filter((entry) => re.test(entry.name))
      .map((entry) => `${dir}/${entry.name}`).sort();
  } catch {
    return [];
  }
}

/** The file at `path` when it is an ELF object the executable can load. */
function loadLibrary(
  root: string,
  path: string,
  compatible: (elf: ElfInfo) => boolean,
): { file: NeededFile; elf: ElfInfo } | undefined {
  const bytes = readHost(root, path);
  if (bytes === undefined) return undefined;
  try {
    const elf = parseElf(bytes);
    // The loader skips a library of another architecture and keeps searching; so do we.
    return compatible(elf) ? { file: { path: normalise(path), bytes }, elf } : undefined;
  } catch (error) {
    if (error instanceof NotElfError) return undefined;
    throw error;
  }
}

function readHost(root: string, path: string): Uint8Array | undefined {
  try {
    return Deno.readFileSync(root + path);
  } catch {
    return undefined;
  }
}

/** Removes `.`, `..` and repeated slashes, like the loader's own path handling. */
export function normalise(path: string): string {
  const parts: string[] = [];
  for (const part of path.split("/")) {
    if (part === "" || part === ".") continue;
    if (part === "..") parts.pop();
    else parts.push(part);
  }
  return (path.startsWith("/") ? "/" : "") + parts.join("/");
}

function dirname(path: string): string {
  const at = path.lastIndexOf("/");
  return at <= 0 ? (path.startsWith("/") ? "/" : ".") : path.slice(0, at);
}

function basename(path: string): string {
  return path.slice(path.lastIndexOf("/") + 1);
}
