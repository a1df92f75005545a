import assert from "node:assert/strict";
import { FakeClock, settle } from "../testing/fake_clock.ts";
import { setupLogging } from "../util/log.ts";
import { KubeClient, KubeStalledError } from "./rest.ts";
import { testClusterConfig } from "../testing/fake_cluster_config.ts";
import { withServer } from "../testing/kube_test_server.ts";

await setupLogging({ level: "error", format: "text" });

/** Waits (real time, a few seconds at most) until `condition` holds. */
async function until(condition: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 500 && !condition(); i++) await settle(1);
  assert.ok(condition(), what);
}

/** A watch stream the test writes to; it never ends on its own. */
function openStream() {
  const encoder = new TextEncoder();
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
    },
  });
  return {
    body,
    send(type: string, name: string) {
      controller.enqueue(
        encoder.encode(JSON.stringify({ type, object: { metadata: { name } } }) + "\n"),
      );
    },
    close: () => controller.close(),
  };
}

Deno.test("A request the server never answers ends after the deadline on silence as KubeStalledError", async () => {
  const clock = new FakeClock();
  let release!: () => void;
  const never = new Promise<Response>((resolve) => {
    release = () => resolve(new Response("{}"));
  });
  await withServer(() => never, async (server, seen) => {
    const client = await KubeClient.create(testClusterConfig(server), { clock });
    try {
      let settled: unknown = "pending" as unknown;
      const request = client.json("GET", "/apis/apps/v1/deployments").then(
        (value) => settled = value,
        (error) => settled = error,
      );
      await until(() => seen.length === 1, "the request reached the server");
      await clock.advance(59_000);
      assert.equal(settled, "pending", "59 s of silence is not yet dead");
      await clock.advance(1_000);
      await request;
      assert.ok((settled as unknown) instanceof KubeStalledError, String(settled));
      assert.equal(
        (settled as unknown as Error).message,
        "no data for 60 s: the connection seems dead",
      );
    } finally {
      release();
      client.close();
    }
  });
});

Deno.test("A watch is dead after a silence of the deadline, alive as long as data comes", async () => {
  const clock = new FakeClock();
  const stream = openStream();
  await withServer(() => new Response(stream.body), async (server, seen) => {
    const client = await KubeClient.create(testClusterConfig(server), {
      clock,
      apiTimeoutMs: 6_000,
    });
    try {
      const events: string[] = [];
      let outcome: unknown = "pending" as unknown;
      const watch = client.watch(
        "/apis/apps/v1/deployments",
        { resourceVersion: "5" },
        new AbortController().signal,
        (type, object) => events.push(`${type} ${object.metadata.name}`),
      ).then(() => outcome = "ended", (error) => outcome = error);
      await until(() => seen.length === 1, "the watch reached the server");
      const timeoutSeconds = Number(new URL(seen[0]!.url).searchParams.get("timeoutSeconds"));
      assert.ok(timeoutSeconds >= 3 && timeoutSeconds <= 4.5, `${timeoutSeconds}`);
      // Data every 5 s keeps it alive well past one deadline.
      for (const name of ["a", "b", "c"]) {
        stream.send("ADDED", name);
        await until(() => events.length > 0 && events.at(-1) === `ADDED ${name}`, name);
        await clock.advance(5_000);
        assert.equal(outcome, "pending", `alive after ${name}`);
      }
      // Then nothing: dead 6 s after the last event.
      await clock.advance(1_000);
      await watch;
      assert.ok((outcome as unknown) instanceof KubeStalledError, String(outcome));
      assert.deepEqual(events, ["ADDED a", "ADDED b", "ADDED c"]);
    } finally {
      client.close();
    }
  });
});
