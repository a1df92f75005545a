import assert from "node:assert/strict";
import {
  type DecodedLine,
  decodeJsonLines,
  JsonLineDecoder,
  toEngineEvent,
  unreadableEvent,
} from "./docker_events.ts";

const TAG = {
  Type: "image",
  Action: "tag",
  Actor: { ID: "sha256:aaa", Attributes: { name: "app:v2" } },
  scope: "local",
  time: 1,
  timeNano: 1,
};
const PULL = { Type: "image", Action: "pull", Actor: { ID: "alpine:latest", Attributes: {} } };
const DELETE = {
  status: "delete",
  id: "sha256:legacy",
  Type: "image",
  Action: "delete",
  Actor: { ID: "sha256:ccc" },
};
// A multi-byte character, so splits inside a UTF-8 sequence are covered too.
const LOAD = {
  Type: "image",
  Action: "load",
  Actor: { ID: "sha256:ddd", Attributes: { x: "é✓" } },
};

const STREAM = [TAG, PULL, DELETE, LOAD].map((event) => JSON.stringify(event) + "\n").join("");
const BYTES = new TextEncoder().encode(STREAM);

async function* chunks(...parts: Uint8Array[]): AsyncGenerator<Uint8Array> {
  for (const part of parts) yield part;
}

async function decodeAll(...parts: Uint8Array[]): Promise<DecodedLine[]> {
  const lines: DecodedLine[] = [];
  for await (const line of decodeJsonLines(chunks(...parts))) lines.push(line);
  return lines;
}

function values(lines: DecodedLine[]): unknown[] {
  return lines.map((line) => {
    assert.ok(line.ok, JSON.stringify(line));
    return line.value;
  });
}

Deno.test("several events in one chunk", async () => {
  assert.deepEqual(values(await decodeAll(BYTES)), [TAG, PULL, DELETE, LOAD]);
});

Deno.test("one split anywhere, including inside UTF-8 sequences", async () => {
  for (let at = 0; at <= BYTES.length; at++) {
    const lines = await decodeAll(BYTES.subarray(0, at), BYTES.subarray(at));
    assert.deepEqual(values(lines), [TAG, PULL, DELETE, LOAD], `split at ${at}`);
  }
});

Deno.test("two splits anywhere", async () => {
  const step = 3; // every pair at a 3-byte stride keeps the test fast, and covers every boundary
  for (let first = 0; first <= BYTES.length; first++) {
    for (let second = first; second <= BYTES.length; second += step) {
      const lines = await decodeAll(
        BYTES.subarray(0, first),
        BYTES.subarray(first, second),
        BYTES.subarray(second),
      );
      assert.deepEqual(values(lines), [TAG, PULL, DELETE, LOAD], `splits ${first}, ${second}`);
    }
  }
});

Deno.test("byte by byte", async () => {
  const parts = Array.from(BYTES, (byte) => Uint8Array.of(byte));
  assert.deepEqual(values(await decodeAll(...parts)), [TAG, PULL, DELETE, LOAD]);
});

Deno.test("CRLF, blank lines and a last line without a newline", () => {
  const decoder = new JsonLineDecoder();
  const first = decoder.push('\r\n{"a":1}\r\n\n  \n{"b"');
  assert.deepEqual(values(first), [{ a: 1 }]);
  assert.deepEqual(decoder.push(":2}"), []);
  assert.deepEqual(values(decoder.flush()), [{ b: 2 }]);
  assert.deepEqual(decoder.flush(), []);
});

Deno.test("a garbage line is reported and the following events are kept", async () => {
  const text = `${JSON.stringify(TAG)}\nnot json {\n${JSON.stringify(PULL)}\n{"truncated":`;
  const lines = await decodeAll(new TextEncoder().encode(text));
  assert.equal(lines.length, 4);
  assert.deepEqual(lines[0], { ok: true, value: TAG });
  assert.equal(lines[1]?.ok, false);
  assert.equal(lines[1]?.ok === false && lines[1].line, "not json {");
  assert.deepEqual(lines[2], { ok: true, value: PULL });
  assert.equal(lines[3]?.ok, false, "an unterminated last line is reported too");
});

Deno.test("engine events from Type, Action and Actor only", () => {
  assert.deepEqual(toEngineEvent(TAG), { action: "tag", subject: "app:v2 sha256:aaa" });
  assert.deepEqual(toEngineEvent(PULL), { action: "pull", subject: "alpine:latest" });
  assert.deepEqual(toEngineEvent(DELETE), { action: "delete", subject: "sha256:ccc" });
  assert.deepEqual(
    toEngineEvent({
      Type: "image",
      Action: "untag",
      Actor: { ID: "x", Attributes: { name: "x" } },
    }),
    { action: "untag", subject: "x" },
  );
  // Legacy-only fields are not read.
  assert.deepEqual(toEngineEvent({ status: "tag", id: "sha256:a" }), {
    action: "unknown",
    subject: "",
  });
  assert.equal(
    toEngineEvent({ Type: "container", Action: "start", Actor: { ID: "c" } }),
    undefined,
  );
  assert.equal(toEngineEvent(null), undefined);
  assert.equal(toEngineEvent([1]), undefined);
  assert.equal(toEngineEvent("tag"), undefined);
  assert.deepEqual(toEngineEvent({ Action: "tag", Actor: { Attributes: { name: "n" } } }), {
    action: "tag",
    subject: "n",
  });
});

Deno.test("unreadable lines become short events", () => {
  assert.deepEqual(unreadableEvent("xx"), { action: "unreadable", subject: "xx" });
  assert.equal(unreadableEvent("y".repeat(500)).subject.length, 121);
});
