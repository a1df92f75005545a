/**
 * The synchronous, operating-system side of stopping a test run: finding and
 * killing processes, unmounting, removing directories. Synchronous because it
 * runs in the `unload` event, where no promise ever settles.
 */

import { interfaceNames } from "./network.ts";
import { exists } from "../../lib/util/exists.ts";

/** libcni's cache, which containerd 1.6 does not let us move. */
const cniCacheDir = "/var/lib/cni";
/** Where the kubelet links containers' logs (fixed in the kubelet). */
const containerLogsDir = "/var/log/containers";
/** The kubelet's device-plugin socket lives here whatever its root directory (fixed in the kubelet). */
const devicePluginsDir = "/var/lib/kubelet/device-plugins";
/** Where the test containerd (containerd.ts) keeps the CRI's pod sandboxes, in the run root. */
const criSandboxesDir = "containerd/root/io.containerd.grpc.v1.cri/sandboxes";

/**
 * Directories outside the run root that the node creates when missing, each
 * with the name of a file in the run root saying that it did not exist when
 * the run began (process.ts writes them); they are removed again when empty.
 */
export const madeDirs: [mark: string, paths: string[]][] = [
  ["made-var-lib-cni", [`${cniCacheDir}/results`, cniCacheDir]],
  ["made-var-log-containers", [containerLogsDir]],
  ["made-var-log-pods", ["/var/log/pods"]],
  ["made-var-lib-kubelet", [
    `${devicePluginsDir}/kubelet.sock`,
    devicePluginsDir,
    "/var/lib/kubelet",
  ]],
];

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
 * Removes the cgroup `name` and everything below it (the containers', the
 * kubelet's pods and QoS classes) from every hierarchy: cgroup v2 at the top,
 * v1 under each controller. A cgroup whose last process was killed a moment
 * ago may still be busy: retried for a while.
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
  for (let round = 0; round < 40; round++) {
    const left = candidates.filter((cgroup) => !removeCgroupTree(cgroup));
    if (left.length === 0) return;
    candidates.splice(0, candidates.length, ...left);
    sleepSync(50);
  }
  console.error(`tests/env: could not remove the cgroups ${candidates.join(", ")}`);
}

/** rmdir of a cgroup after its children, deepest first; true when it is gone. */
function removeCgroupTree(cgroup: string): boolean {
  try {
    for (const child of Deno.readDirSync(cgroup)) {
      if (child.isDirectory) removeCgroupTree(`${cgroup}/${child.name}`);
    }
    Deno.removeSync(cgroup);
    return true;
  } catch (error) {
    return error instanceof Deno.errors.NotFound;
  }
}

/**
 * What the node leaves outside the run root: containerd's CNI cache (libcni
 * keeps it in /var/lib/cni whatever the configuration; its files start with
 * the network's name, the run's name) and the machine's end of the node's
 * veth pair (gone with the node's namespace; deleted here in case something
 * still holds that namespace).
 */
function removeNodeLeftovers(dir: string, name: string): void {
  // Files are `<network>-<sandbox id>-<interface>`: our network's, and containerd's own
  // loopback network's for our sandboxes (which the run's containerd state lists).
  const sandboxes = new Set<string>();
  try {
    for (const entry of Deno.readDirSync(`${dir}/${criSandboxesDir}`)) sandboxes.add(entry.name);
  } catch {
    // no node in this run
  }
  try {
    for (const entry of Deno.readDirSync(`${cniCacheDir}/results`)) {
      const sandbox = entry.name.match(/-([0-9a-f]{64})-[^-]+$/)?.[1];
      if (entry.name.startsWith(`${name}-`) || (sandbox && sandboxes.has(sandbox))) {
        Deno.removeSync(`${cniCacheDir}/results/${entry.name}`);
      }
    }
  } catch {
    // no cache here
  }
  // The kubelet links every container's log there, whatever podLogsDir says.
  try {
    for (const entry of Deno.readDirSync(containerLogsDir)) {
      const link = `${containerLogsDir}/${entry.name}`;
      if (entry.isSymlink && Deno.readLinkSync(link).startsWith(`${dir}/`)) Deno.removeSync(link);
    }
  } catch {
    // no links
  }
  // Made by this run (process.ts left a mark): removed again when nothing else wrote there.
  // (The kubelet's socket is not a directory: it goes only when no kubelet runs any more.)
  const kubeletRuns = anyProcessNamed("kubelet");
  for (const [mark, paths] of madeDirs) {
    if (!exists(`${dir}/${mark}`, { followLinks: false })) continue;
    for (const path of paths) {
      if (kubeletRuns && path.endsWith(".sock")) continue;
      try {
        Deno.removeSync(path);
      } catch {
        // not empty, or gone
      }
    }
  }
  const { hostInterface } = interfaceNames(name);
  if (exists(`/sys/class/net/${hostInterface}`, { followLinks: false })) {
    new Deno.Command("ip", { args: ["link", "del", hostInterface], stdout: "null", stderr: "null" })
      .outputSync();
  }
}

function anyProcessNamed(name: string): boolean {
  for (const entry of Deno.readDirSync("/proc")) {
    // Our own kubelet may still be a zombie here: nobody reaps during unload.
    if (!/^\d+$/.test(entry.name) || !alive(Number(entry.name))) continue;
    try {
      if (Deno.readTextFileSync(`/proc/${entry.name}/comm`).trim() === name) return true;
    } catch {
      // exited meanwhile
    }
  }
  return false;
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

/**
 * Thaws every frozen cgroup of the run `name` (a paused container): a frozen
 * process keeps a SIGKILL pending, so it would outlive the run and pin its cgroups.
 */
function thawCgroups(name: string): void {
  const thaw = (cgroup: string, file: string, value: string) => {
    try {
      for (const child of Deno.readDirSync(cgroup)) {
        if (child.isDirectory) thaw(`${cgroup}/${child.name}`, file, value);
      }
      Deno.writeTextFileSync(`${cgroup}/${file}`, value);
    } catch {
      // not in this hierarchy, or gone meanwhile
    }
  };
  thaw(`/sys/fs/cgroup/freezer/${name}`, "freezer.state", "THAWED");
  thaw(`/sys/fs/cgroup/${name}`, "cgroup.freeze", "0");
}

/** Kills what is left running under `dir`, unmounts what is mounted there, removes it. */
export function removeRunDir(dir: string): void {
  thawCgroups(dir.slice(dir.lastIndexOf("/") + 1));
  killRunProcesses(dir, true);
  killRunProcesses(dir);
  unmountUnder(dir);
  const name = dir.slice(dir.lastIndexOf("/") + 1);
  removeCgroups(name);
  removeNodeLeftovers(dir, name);
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
