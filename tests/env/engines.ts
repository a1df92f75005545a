/**
 * Which container engines a test run uses, and where their programs are.
 *
 * Two sets. Today's engines, the default: Docker 29 with its CLI and buildx,
 * containerd 2.x and runc built from tests/engines (versions pinned in
 * tests/engines/versions.env) into a per-version cache directory. The
 * compatibility set, chosen with `VFP_TEST_ENGINES=compat`: Debian's
 * docker.io (Docker 20.10) and containerd 1.6, by their packages' paths,
 * never whatever else is on the PATH (a stray docker CLI in /usr/local/bin
 * would otherwise talk to the daemon under test). `deno task test` runs a
 * subset of the end-to-end tests a second time with the compatibility set;
 * the README's Testing section says which.
 */

import { cacheHome } from "./cache.ts";

/** The engine programs a run starts or calls. */
export type EngineProgram =
  | "dockerd"
  | "docker"
  | "containerd"
  | "ctr"
  | "containerd-shim-runc-v2"
  | "runc";

const enginePrograms: readonly string[] = [
  "dockerd",
  "docker",
  "containerd",
  "ctr",
  "containerd-shim-runc-v2",
  "runc",
];

export function isEngineProgram(name: string): name is EngineProgram {
  return enginePrograms.includes(name);
}

export type EngineSet = "today" | "compat";

/** The variable that picks the engine set. */
export const ENGINE_SET_VARIABLE = "VFP_TEST_ENGINES";

/** The set when `VFP_TEST_ENGINES` is unset. */
export const DEFAULT_ENGINE_SET: EngineSet = "today";

/** The engine set of this process, from `VFP_TEST_ENGINES` (`today` or `compat`). */
export function engineSet(): EngineSet {
  const value = Deno.env.get(ENGINE_SET_VARIABLE) ?? "";
  if (value === "") return DEFAULT_ENGINE_SET;
  if (value === "today") return "today";
  if (value === "compat") return "compat";
  throw new Error(
    `${ENGINE_SET_VARIABLE}=${JSON.stringify(value)} names no engine set: use "today" or "compat"`,
  );
}

const versionsFile = new URL("../engines/versions.env", import.meta.url).pathname;

/** The pins of tests/engines/versions.env (`DOCKER_VERSION` → `29.8.1`, …). */
export function engineVersions(): Record<string, string> {
  const versions: Record<string, string> = {};
  for (const line of Deno.readTextFileSync(versionsFile).split("\n")) {
    const match = line.match(/^([A-Z_]+)=(\S+)$/);
    if (match?.[1] && match[2]) versions[match[1]] = match[2];
  }
  return versions;
}

/** The Go module directory with build.sh and versions.env. */
export function enginesModuleDir(): string {
  return new URL("../engines/", import.meta.url).pathname;
}

/** The cache directory of today's engines: its name is their versions. */
export function enginesDir(): string {
  const v = engineVersions();
  const name = [
    `docker-${v.DOCKER_VERSION}`,
    `cli-${v.DOCKER_CLI_VERSION}`,
    `buildx-${v.BUILDX_VERSION}`,
    `containerd-${v.CONTAINERD_VERSION}`,
    `runc-${v.RUNC_VERSION}`,
  ].join("-");
  return `${cacheHome()}/veryfreshpod/engines/${name}`;
}

/** True when the cache holds a complete build of today's engines (build.sh writes the stamp last). */
export function enginesBuilt(): boolean {
  const dir = enginesDir();
  try {
    return Deno.readTextFileSync(`${dir}/stamp`).trim() === dir.slice(dir.lastIndexOf("/") + 1);
  } catch {
    return false;
  }
}

/** Where Debian's docker.io, containerd and runc packages put their programs. */
const debianPaths: Record<EngineProgram, string> = {
  dockerd: "/usr/sbin/dockerd",
  docker: "/usr/bin/docker",
  containerd: "/usr/bin/containerd",
  ctr: "/usr/bin/ctr",
  "containerd-shim-runc-v2": "/usr/bin/containerd-shim-runc-v2",
  runc: "/usr/sbin/runc",
};

/** The Debian packages of the compatibility set, for prepare.ts. */
export const compatPackages: Record<EngineProgram, string> = {
  dockerd: "docker.io",
  docker: "docker.io",
  containerd: "containerd",
  ctr: "containerd",
  "containerd-shim-runc-v2": "containerd",
  runc: "runc",
};

/** The compatibility set's program, whether or not it is installed. */
export function compatBinary(name: EngineProgram): string {
  return debianPaths[name];
}

/** The path of an engine program of this run's set; throws naming the fix when it is missing. */
export function engineBinary(name: EngineProgram): string {
  if (engineSet() === "compat") {
    const path = debianPaths[name];
    try {
      if (Deno.statSync(path).isFile) return path;
    } catch {
      // missing: say so below
    }
    throw new Error(
      `${path} (Debian ${compatPackages[name]}, the compatibility engines) is not installed: ` +
        "run `deno run -A tests/env/prepare.ts` (or `deno task test`)",
    );
  }
  if (!enginesBuilt()) {
    throw new Error(
      `today's engines are not built in ${enginesDir()}: ` +
        "run `deno run -A tests/env/prepare.ts` (or `deno task test`)",
    );
  }
  return `${enginesDir()}/${name}`;
}

/**
 * The PATH for the engine daemons: dockerd and containerd find runc and the
 * shim through it, so this set's directory comes first.
 */
export function enginePath(): string {
  const system = "/usr/local/sbin:/usr/sbin:/usr/bin:/sbin:/bin";
  if (engineSet() === "compat") return system;
  return `${engineBinary("runc").replace(/\/runc$/, "")}:${system}`;
}

/** The directory of the docker CLI's plugins (buildx) of this set, if it has one. */
export function cliPluginsDir(): string | undefined {
  return engineSet() === "today" ? `${enginesDir()}/cli-plugins` : undefined;
}
