/**
 * Runs veryfreshpod from source (`deno run main.ts ...`) as a child process for
 * end-to-end tests, the way a user runs it, and collects its log lines. Tests
 * never depend on a compiled binary.
 */

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** A running veryfreshpod. */
export interface VeryfreshpodProcess extends AsyncDisposable {
  /** The process id of the deno process running main.ts (for /proc, e.g. memory). */
  readonly pid: number;
  /** Every line written to stderr so far. */
  readonly lines: string[];
  /** Waits for a stderr line matching `pattern`; fails with the log after `timeoutMs`. */
  waitForLine(pattern: RegExp, timeoutMs?: number): Promise<string>;
  /** Sends SIGTERM and resolves with the exit code (SIGKILL after 10 s). */
  stop(): Promise<number>;
  /** Resolves with the exit code when the process ends by itself. */
  readonly exited: Promise<number>;
}

/** Runs `veryfreshpod <args>` to completion; resolves with its exit code and output. */
export async function runVeryfreshpod(
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-check", MAIN, ...args],
    env,
    stdin: "null",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: output.code,
    stdout: decoder.decode(output.stdout),
    stderr: decoder.decode(output.stderr),
  };
}

/** Starts `veryfreshpod <args>` in the background. */
export function startVeryfreshpod(
  args: string[],
  env: Record<string, string> = {},
): VeryfreshpodProcess {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-check", MAIN, ...args],
    env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const lines: string[] = [];
  const waiters = new Set<() => void>();
  const collect = async (stream: ReadableStream<Uint8Array>) => {
    let rest = "";
    for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
      const parts = (rest + chunk).split("\n");
      rest = parts.pop() ?? "";
      lines.push(...parts);
      for (const wake of waiters) wake();
    }
    if (rest) lines.push(rest);
    for (const wake of waiters) wake();
  };
  const streams = Promise.all([collect(child.stderr), collect(child.stdout)]);
  const exited = child.status.then(async (status) => {
    await streams;
    return status.code;
  });

  const waitForLine = (pattern: RegExp, timeoutMs = 60_000) =>
    new Promise<string>((resolve, reject) => {
      let seen = 0;
      const check = () => {
        for (; seen < lines.length; seen++) {
          if (pattern.test(lines[seen]!)) {
            done();
            return resolve(lines[seen]!);
          }
        }
      };
      const fail = (why: string) => {
        done();
        reject(
          new Error(`${why} waiting for ${pattern}; veryfreshpod's log:\n${lines.join("\n")}`),
        );
      };
      const timer = setTimeout(() => fail(`timed out after ${timeoutMs} ms`), timeoutMs);
      const ended = () => fail("veryfreshpod exited");
      const done = () => {
        clearTimeout(timer);
        waiters.delete(check);
        exitWatch.cancelled = true;
      };
      const exitWatch = { cancelled: false };
      exited.then(() => {
        if (!exitWatch.cancelled) {
          check();
          if (!exitWatch.cancelled) ended();
        }
      });
      waiters.add(check);
      check();
    });

  let stopping: Promise<number> | undefined;
  const stop = () => {
    stopping ??= (async () => {
      try {
        child.kill("SIGTERM");
      } catch {
        // already gone
      }
      const killer = setTimeout(() => {
        try {
          child.kill("SIGKILL");
        } catch {
          // already gone
        }
      }, 10_000);
      try {
        return await exited;
      } finally {
        clearTimeout(killer);
      }
    })();
    return stopping;
  };

  return {
    pid: child.pid,
    lines,
    waitForLine,
    stop,
    exited,
    [Symbol.asyncDispose]: async () => {
      await stop();
    },
  };
}
