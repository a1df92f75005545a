import assert from "node:assert/strict";
import { UserError } from "../util/errors.ts";
import { DockerEngine, snapshotFromImageList } from "./docker.ts";
import type { EngineEvent } from "./engine.ts";
import { fakeDocker, json, versionBody } from "../testing/fake_docker.ts";
import { within } from "../../tests/helpers/eventually.ts";

const IMAGES = [
  {
    Id: "sha256:app",
    RepoTags: ["app:v1", "app:latest", "localhost:5000/team/app:v1"],
    RepoDigests: ["localhost:5000/team/app@sha256:" + "a".repeat(64)],
  },
  // Pulled as alpine, tagged as mine: only alpine can be pulled.
  {
    Id: "sha256:alpine",
    RepoTags: ["alpine:3.20", "mine:dev"],
    RepoDigests: ["alpine@sha256:" + "b".repeat(64)],
  },
  { Id: "sha256:dangling-old", RepoTags: ["<none>:<none>"], RepoDigests: ["<none>@<none>"] },
  { Id: "sha256:dangling-new", RepoTags: [], RepoDigests: [] },
  { Id: "sha256:nulls", RepoTags: null, RepoDigests: null },
  { Id: "sha256:odd", RepoTags: ["UPPER/Case:x", "", 7, "ok.io/x:y"] },
  { RepoTags: ["no-id:x"] },
  "not an object",
];

Deno.test("snapshot of an image list", () => {
  assert.deepEqual(
    snapshotFromImageList(IMAGES),
    new Map([
      ["docker.io/library/app:v1", { id: "sha256:app", fromRegistry: false }],
      ["docker.io/library/app:latest", { id: "sha256:app", fromRegistry: false }],
      ["localhost:5000/team/app:v1", { id: "sha256:app", fromRegistry: true }],
      ["docker.io/library/alpine:3.20", { id: "sha256:alpine", fromRegistry: true }],
      ["docker.io/library/mine:dev", { id: "sha256:alpine", fromRegistry: false }],
      ["ok.io/x:y", { id: "sha256:odd", fromRegistry: false }],
    ]),
  );
  assert.deepEqual(snapshotFromImageList({ message: "not a list" }), new Map());
});

Deno.test("DockerEngine.snapshot negotiates first when connect was not called", async () => {
  await using fake = await fakeDocker((_request, path) =>
    path === "/version" ? json(versionBody("1.43")) : json(IMAGES)
  );
  const engine = new DockerEngine(fake.client);
  assert.equal(engine.description, `docker unix://${fake.socket}`);
  const snapshot = await engine.snapshot();
  assert.equal(snapshot.size, 6);
  // The store type is asked once, with the first snapshot.
  assert.deepEqual(fake.requests, ["/version", "/v1.43/images/json", "/v1.43/info"]);
  await engine.snapshot();
  assert.deepEqual(fake.requests.slice(3), ["/v1.43/images/json"]);
});

/** A fake whose event stream is fed by the test. */
async function eventFake() {
  let feed: ReadableStreamDefaultController<Uint8Array> | undefined;
  let subscribed = () => {};
  const ready = new Promise<void>((resolve) => subscribed = resolve);
  const fake = await fakeDocker((_request, path) => {
    if (path === "/version") return json(versionBody("1.47"));
    const body = new ReadableStream<Uint8Array>({
      start: (controller) => void (feed = controller),
    });
    subscribed();
    return new Response(body, { headers: { "Content-Type": "application/jsonl" } });
  });
  const send = (text: string) => feed?.enqueue(new TextEncoder().encode(text));
  return { fake, ready, send, end: () => feed?.close() };
}

async function take(
  iterator: AsyncIterator<EngineEvent>,
  count: number,
): Promise<EngineEvent[]> {
  const events: EngineEvent[] = [];
  while (events.length < count) {
    const next = await within(`event ${events.length + 1} of ${count}`, iterator.next());
    assert.ok(!next.done, "stream ended early");
    events.push(next.value);
  }
  return events;
}

Deno.test("image events: split chunks, garbage, other types; abort ends cleanly", async () => {
  const stream = await eventFake();
  await using _fake = stream.fake;
  const engine = new DockerEngine(stream.fake.client);
  const abort = new AbortController();
  const iterator = engine.imageEvents(abort.signal)[Symbol.asyncIterator]();
  const first = iterator.next();
  await within("the engine to subscribe", stream.ready);
  const tag = JSON.stringify({ Type: "image", Action: "tag", Actor: { ID: "sha256:1" } });
  stream.send(tag.slice(0, 10));
  stream.send(tag.slice(10) + "\n{garbage\n");
  stream.send(JSON.stringify({ Type: "container", Action: "start", Actor: { ID: "c" } }) + "\n");
  stream.send(JSON.stringify({ Type: "image", Action: "delete", Actor: { ID: "sha256:2" } }));
  stream.send("\n");
  const firstEvent = await within("the first event", first);
  assert.deepEqual(firstEvent.value, { action: "tag", subject: "sha256:1" });
  assert.deepEqual(await take(iterator, 2), [
    { action: "unreadable", subject: "{garbage" },
    { action: "delete", subject: "sha256:2" },
  ]);
  assert.deepEqual(stream.fake.requests, [
    "/version",
    "/v1.47/events?filters=" + encodeURIComponent('{"type":["image"]}'),
  ]);
  const pending = iterator.next();
  abort.abort();
  assert.deepEqual(await within("the end after abort", pending), { done: true, value: undefined });
});

Deno.test("image events: the daemon closing the stream is an error", async () => {
  const stream = await eventFake();
  await using _fake = stream.fake;
  const iterator = new DockerEngine(stream.fake.client).imageEvents(new AbortController().signal)
    [Symbol.asyncIterator]();
  const pending = iterator.next();
  await within("the engine to subscribe", stream.ready);
  stream.end();
  await assert.rejects(
    within("the stream to fail", pending),
    /^UserError: the Docker socket ".*" closed the event stream$/,
  );
});

/**
 * A raw HTTP server that answers `/version`, then starts the event stream and
 * drops the connection in the middle of a chunk: a real broken connection.
 */
function droppingServer(path: string): Deno.UnixListener {
  const listener = Deno.listen({ transport: "unix", path });
  (async () => {
    for await (const connection of listener) {
      const buffer = new Uint8Array(4096);
      const read = await connection.read(buffer);
      const head = new TextDecoder().decode(buffer.subarray(0, read ?? 0));
      const encode = (text: string) => new TextEncoder().encode(text);
      // The client sends the absolute form (`GET http://docker/version`), as to a proxy.
      if (/^GET \S*\/version /.test(head)) {
        const body = JSON.stringify(versionBody("1.47"));
        await connection.write(
          encode(
            `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\nConnection: close\r\n\r\n${body}`,
          ),
        );
      } else {
        await connection.write(
          encode('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n40\r\n{"Type":"image"'),
        );
      }
      connection.close();
    }
  })().catch(() => {});
  return listener;
}

Deno.test("image events: a broken connection is an error", async () => {
  const directory = await Deno.makeTempDir();
  const listener = droppingServer(`${directory}/docker.sock`);
  const engine = DockerEngine.create({ host: `unix://${directory}/docker.sock` });
  try {
    const iterator = engine.imageEvents(new AbortController().signal)[Symbol.asyncIterator]();
    await assert.rejects(
      within("the stream to fail", iterator.next()),
      /^UserError: Lost the event stream of the Docker socket ".*": error reading a body from connection/,
    );
  } finally {
    engine.close();
    listener.close();
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("image events: an already aborted signal yields nothing", async () => {
  await using fake = await fakeDocker(() => json(versionBody("1.47")));
  const abort = new AbortController();
  abort.abort();
  const events = [];
  for await (const event of new DockerEngine(fake.client).imageEvents(abort.signal)) {
    events.push(event);
  }
  assert.deepEqual(events, []);
  assert.deepEqual(fake.requests, []);
});

Deno.test("DockerEngine.create resolves the host and refuses bad ones", () => {
  const engine = DockerEngine.create({ getEnv: () => undefined });
  assert.equal(engine.description, "docker unix:///var/run/docker.sock");
  engine.close();
  const fromEnv = DockerEngine.create({
    getEnv: (name) => name === "DOCKER_HOST" ? "tcp://127.0.0.1:2375" : undefined,
  });
  assert.equal(fromEnv.description, "docker tcp://127.0.0.1:2375");
  fromEnv.close();
  assert.throws(() => DockerEngine.create({ host: "ssh://x" }), UserError);
});

Deno.test("image events: abort ends the stream even after a garbage collection", async () => {
  // Deno errors an aborted body through its Response: a collected Response left the read
  // hanging, and `run` never stopped (seen with 100 workloads). gc() needs its own process.
  const script = await Deno.makeTempFile({ prefix: "vfp-test-gc-", suffix: ".ts" });
  try {
    await Deno.writeTextFile(
      script,
      `import { DockerEngine } from ${JSON.stringify(import.meta.resolve("./docker.ts"))};
import { fakeDocker, json, versionBody } from ${
        JSON.stringify(import.meta.resolve("../testing/fake_docker.ts"))
      };
let subscribed = () => {};
const ready = new Promise((resolve) => subscribed = resolve);
await using fake = await fakeDocker((_request, path) => {
  if (path === "/version") return json(versionBody("1.47"));
  subscribed();
  return new Response(new ReadableStream({ start() {} }));
});
const abort = new AbortController();
const next = new DockerEngine(fake.client).imageEvents(abort.signal).next();
await ready;
await new Promise((resolve) => setTimeout(resolve, 100));
for (let i = 0; i < 5; i++) globalThis.gc();
abort.abort();
console.log(JSON.stringify(await next));
`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        ...["run", "--allow-all", "--no-check", "--v8-flags=--expose-gc"],
        ...["--config", new URL("../../deno.json", import.meta.url).pathname, script],
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const output = await within("the stream to end after the abort", child.output(), 20_000)
      .catch((error) => {
        child.kill("SIGKILL");
        throw error;
      });
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(new TextDecoder().decode(output.stdout), '{"done":true}\n', stderr);
  } finally {
    await Deno.remove(script);
  }
});

Deno.test("the image list's Created is each tag's time, in milliseconds", () => {
  const snapshot = snapshotFromImageList([
    { Id: "sha256:a", RepoTags: ["app:v1"], Created: 1_700_000_000 },
    { Id: "sha256:b", RepoTags: ["app:v2"], Created: 0 },
    { Id: "sha256:c", RepoTags: ["app:v3"], Created: "yesterday" },
  ]);
  assert.equal(snapshot.get("docker.io/library/app:v1")?.time, 1_700_000_000_000);
  assert.equal(snapshot.get("docker.io/library/app:v2")?.time, undefined);
  assert.equal(snapshot.get("docker.io/library/app:v3")?.time, undefined);
});

Deno.test("DockerEngine.tagTimes reads Metadata.LastTagTime; never tagged or gone is left out", async () => {
  await using fake = await fakeDocker((_request, path) => {
    if (path === "/version") return json(versionBody("1.47"));
    if (path.endsWith("/sha256%3Aa/json")) {
      return json({ Metadata: { LastTagTime: "2026-11-25T21:30:00.123456789Z" } });
    }
    if (path.endsWith("/sha256%3Ab/json")) {
      return json({ Metadata: { LastTagTime: "0001-01-01T00:00:00Z" } });
    }
    return json({ message: "No such image" }, 404);
  });
  const engine = new DockerEngine(fake.client);
  const times = await engine.tagTimes(["sha256:a", "sha256:b", "sha256:gone"]);
  assert.deepEqual(times, new Map([["sha256:a", Date.parse("2026-11-25T21:30:00.123Z")]]));
});
