import assert from "node:assert/strict";
import { captureLogs } from "../testing/log_capture.ts";
import { DockerEngine } from "./docker.ts";
import { fakeDocker, json, versionBody } from "../testing/fake_docker.ts";
import { decodeJsonLines, toEngineEvent, unreadableEvent } from "./docker_events.ts";
import { type DecodedLine, MAX_LINE_BYTES } from "../util/json_lines.ts";

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

const encode = (text: string) => new TextEncoder().encode(text);

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

Deno.test("a garbage line is reported and the following events are kept", async () => {
  const text = `${JSON.stringify(TAG)}\nnot json {\n${JSON.stringify(PULL)}\n{"truncated":`;
  const lines = await decodeAll(new TextEncoder().encode(text));
  assert.equal(lines.length, 4);
  assert.deepEqual(lines[0], { ok: true, value: TAG });
  assert.equal(lines[1]?.ok, false);
  assert.equal(lines[1]?.ok === false && lines[1].line, "not json {");
  assert.equal(lines[1]?.ok === false && lines[1].tooLong, false);
  assert.deepEqual(lines[2], { ok: true, value: PULL });
  assert.equal(lines[3]?.ok, false, "an unterminated last line is reported too");
});

/** Collects the log lines written while `body` runs. */
async function withLog(body: () => Promise<void>): Promise<string[]> {
  using logs = captureLogs("debug");
  await body();
  return logs.lines;
}

Deno.test("an over-long line is reported once and the next event is kept", async () => {
  const big = `{"x":"${"a".repeat(MAX_LINE_BYTES)}"}`;
  const lines = await decodeAll(encode(`${big}\n${JSON.stringify(TAG)}\n`));
  assert.equal(lines.length, 2);
  const [report, next] = lines;
  assert.ok(report?.ok === false && report.tooLong, JSON.stringify(report).slice(0, 200));
  assert.equal(report.line, `{"x":"${"a".repeat(114)}…`);
  assert.equal(report.error, `longer than ${MAX_LINE_BYTES} bytes`);
  assert.deepEqual(next, { ok: true, value: TAG });
});

Deno.test("an over-long last line without a newline is dropped with one warning", async () => {
  const decoded: DecodedLine[] = [];
  const logged = await withLog(async () => {
    async function* endless(): AsyncGenerator<Uint8Array> {
      yield encode(JSON.stringify(TAG) + "\n");
      const piece = encode("z".repeat(64 * 1024));
      // 4 MiB and no newline at all, at a 64 KiB cap.
      for (let i = 0; i < 64; i++) yield piece;
    }
    for await (const line of decodeJsonLines(endless(), 64 * 1024)) decoded.push(line);
  });
  assert.equal(decoded.length, 2);
  assert.deepEqual(decoded[0], { ok: true, value: TAG });
  assert.ok(decoded[1]?.ok === false && decoded[1].tooLong);
  const warnings = logged.filter((line) => line.includes("WARN"));
  assert.equal(warnings.length, 1, logged.join(""));
  assert.match(
    warnings[0] ?? "",
    /WARN {2}Dropped an event line longer than 65536 bytes; it began z{120}…\n$/,
  );
});

// What a tag event gives: the tag set, as a snapshot key, and timeNano in milliseconds.
const TAG_EVENT = {
  action: "tag",
  subject: "app:v2 sha256:aaa",
  reference: "docker.io/library/app:v2",
  time: 0.000001,
};

Deno.test("a tag event with a whole image ID says which image the tag now names", () => {
  const id = `sha256:${"ab".repeat(32)}`;
  const event = toEngineEvent({ ...TAG, Actor: { ID: id, Attributes: { name: "app:v2" } } });
  assert.equal(event?.id, id);
  assert.equal(event?.reference, "docker.io/library/app:v2");
  // Anything less certain leaves it to the re-read: a short ID, a pull's reference.
  assert.equal(toEngineEvent(TAG)?.id, undefined);
  assert.equal(toEngineEvent(PULL)?.id, undefined);
  assert.equal(
    toEngineEvent({ Type: "image", Action: "untag", Actor: { ID: id, Attributes: { name: id } } })
      ?.id,
    undefined,
  );
});

Deno.test("engine events from Type, Action and Actor only", () => {
  assert.deepEqual(toEngineEvent(TAG), TAG_EVENT);
  assert.deepEqual(toEngineEvent(PULL), {
    action: "pull",
    subject: "alpine:latest",
    reference: "docker.io/library/alpine:latest",
  });
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

Deno.test("an event's time: timeNano, else time in seconds; the tag set by tag and pull only", () => {
  const event = (fields: Record<string, unknown>) =>
    toEngineEvent({ Type: "image", Action: "tag", Actor: { ID: "sha256:a" }, ...fields });
  assert.equal(
    event({ time: 1_700_000_000, timeNano: 1_700_000_000_123_456_789 })?.time,
    1_700_000_000_123.4568,
  );
  assert.equal(event({ time: 1_700_000_000 })?.time, 1_700_000_000_000);
  assert.equal(event({ time: "soon", timeNano: -1 })?.time, undefined);
  const named = (action: string, id: string, name?: string) =>
    toEngineEvent({ Type: "image", Action: action, Actor: { ID: id, Attributes: { name } } })
      ?.reference;
  assert.equal(named("tag", "sha256:a", "localhost:5000/app:v10"), "localhost:5000/app:v10");
  assert.equal(named("tag", "sha256:a", "app"), undefined, "no tag, nothing set");
  assert.equal(named("pull", "app@sha256:" + "a".repeat(64)), undefined, "a digest is no tag");
  assert.equal(named("untag", "sha256:a", "app:v1"), undefined);
  assert.equal(named("load", "sha256:a", "sha256:a"), undefined);
  assert.equal(named("tag", "sha256:a", "Not A Name:v1"), undefined);
});

Deno.test("unreadable lines become short events", () => {
  assert.deepEqual(unreadableEvent("xx"), { action: "unreadable", subject: "xx" });
  assert.equal(unreadableEvent("y".repeat(500)).subject.length, 121);
});

Deno.test("an over-long event line from the daemon is dropped and the next event is handled", async () => {
  const MIB = 1024 * 1024;
  const total = 256 * MIB;
  const filler = new Uint8Array(MIB).fill(0x78);
  let sent = 0;
  let subscribed = false;
  await using fake = await fakeDocker((_request, path) => {
    if (path === "/version") return json(versionBody("1.47"));
    subscribed = true;
    // Generated as it is read: 256 MiB without a newline, then a real event.
    const body = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent < total) {
          sent += filler.length;
          controller.enqueue(filler.slice());
        } else if (sent === total) {
          sent++;
          controller.enqueue(encode(`\n${JSON.stringify(TAG)}\n`));
        }
      },
    }, { highWaterMark: 0 });
    return new Response(body, { headers: { "Content-Type": "application/jsonl" } });
  });
  const engine = new DockerEngine(fake.client);
  const abort = new AbortController();
  // Bounded: if the event after the long line never came, the loop ends and the test fails.
  const timer = setTimeout(() => abort.abort(), 60_000);
  const before = Deno.memoryUsage().rss;
  const seen = [];
  let peak = before;
  for await (const event of engine.imageEvents(abort.signal)) {
    seen.push(event);
    peak = Math.max(peak, Deno.memoryUsage().rss);
    if (seen.length === 2) break;
  }
  clearTimeout(timer);
  abort.abort();
  assert.ok(subscribed);
  assert.equal(seen[0]?.action, "unreadable");
  assert.deepEqual(seen[1], TAG_EVENT);
  // Holding the line would take 256 MiB and more (measured: 618 MiB before the cap);
  // skipping it costs only the chunks in flight (measured: about 60 MiB).
  const grown = Math.round((peak - before) / MIB);
  assert.ok(grown < 160, `resident memory grew by ${grown} MiB while the line was skipped`);
});
