/**
 * veryfreshpod as the benchmark runs it: the real program from source
 * (`deno run main.ts …`, as users run `deno task start` and as the end-to-end
 * tests do), timed from the spawn to its first 200 on /readyz, and its
 * memory read from /proc.
 */
import { freePort } from "../env/process.ts";
import { startVeryfreshpod, type VeryfreshpodProcess } from "../helpers/veryfreshpod_process.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/**
 * The V8 flags the release binary is compiled with: the program measured from
 * source must manage its heap as users' binary does.
 */
import { RELEASE_V8_FLAGS } from "../../scripts/compile.ts";
export { RELEASE_V8_FLAGS };
const BARE = new URL("./bare_program.ts", import.meta.url).pathname;

/** Resident memory now and at its peak (VmHWM), in MiB. */
export interface Memory {
  readonly rssMiB: number;
  readonly peakMiB: number;
}

/** Reads VmRSS and VmHWM of a running process. */
export function memoryOf(pid: number): Memory {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kib = (field: string) => {
    const value = Number(new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(status)?.[1]);
    if (!Number.isFinite(value)) throw new Error(`no ${field} in /proc/${pid}/status`);
    return value;
  };
  return { rssMiB: kib("VmRSS") / 1024, peakMiB: kib("VmHWM") / 1024 };
}

/**
 * CPU time (user + system) a running process has used, in seconds, from
 * /proc/<pid>/stat (clock ticks of 1/100 s, as Linux reports them to users).
 */
export function cpuSecondsOf(pid: number): number {
  const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
  // The fields after the command name, which may hold spaces, in parentheses.
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  if (!Number.isFinite(ticks)) throw new Error(`no utime and stime in /proc/${pid}/stat`);
  return ticks / 100;
}

/** A started `veryfreshpod run`. */
export interface RunningProgram {
  readonly process: VeryfreshpodProcess;
  /** Milliseconds from the spawn to the first 200 on /readyz. */
  readonly readyMs: number;
  memory(): Memory;
  /** CPU seconds used since the spawn. */
  cpuSeconds(): number;
  /** SIGTERM, then waits for the exit; throws when it exits with another code than 0. */
  stop(): Promise<void>;
}

/** Starts `veryfreshpod run` against the given cluster and engine; resolves once it is ready. */
export async function startProgram(options: {
  kubeconfig: string;
  /** `--docker-host …`, or `--runtime containerd …`. */
  engineArgs: string[];
  extraArgs?: string[];
  timeoutMs?: number;
}): Promise<RunningProgram> {
  const address = `127.0.0.1:${freePort()}`;
  const started = performance.now();
  const process = startVeryfreshpod([
    "run",
    ...["--kubeconfig", options.kubeconfig, ...options.engineArgs],
    ...["--health-addr", address, ...(options.extraArgs ?? [])],
  ], { DENO_V8_FLAGS: RELEASE_V8_FLAGS });
  let exited = false;
  process.exited.then(() => exited = true);
  const deadline = started + (options.timeoutMs ?? 180_000);
  let readyMs: number | undefined;
  while (readyMs === undefined) {
    if (exited || performance.now() > deadline) {
      await process.stop();
      throw new Error(
        `veryfreshpod ${exited ? "exited" : "was not ready"} before answering 200 on ` +
          `/readyz; its log:\n${process.lines.join("\n")}`,
      );
    }
    try {
      const response = await fetch(`http://${address}/readyz`);
      await response.body?.cancel();
      if (response.status === 200) readyMs = performance.now() - started;
    } catch {
      // not listening yet
    }
    if (readyMs === undefined) await new Promise((resolve) => setTimeout(resolve, 5));
  }
  return {
    process,
    readyMs,
    memory: () => memoryOf(process.pid),
    cpuSeconds: () => cpuSecondsOf(process.pid),
    async stop() {
      const code = await process.stop();
      if (code !== 0) {
        throw new Error(`veryfreshpod exited with ${code}; its log:\n${process.lines.join("\n")}`);
      }
    },
  };
}

/** Milliseconds from the spawn to the exit of `veryfreshpod <args>`; throws unless it exits 0. */
export async function timeCommand(args: string[]): Promise<number> {
  return await timeDeno([MAIN, ...args]);
}

/** The same for a bare Deno program that prints a version: what Deno alone costs. */
export async function timeBareDeno(): Promise<number> {
  return await timeDeno([BARE]);
}

async function timeDeno(args: string[]): Promise<number> {
  const started = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-check", `--v8-flags=${RELEASE_V8_FLAGS}`, ...args],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  const elapsed = performance.now() - started;
  if (!output.success) {
    throw new Error(
      `deno run ${args.join(" ")} exited with ${output.code}: ` +
        new TextDecoder().decode(output.stderr),
    );
  }
  return elapsed;
}
