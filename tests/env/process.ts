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
 * runs on `unload` (normal exit, failed tests, Deno.exit) and on SIGTERM (and
 * SIGINT under `deno run`; `deno test` handles SIGINT itself and exits without
 * `unload`, which is what the watchdog below is for).
 * It first kills the run's containers (found by the cgroup the test dockerd
 * puts them in), then signals each daemon's process group in reverse start
 * order (dockerd and containerd get SIGTERM and a few seconds, the others
 * SIGKILL), then kills whatever still refers to the run root (containerd
 * shims name its containerd socket), unmounts what the engines and the
 * kubelet mounted there, removes the run's cgroup trees and what the node
 * leaves outside the root (teardown.ts), and removes the root. The node's
 * network namespace, with its bridge, veth pair and kube-proxy's rules, goes
 * with the last of the run's processes. When this process ends
 * without `unload`, a watchdog shell does the same with teardown.ts; and a run
 * that left anything behind anyway is swept by the next one (its root holds
 * its owner's pid).
 */

import {
  alive,
  killRunProcesses,
  madeDirs,
  removeRunDir,
  signalGroup,
  sleepSync,
  sweepAbandonedRuns,
} from "./teardown.ts";
import { exists } from "../../lib/util/exists.ts";

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
const rootPrefix = "vfp-test-";
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
    sweepAbandonedRuns("/tmp", rootPrefix);
    root = Deno.makeTempDirSync({ dir: "/tmp", prefix: rootPrefix });
    Deno.writeTextFileSync(`${root}/owner.pid`, String(Deno.pid));
    startWatchdog(root);
    createdShimSocketDirs = !exists("/run/containerd", { followLinks: false });
    for (const [mark, paths] of madeDirs) {
      if (!exists(paths.at(-1)!, { followLinks: false })) {
        Deno.writeTextFileSync(`${root}/${mark}`, "");
      }
    }
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

/**
 * The run root's name; also the parent cgroup of the test dockerd's
 * containers, which is how cleanup finds container processes.
 */
export function runName(): string {
  const dir = runRoot();
  return dir.slice(dir.lastIndexOf("/") + 1);
}

/**
 * A shell that waits for this process to end and then removes the run with
 * teardown.ts, for the ends that skip `unload`: `deno test` handles SIGINT by
 * itself and exits without one. Normal cleanup kills it (its command line
 * names the run root).
 */
function startWatchdog(dir: string): void {
  const teardown = new URL("./teardown.ts", import.meta.url).pathname;
  const script = 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; ' +
    'exec "$2" run --allow-all --no-check "$3" "$4"';
  const args = [String(Deno.pid), Deno.execPath(), teardown, dir];
  new Deno.Command("setsid", {
    args: ["sh", "-c", script, "vfp-test-watchdog", ...args],
    cwd: "/",
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn().unref();
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
    // SIGKILL cannot be ignored; a process still there 10 s later is stuck in the kernel.
    if (Date.now() > deadline + 10_000) {
      throw daemonError(daemon, `did not exit ${graceMs / 1000 + 10}s after SIGTERM and SIGKILL`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const index = daemons.findIndex((tracked) => tracked.pid === daemon.pid);
  if (index >= 0) daemons.splice(index, 1);
}

let cleanedUp = false;

/** Stops everything started through this module and removes the run root. Idempotent. */
export function cleanup(): void {
  if (cleanedUp || !root) return;
  cleanedUp = true;
  // Containers first: dockerd would give each 10 s to stop after SIGTERM.
  killRunProcesses(root, true);
  // Reverse start order: dockerd lets go of its containerd before that one goes.
  for (const daemon of [...daemons].reverse()) {
    if (!alive(daemon.pid)) continue;
    signalGroup(daemon.pid, daemon.graceMs > 0 ? "SIGTERM" : "SIGKILL");
    const deadline = Date.now() + daemon.graceMs;
    while (alive(daemon.pid) && Date.now() < deadline) sleepSync(50);
    signalGroup(daemon.pid, "SIGKILL");
  }
  removeRunDir(root);
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
