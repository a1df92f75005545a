/**
 * Starting daemons for the tests, and making sure none outlives the test run.
 *
 * Every daemon runs under one temporary root directory of this process
 * (`runRoot()`), in a session and process group of its own (`setsid`), with
 * its output in a log file. The children are unref'd, so they never keep
 * `deno test` from exiting; since they outlive the test that started them,
 * tests that use them turn off the op and resource sanitizers (see mod.ts).
 *
 * Cleanup is synchronous, because the `unload` event allows nothing else: it
 * runs on `unload` (normal exit, failed tests, Deno.exit) and on SIGINT/SIGTERM.
 * It signals each daemon's process group (the daemons that manage containers
 * get SIGTERM and a few seconds to stop them, the others SIGKILL), then kills
 * whatever is left that still refers to the run root (containerd shims, whose
 * command line names the containerd socket, and container processes, whose
 * root directory lies in the daemon's data root), unmounts what the container
 * engines mounted under the root, and removes the root.
 */

export interface Daemon {
  readonly name: string;
  readonly pid: number;
  readonly log: string;
  /** Set once the process has exited; its exit code. */
  exitCode?: number;
}

interface Tracked extends Daemon {
  /** Milliseconds to wait after SIGTERM before SIGKILL; 0 means SIGKILL at once. */
  readonly graceMs: number;
}

const daemons: Tracked[] = [];
let root: string | undefined;

/**
 * containerd 1.6 puts shim sockets in /run/containerd/s whatever its config
 * says. Where that directory did not exist before, cleanup removes it again
 * (only when empty, so that nothing of a containerd started meanwhile goes).
 */
const shimSocketDirs = ["/run/containerd/s", "/run/containerd"];
let createdShimSocketDirs = false;

/**
 * The temporary directory holding everything this test run starts. It is
 * under /tmp rather than $TMPDIR because unix socket paths must stay short.
 */
export function runRoot(): string {
  if (!root) {
    root = Deno.makeTempDirSync({ dir: "/tmp", prefix: "vfp-test-" });
    createdShimSocketDirs = !exists("/run/containerd");
    globalThis.addEventListener("unload", cleanup);
    for (const signal of ["SIGINT", "SIGTERM"] as const) {
      Deno.addSignalListener(signal, () => {
        cleanup();
        Deno.exit(signal === "SIGINT" ? 130 : 143);
      });
    }
  }
  return root;
}

/** A fresh directory under the run root. */
export function makeDir(name: string): string {
  const dir = `${runRoot()}/${name}`;
  Deno.mkdirSync(dir, { recursive: true });
  return dir;
}

export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Grace period after SIGTERM at cleanup; omit to SIGKILL at once. */
  graceMs?: number;
}

/** Starts `command args…` in its own process group, output to `<root>/logs/<name>.log`. */
export function spawnDaemon(
  name: string,
  command: string,
  args: string[],
  options: SpawnOptions = {},
): Daemon {
  const log = `${makeDir("logs")}/${name}.log`;
  // setsid execs in place (a child of deno is no group leader), and so does sh:
  // the pid we get is the daemon's, and it leads its own process group.
  const child = new Deno.Command("setsid", {
    args: ["sh", "-c", 'exec "$@" >"$0" 2>&1', log, command, ...args],
    env: { ...options.env, NO_PROXY: "127.0.0.1,localhost", no_proxy: "127.0.0.1,localhost" },
    cwd: options.cwd,
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  child.unref();
  const daemon: Tracked = { name, pid: child.pid, log, graceMs: options.graceMs ?? 0 };
  daemons.push(daemon);
  child.status.then((status) => daemon.exitCode = status.code);
  return daemon;
}

/** The last `lines` lines of a daemon's log, for error messages. */
export function logTail(daemon: Daemon, lines = 40): string {
  try {
    const text = Deno.readTextFileSync(daemon.log).trimEnd();
    return text.split("\n").slice(-lines).join("\n");
  } catch (error) {
    return `(no log: ${error})`;
  }
}

function daemonError(daemon: Daemon, what: string): Error {
  return new Error(
    `${daemon.name} ${what}; last lines of ${daemon.log}:\n${logTail(daemon)}`,
  );
}

/**
 * Polls `ready` until it returns true; throws with the daemon's log tail when
 * the daemon exits first or `timeoutMs` passes. Errors thrown by `ready` count
 * as "not yet" (connection refused while the daemon starts).
 */
export async function waitReady(
  daemon: Daemon,
  ready: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let lastError = "";
  while (true) {
    if (daemon.exitCode !== undefined) {
      throw daemonError(daemon, `exited with code ${daemon.exitCode} while starting`);
    }
    try {
      if (await ready()) return;
    } catch (error) {
      lastError = error instanceof Error ? error.message : String(error);
    }
    if (Date.now() > deadline) {
      const why = lastError ? ` (last check: ${lastError})` : "";
      throw daemonError(daemon, `was not ready after ${timeoutMs / 1000}s${why}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

/** A loopback port that was free a moment ago. */
export function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

/** Runs a command to completion; returns stdout, throws with stderr on failure. */
export async function run(
  command: string,
  args: string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<string> {
  const output = await new Deno.Command(command, {
    args,
    env: options.env,
    cwd: options.cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  if (!output.success) {
    const stderr = decoder.decode(output.stderr).trim();
    throw new Error(`\`${command} ${args.join(" ")}\` failed (${output.code}): ${stderr}`);
  }
  return decoder.decode(output.stdout);
}

/**
 * Stops one daemon now (SIGTERM to its process group, SIGKILL after `graceMs`)
 * and waits until it has exited; for tests that restart a daemon.
 */
export async function stopDaemon(daemon: Daemon, graceMs = 10_000): Promise<void> {
  signalGroup(daemon.pid, "SIGTERM");
  const deadline = Date.now() + graceMs;
  while (daemon.exitCode === undefined) {
    if (Date.now() > deadline) signalGroup(daemon.pid, "SIGKILL");
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const index = daemons.findIndex((tracked) => tracked.pid === daemon.pid);
  if (index >= 0) daemons.splice(index, 1);
}

function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** False for a pid that is gone or a zombie (nobody reaps our children during unload). */
function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

function signalGroup(pid: number, signal: Deno.Signal): void {
  for (const target of [-pid, pid]) {
    try {
      Deno.kill(target, signal);
    } catch {
      // already gone
    }
  }
}

/** Pids of processes other than us whose command line, root or cwd lies under `dir`. */
function processesUnder(dir: string): number[] {
  const found: number[] = [];
  for (const entry of Deno.readDirSync("/proc")) {
    const pid = Number(entry.name);
    if (!Number.isInteger(pid) || pid === Deno.pid || !alive(pid)) continue;
    try {
      const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`);
      const links = ["root", "cwd"].map((link) => {
        try {
          return Deno.readLinkSync(`/proc/${pid}/${link}`);
        } catch {
          return "";
        }
      });
      if ([cmdline, ...links].some((text) => text.includes(dir))) found.push(pid);
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

function unmountUnder(dir: string): void {
  const mountPoints = Deno.readTextFileSync("/proc/self/mountinfo").split("\n")
    .map((line) => line.split(" ")[4] ?? "")
    .filter((point) => point.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
  for (const point of mountPoints) {
    new Deno.Command("umount", { args: ["-l", point], stdout: "null", stderr: "null" })
      .outputSync();
  }
}

let cleanedUp = false;

/** Stops everything started through this module and removes the run root. Idempotent. */
export function cleanup(): void {
  if (cleanedUp || !root) return;
  cleanedUp = true;
  // Reverse start order: dockerd stops its containers before its containerd goes.
  for (const daemon of [...daemons].reverse()) {
    if (!alive(daemon.pid)) continue;
    signalGroup(daemon.pid, daemon.graceMs > 0 ? "SIGTERM" : "SIGKILL");
    const deadline = Date.now() + daemon.graceMs;
    while (alive(daemon.pid) && Date.now() < deadline) sleepSync(50);
    signalGroup(daemon.pid, "SIGKILL");
  }
  for (let round = 0; round < 20; round++) {
    const leftovers = processesUnder(root);
    if (leftovers.length === 0) break;
    for (const pid of leftovers) signalGroup(pid, "SIGKILL");
    sleepSync(50);
  }
  unmountUnder(root);
  try {
    Deno.removeSync(root, { recursive: true });
  } catch (error) {
    console.error(`tests/env: could not remove ${root}: ${error}`);
  }
  if (createdShimSocketDirs) {
    for (const dir of shimSocketDirs) {
      try {
        Deno.removeSync(dir);
      } catch {
        // not empty, or never made
      }
    }
  }
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
