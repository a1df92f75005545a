import assert from "node:assert/strict";
import { ExitCode, UserError } from "../util/errors.ts";
import { followStream } from "./event_stream.ts";

async function* items(values: number[], then?: Error): AsyncGenerator<number> {
  for (const value of values) yield value;
  if (then) throw then;
}

async function collect(stream: AsyncIterable<number>): Promise<number[]> {
  const seen: number[] = [];
  for await (const value of stream) seen.push(value);
  return seen;
}

const WHERE = "the daemon";

Deno.test("a stream the daemon ends is a UserError that says so", async () => {
  const seen: number[] = [];
  await assert.rejects(
    async () => {
      for await (
        const value of followStream(WHERE, new AbortController().signal, () => items([1, 2]))
      ) {
        seen.push(value);
      }
    },
    (error: unknown) => {
      assert.ok(error instanceof UserError);
      assert.equal(error.exitCode, ExitCode.engine);
      assert.equal(error.message, "the daemon closed the event stream");
      return true;
    },
  );
  assert.deepEqual(seen, [1, 2]);
});

Deno.test("a stream that breaks is 'lost', and a UserError passes as it is", async () => {
  const signal = new AbortController().signal;
  await assert.rejects(
    () => collect(followStream(WHERE, signal, () => items([1], new Error("socket closed")))),
    /^UserError: Lost the event stream of the daemon: socket closed$/,
  );
  const own = new UserError("already explained", ExitCode.engine);
  await assert.rejects(
    () => collect(followStream(WHERE, signal, () => items([], own))),
    (e) => e === own,
  );
  await assert.rejects(
    () => collect(followStream(WHERE, signal, () => Promise.reject(own))),
    (e) => e === own,
  );
});

Deno.test("after an abort the stream returns quietly, whatever happens next", async () => {
  const abort = new AbortController();
  async function* breaksOnAbort(): AsyncGenerator<number> {
    yield 1;
    abort.abort();
    throw new Error("cancelled");
  }
  assert.deepEqual(await collect(followStream(WHERE, abort.signal, breaksOnAbort)), [1]);
  // Aborted before it starts: nothing is opened.
  let opened = false;
  const open = () => {
    opened = true;
    return items([1]);
  };
  assert.deepEqual(await collect(followStream(WHERE, abort.signal, open)), []);
  assert.equal(opened, false);
  // Ended cleanly after the abort: no "closed" error either.
  const late = new AbortController();
  async function* endsAfterAbort(): AsyncGenerator<number> {
    yield 1;
    late.abort();
  }
  assert.deepEqual(await collect(followStream(WHERE, late.signal, endsAfterAbort)), [1]);
});

Deno.test("a consumer that stops early ends the source", async () => {
  let finished = false;
  async function* source(): AsyncGenerator<number> {
    try {
      yield 1;
      yield 2;
    } finally {
      finished = true;
    }
  }
  for await (const _ of followStream(WHERE, new AbortController().signal, source)) break;
  assert.equal(finished, true);
});
