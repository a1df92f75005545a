/**
 * Where the test environment's programs are: Debian-packaged daemons found on
 * the PATH (plus the sbin directories, which a non-root PATH often lacks), and
 * the control plane built from tests/controlplane into a per-version cache
 * directory outside the clone, so that a fresh clone reuses an earlier build.
 */

import { cacheHome } from "./cache.ts";
import { engineBinary, isEngineProgram } from "./engines.ts";

export { cacheHome };

const controlPlaneModule = new URL("../controlplane/", import.meta.url).pathname;

/** The Go module that builds the control plane and the node's programs. */
export function controlPlaneModuleDir(): string {
  return controlPlaneModule;
}

/** The k8s.io/kubernetes version tests/controlplane/go.mod requires, e.g. `v1.34.4`. */
export function kubernetesVersion(): string {
  const goMod = Deno.readTextFileSync(`${controlPlaneModule}go.mod`);
  // Matches both `require k8s.io/kubernetes v1.x.y` and a line inside a `require (` block.
  const match = goMod.match(/^\s*(?:require\s+)?k8s\.io\/kubernetes\s+(v\d+\.\d+\.\d+\S*)/m);
  if (!match?.[1]) {
    throw new Error(`no k8s.io/kubernetes requirement in ${controlPlaneModule}go.mod`);
  }
  return match[1];
}

/** The cache directory holding this version's control-plane build. */
export function controlPlaneDir(): string {
  return `${cacheHome()}/veryfreshpod/controlplane/${kubernetesVersion()}`;
}

/**
 * True when the cache holds a complete build of the current version: build.sh
 * writes the version into `stamp` last, so a missing or different stamp means
 * an interrupted build or one made by an older build.sh.
 */
export function controlPlaneBuilt(): boolean {
  try {
    return Deno.readTextFileSync(`${controlPlaneDir()}/stamp`).trim() === kubernetesVersion();
  } catch {
    return false;
  }
}

export type ControlPlaneBinary = "etcd" | "kube-apiserver" | "kube-controller-manager";

/** Path of a built control-plane program; throws naming the fix when it is missing. */
export function controlPlaneBinary(name: ControlPlaneBinary): string {
  if (!controlPlaneBuilt()) {
    throw new Error(
      `the test control plane is not built in ${controlPlaneDir()}: ` +
        "run `deno run -A tests/env/prepare.ts` (or `deno task test`)",
    );
  }
  return `${controlPlaneDir()}/${name}`;
}

/**
 * The cache directory holding this version's node build (kubelet,
 * kube-scheduler, kube-proxy, kubectl). Separate from the control plane's, with
 * its own stamp, so that checkouts with and without the node share the cache.
 */
export function nodeBuildDir(): string {
  return `${cacheHome()}/veryfreshpod/node/${kubernetesVersion()}`;
}

/** True when the cache holds a complete node build of the current version (see controlPlaneBuilt). */
export function nodeBuilt(): boolean {
  try {
    return Deno.readTextFileSync(`${nodeBuildDir()}/stamp`).trim() === kubernetesVersion();
  } catch {
    return false;
  }
}

export type NodeBinary = "kubelet" | "kube-scheduler" | "kube-proxy" | "kubectl";

/** Path of a built node program; throws naming the fix when it is missing. */
export function nodeBinary(name: NodeBinary): string {
  if (!nodeBuilt()) {
    throw new Error(
      `the test node is not built in ${nodeBuildDir()}: ` +
        "run `deno run -A tests/env/prepare.ts` (or `deno task test`)",
    );
  }
  return `${nodeBuildDir()}/${name}`;
}

/** Where Debian's containernetworking-plugins puts the CNI plugins. */
export const cniBinDir = "/usr/lib/cni";

// sbin is often missing from a non-login PATH; /usr/local/go/bin is where Go's own
// installer puts `go`.
const extraDirs = ["/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/go/bin"];

/** The absolute path of `name` on the PATH or in an sbin directory, if any. */
export function findBinary(name: string): string | undefined {
  const dirs = [...(Deno.env.get("PATH") ?? "").split(":").filter((d) => d), ...extraDirs];
  for (const dir of dirs) {
    const path = `${dir}/${name}`;
    try {
      const info = Deno.statSync(path);
      if (info.isFile && ((info.mode ?? 0) & 0o111) !== 0) return path;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * Like findBinary, but throws naming the fix. The engines' programs (dockerd,
 * docker, containerd, ctr, the shim, runc) come from this run's engine set
 * (engines.ts), never from the PATH.
 */
export function binary(name: string): string {
  if (isEngineProgram(name)) return engineBinary(name);
  const path = findBinary(name);
  if (!path) {
    throw new Error(
      `${name} is not installed: run \`deno run -A tests/env/prepare.ts\` (or \`deno task test\`)`,
    );
  }
  return path;
}

/** Where Debian's busybox-static puts its binary. */
export const busyboxPath = "/bin/busybox";

/**
 * True when `path` is an ELF executable without a program interpreter, i.e.
 * statically linked: only such a binary runs in a `FROM scratch` image.
 */
export function isStaticExecutable(path: string): boolean {
  let bytes: Uint8Array;
  try {
    bytes = Deno.readFileSync(path);
  } catch {
    return false;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const isElf64 = bytes.length > 64 && view.getUint32(0) === 0x7f454c46 && bytes[4] === 2;
  if (!isElf64) return false;
  const little = bytes[5] === 1;
  const phoff = Number(view.getBigUint64(32, little));
  const phentsize = view.getUint16(54, little);
  const phnum = view.getUint16(56, little);
  const ptInterp = 3;
  for (let i = 0; i < phnum; i++) {
    if (view.getUint32(phoff + i * phentsize, little) === ptInterp) return false;
  }
  return true;
}
