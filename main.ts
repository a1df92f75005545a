/**
 * veryfreshpod's entry point: the only file that touches Deno.args, signals
 * and the exit code. Everything else is in lib/.
 */
import "./lib/quiet_deprecations.ts";
import { main } from "./lib/cli/main.ts";

if (import.meta.main) {
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  const encoder = new TextEncoder();
  const code = await main(Deno.args, {
    env: (name) => Deno.env.get(name),
    stdout: (text) => Deno.stdout.writeSync(encoder.encode(text)),
    stderr: (text) => Deno.stderr.writeSync(encoder.encode(text)),
    signal: stop.signal,
  });
  // Exit now: open sockets (watches, the engine stream) must not keep us alive.
  Deno.exit(code);
}
