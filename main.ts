/**
 * veryfreshpod's entry point: the only file that touches Deno.args, signals
 * and the exit code. Everything else is in lib/.
 */
import "./lib/util/quiet_deprecations.ts";
import { main } from "./lib/cli/main.ts";

if (import.meta.main) {
  const stop = new AbortController();
  // The first signal stops gracefully; a second one (an impatient Ctrl-C) ends at once.
  const onSignal = () => stop.signal.aborted ? Deno.exit(130) : stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const encoder = new TextEncoder();
  // A stray rejection deep inside a library (a socket closing mid-read) must not end a
  // long-running watch loop: report it in one line and go on.
  globalThis.addEventListener("unhandledrejection", (event) => {
    event.preventDefault();
    const reason = event.reason instanceof Error ? event.reason.message : String(event.reason);
    Deno.stderr.writeSync(encoder.encode(`warning: ignored an unhandled error: ${reason}\n`));
  });
  const code = await main(Deno.args, {
    env: (name) => Deno.env.get(name),
    stdout: (text) => Deno.stdout.writeSync(encoder.encode(text)),
    stderr: (text) => Deno.stderr.writeSync(encoder.encode(text)),
    signal: stop.signal,
    os: Deno.build.os,
  });
  // Exit now: open sockets (watches, the engine stream) must not keep us alive.
  Deno.exit(code);
}
