/**
 * veryfreshpod's image for the tests that run it as a pod. The compiled
 * binary cannot be built here (`deno compile` downloads its runtime from a
 * host these machines cannot reach), so the image holds what `deno task
 * start` needs instead: the deno executable with its ELF interpreter and
 * shared libraries (found by the installer's own resolver), the source, and
 * the npm packages deno.lock names, as a DENO_DIR that is read-only like the
 * rest of the root filesystem (deno runs with `--cached-only --frozen`, and
 * falls back to in-memory caches where it cannot write). The entrypoint,
 * /usr/local/bin/veryfreshpod, is a busybox shell script that runs main.ts
 * with the container's arguments. The image is written into the node's
 * containerd by the installer's own OCI writer and given to install with
 * `--image`; everything else is what users get.
 */
import { ContainerdWriter } from "../../lib/engine/containerd_writer.ts";
import { ensureContainerdImage } from "../../lib/install/containerd_image.ts";
import { MACHINES } from "../../lib/install/elf.ts";
import { resolveClosure } from "../../lib/install/libraries.ts";
import {
  closureFiles,
  IMAGE_BIN_DIR,
  libraryPathEnv,
  type Rootfs,
  tarDigest,
  treeEntries,
} from "../../lib/install/rootfs.ts";
import { type TarEntry, writeTar } from "../../lib/install/tar.ts";
import { busyboxPath } from "../env/paths.ts";

const repository = new URL("../../", import.meta.url).pathname;
const sources = ["main.ts", "deno.json", "deno.lock", "lib", "manifest"];
const APP = "/app";
const DENO_DIR = "/deno-dir";

const entrypointScript = `#!/bin/sh
exec ${IMAGE_BIN_DIR}/deno run --quiet --allow-all --cached-only --frozen \\
  --config ${APP}/deno.json ${APP}/main.ts "$@"
`;

/** Adds `hostPath` (file, directory tree or symlink) to `entries` as `imagePath`. */
function addTree(entries: TarEntry[], hostPath: string, imagePath: string): void {
  const info = Deno.lstatSync(hostPath);
  if (info.isSymlink) {
    entries.push({
      path: imagePath,
      type: "symlink",
      mode: 0o777,
      target: Deno.readLinkSync(hostPath),
    });
  } else if (info.isDirectory) {
    entries.push({ path: imagePath, type: "directory", mode: 0o755 });
    for (
      const entry of [...Deno.readDirSync(hostPath)].sort((a, b) => a.name.localeCompare(b.name))
    ) {
      addTree(entries, `${hostPath}/${entry.name}`, `${imagePath}/${entry.name}`);
    }
  } else {
    entries.push({
      path: imagePath,
      type: "file",
      mode: (info.mode ?? 0o644) & 0o777,
      bytes: Deno.readFileSync(hostPath),
    });
  }
}

/** The npm cache directory of the DENO_DIR this process uses. */
async function npmCache(): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json"],
    stdout: "piped",
    stderr: "null",
  }).output();
  const info = JSON.parse(new TextDecoder().decode(output.stdout)) as { npmCache: string };
  return `${info.npmCache}/registry.npmjs.org`;
}

/** The package names deno.lock pins (`@scope/name` or `name`). */
function lockedPackages(): string[] {
  const lock = JSON.parse(Deno.readTextFileSync(`${repository}deno.lock`)) as {
    npm?: Record<string, unknown>;
  };
  const names = Object.keys(lock.npm ?? {}).map((key) => key.slice(0, key.indexOf("@", 1)));
  return [...new Set(names)].sort();
}

/** The root filesystem described above. */
export async function buildPodRootfs(): Promise<Rootfs> {
  const closure = resolveClosure(Deno.execPath());
  const files = closureFiles(closure, `${IMAGE_BIN_DIR}/deno`);
  files.set("/bin/busybox", Deno.readFileSync(busyboxPath));
  const entries = treeEntries(files, ["/tmp", "/etc", APP, DENO_DIR]);
  const text = (value: string) => new TextEncoder().encode(value);
  entries.push(
    { path: "/bin/sh", type: "symlink", mode: 0o777, target: "busybox" },
    {
      path: `${IMAGE_BIN_DIR}/veryfreshpod`,
      type: "file",
      mode: 0o755,
      bytes: text(entrypointScript),
    },
    {
      path: "/etc/passwd",
      type: "file",
      mode: 0o644,
      bytes: text("root:x:0:0:root:/tmp:/bin/sh\n"),
    },
    { path: "/etc/group", type: "file", mode: 0o644, bytes: text("root:x:0:\n") },
  );
  for (const source of sources) addTree(entries, `${repository}${source}`, `${APP}/${source}`);
  const cache = await npmCache();
  const npmDir = `${DENO_DIR}/npm/registry.npmjs.org`;
  entries.push(
    { path: `${DENO_DIR}/npm`, type: "directory", mode: 0o755 },
    { path: npmDir, type: "directory", mode: 0o755 },
  );
  const scopes = new Set<string>();
  for (const name of lockedPackages()) {
    const scope = name.includes("/") ? name.slice(0, name.indexOf("/")) : undefined;
    if (scope && !scopes.has(scope)) {
      scopes.add(scope);
      entries.push({ path: `${npmDir}/${scope}`, type: "directory", mode: 0o755 });
    }
    try {
      addTree(entries, `${cache}/${name}`, `${npmDir}/${name}`);
    } catch (error) {
      // Optional packages of other platforms are locked but never downloaded.
      if (!(error instanceof Deno.errors.NotFound)) throw error;
    }
  }

  const tar = writeTar(entries);
  return {
    tar,
    digest: tarDigest(tar),
    entrypoint: `${IMAGE_BIN_DIR}/veryfreshpod`,
    env: [
      ...libraryPathEnv(closure),
      `DENO_DIR=${DENO_DIR}`,
      "DENO_NO_UPDATE_CHECK=1",
    ],
    architecture: MACHINES[closure.elf.machine]?.goarch,
    files: entries.filter((entry) => entry.type === "file").map((entry) => entry.path),
  };
}

/** Builds the image and writes it into the containerd at `socket` as `reference`. */
export async function importPodImage(
  socket: string,
  namespace: string,
  reference: string,
): Promise<void> {
  const rootfs = await buildPodRootfs();
  const client = new ContainerdWriter(socket, namespace);
  try {
    await ensureContainerdImage(client, rootfs, reference, {
      architecture: rootfs.architecture ?? "amd64",
    });
  } finally {
    client.close();
  }
}
