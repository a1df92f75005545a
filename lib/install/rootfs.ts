/**
 * The root filesystem of veryfreshpod's own image: its executable, the ELF
 * interpreter and shared libraries that executable needs (found on this
 * host), an empty /tmp, and the two /etc files libc looks at. Nothing else:
 * no shell, no package manager, nothing to patch.
 */
import { type Closure, normalise, resolveClosure } from "./libraries.ts";
import { MACHINES } from "./elf.ts";
import { createHash } from "node:crypto";
import { type TarEntry, writeTar } from "./tar.ts";

/** Where the executable goes in the image; the image's entrypoint. */
export const IMAGE_BIN_DIR = "/usr/local/bin";

/** A root filesystem ready to import. */
export interface Rootfs {
  /** The tar archive. */
  readonly tar: Uint8Array<ArrayBuffer>;
  /**
   * `sha256:<hex>` of the archive, hashed once when it is built: the same
   * executable and libraries give the same digest. The Docker image records it
   * (ROOTFS_LABEL), and it is the containerd image's layer digest.
   */
  readonly digest: string;
  /** The absolute path of the executable in the image. */
  readonly entrypoint: string;
  /** `KEY=value` settings the image needs (the library directories). */
  readonly env: string[];
  /** Kubernetes' name for the executable's architecture (`amd64`, `arm64`), when known. */
  readonly architecture: string | undefined;
  /** Every file's path in the image, for messages and tests. */
  readonly files: string[];
}

/** What to build from. */
export interface RootfsOptions {
  /** The executable's path on this host. */
  readonly executable: string;
  /**
   * Its name in the image; `veryfreshpod` by default. (Programs like busybox
   * choose what to do by their own name.)
   */
  readonly name?: string;
  /** Prefix of every host path, for tests. */
  readonly root?: string;
}

/** Builds the root filesystem for `options.executable`. */
export function buildRootfs(options: RootfsOptions): Rootfs {
  const closure = resolveClosure(options.executable, { root: options.root });
  return rootfsFromClosure(closure, options.name ?? "veryfreshpod");
}

/** The archive for a resolved closure. */
export function rootfsFromClosure(closure: Closure, name: string): Rootfs {
  const entrypoint = `${IMAGE_BIN_DIR}/${name}`;
  const entries = treeEntries(closureFiles(closure, entrypoint), ["/tmp", "/etc"]);
  // getpwuid() and friends read these; without them some libraries log errors.
  entries.push(
    {
      path: "/etc/passwd",
      type: "file",
      mode: 0o644,
      bytes: text(
        "root:x:0:0:root:/tmp:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\n",
      ),
    },
    { path: "/etc/group", type: "file", mode: 0o644, bytes: text("root:x:0:\nnogroup:x:65534:\n") },
  );

  const tar = writeTar(entries);
  return {
    tar,
    digest: tarDigest(tar),
    entrypoint,
    env: libraryPathEnv(closure),
    architecture: MACHINES[closure.elf.machine]?.goarch,
    files: entries.filter((e) => e.type === "file").map((e) => e.path),
  };
}

/** The closure's files at their paths in the image, the executable at `entrypoint`. */
export function closureFiles(closure: Closure, entrypoint: string): Map<string, Uint8Array> {
  const files = new Map<string, Uint8Array>([[entrypoint, closure.executable.bytes]]);
  if (closure.interpreter) {
    files.set(normalise(closure.interpreter.path), closure.interpreter.bytes);
  }
  for (const library of closure.libraries) files.set(normalise(library.path), library.bytes);
  return files;
}

/**
 * The image has no ld.so.cache: `LD_LIBRARY_PATH` points the loader at exactly
 * the directories the closure's libraries are in (none when it has none).
 */
export function libraryPathEnv(closure: Closure): string[] {
  const dirs = [...new Set(closure.libraries.map((lib) => parent(normalise(lib.path))))];
  return dirs.length > 0 ? [`LD_LIBRARY_PATH=${dirs.join(":")}`] : [];
}

/**
 * A directory entry for `directories` and every parent of the files, then the
 * files, executable, each list in order.
 */
export function treeEntries(
  files: ReadonlyMap<string, Uint8Array>,
  directories: readonly string[],
): TarEntry[] {
  const all = new Set(directories);
  for (const path of files.keys()) {
    for (let dir = parent(path); dir !== "/"; dir = parent(dir)) all.add(dir);
  }
  const entries: TarEntry[] = [...all].sort(byteOrder).map((path) => ({
    path,
    type: "directory",
    // /tmp is shared scratch space, sticky like on any Linux system.
    mode: path === "/tmp" ? 0o1777 : 0o755,
  }));
  for (const [path, bytes] of [...files].sort(([a], [b]) => byteOrder(a, b))) {
    entries.push({ path, type: "file", mode: 0o755, bytes });
  }
  return entries;
}

/**
 * Orders paths by their UTF-8 bytes, as `LC_ALL=C sort` does: the same files
 * give the same archive (and image digest) whatever the machine's locale,
 * which `localeCompare` would not.
 */
export function byteOrder(a: string, b: string): number {
  const [x, y] = [text(a), text(b)];
  for (let i = 0; i < Math.min(x.length, y.length); i++) {
    if (x[i] !== y[i]) return x[i]! - y[i]!;
  }
  return x.length - y.length;
}

/** `sha256:<hex>` of an archive. */
export function tarDigest(tar: Uint8Array): string {
  return `sha256:${createHash("sha256").update(tar).digest("hex")}`;
}

function parent(path: string): string {
  const at = path.lastIndexOf("/");
  return at <= 0 ? "/" : path.slice(0, at);
}

function text(value: string): Uint8Array {
  return new TextEncoder().encode(value);
}
