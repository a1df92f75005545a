/**
 * The synchronous, operating-system side of stopping a test run: finding and
 * killing processes, unmounting, removing directories. Synchronous because it
 * runs in the `unload` event, where no promise ever settles.
 */

export function sleepSync(ms: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, ms);
}

/** False for a pid that is gone or a zombie (nobody reaps our children during unload). */
export function alive(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return stat.slice(stat.lastIndexOf(")") + 2)[0] !== "Z";
  } catch {
    return false;
  }
}

export function signalGroup(pid: number, signal: Deno.Signal): void {
  for (const target of [-pid, pid]) {
    try {
      Deno.kill(target, signal);
    } catch {
      // already gone
    }
  }
}

/**
 * Pids of processes other than us that belong to the run in `dir`: their
 * command line, root or cwd lies under it (daemons, containerd shims), or they
 * sit in the run's cgroup (containers: their root link only says `/`).
 */
function processesUnder(dir: string, containersOnly = false): number[] {
  const name = dir.slice(dir.lastIndexOf("/") + 1);
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
      const cgroups = Deno.readTextFileSync(`/proc/${pid}/cgroup`);
      if (
        (!containersOnly && [cmdline, ...links].some((text) => text.includes(`${dir}/`))) ||
        cgroups.includes(`:/${name}/`) || cgroups.includes(`:/${name}\n`)
      ) {
        found.push(pid);
      }
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

/**
 * Removes the cgroup `name` and its children (the containers' cgroups) from
 * every hierarchy: cgroup v2 at the top, v1 under each controller.
 */
function removeCgroups(name: string): void {
  const base = "/sys/fs/cgroup";
  const candidates = [`${base}/${name}`];
  try {
    for (const entry of Deno.readDirSync(base)) {
      if (entry.isDirectory) candidates.push(`${base}/${entry.name}/${name}`);
    }
  } catch {
    return;
  }
  for (const cgroup of candidates) {
    try {
      for (const child of Deno.readDirSync(cgroup)) {
        if (child.isDirectory) Deno.removeSync(`${cgroup}/${child.name}`);
      }
      Deno.removeSync(cgroup);
    } catch {
      // not in this hierarchy, or still busy
    }
  }
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

/**
 * SIGKILLs the processes of the run in `dir` (see processesUnder), or only its
 * containers: their shims must live on to report the exits to the engine.
 */
export function killRunProcesses(dir: string, containersOnly = false): void {
  for (let round = 0; round < 20; round++) {
    const targets = processesUnder(dir, containersOnly);
    if (targets.length === 0) return;
    for (const pid of targets) signalGroup(pid, "SIGKILL");
    sleepSync(50);
  }
}

/** Kills what is left running under `dir`, unmounts what is mounted there, removes it. */
export function removeRunDir(dir: string): void {
  killRunProcesses(dir, true);
  killRunProcesses(dir);
  unmountUnder(dir);
  removeCgroups(dir.slice(dir.lastIndexOf("/") + 1));
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch (error) {
    console.error(`tests/env: could not remove ${dir}: ${error}`);
  }
}

/**
 * Removes the run roots of test processes that died without cleaning up
 * (SIGKILL, a crash), with whatever they left running.
 */
export function sweepAbandonedRuns(parent: string, prefix: string): void {
  for (const entry of Deno.readDirSync(parent)) {
    if (!entry.isDirectory || !entry.name.startsWith(prefix)) continue;
    const dir = `${parent}/${entry.name}`;
    let owner = NaN;
    try {
      owner = Number(Deno.readTextFileSync(`${dir}/owner.pid`));
    } catch {
      // no owner file: being created right now, or not ours
    }
    if (Number.isInteger(owner) && !alive(owner)) removeRunDir(dir);
  }
}

/**
 * Where the test process dies without running its cleanup (`deno test` ends
 * itself on SIGINT without an `unload` event; SIGKILL), the watchdog that
 * process.ts starts runs this module to remove the run.
 */
if (import.meta.main) {
  const [dir] = Deno.args;
  if (!dir || !/^\/tmp\/vfp-test-[^/]+$/.test(dir)) {
    console.error("usage: teardown.ts /tmp/vfp-test-<id>");
    Deno.exit(2);
  }
  removeRunDir(dir);
}
