import assert from "node:assert/strict";
import { UserError } from "../util/errors.ts";
import { parseListenAddress, serveHealth } from "./health.ts";
import { Metrics } from "../util/metrics.ts";

Deno.test("parseListenAddress() reads host:port, :port and port", () => {
  assert.deepEqual(parseListenAddress("127.0.0.1:8081"), { hostname: "127.0.0.1", port: 8081 });
  assert.deepEqual(parseListenAddress(":8081"), { hostname: "0.0.0.0", port: 8081 });
  assert.deepEqual(parseListenAddress("8081"), { hostname: "0.0.0.0", port: 8081 });
  assert.deepEqual(parseListenAddress("[::1]:9"), { hostname: "::1", port: 9 });
});

Deno.test("parseListenAddress() rejects bad addresses with a UserError", async (t) => {
  for (const bad of ["", "localhost", "host:port", ":70000", "a:b:c"]) {
    await t.step(JSON.stringify(bad), () => {
      assert.throws(() => parseListenAddress(bad), UserError);
    });
  }
});

Deno.test("serveHealth() answers probes and metrics", async () => {
  const metrics = new Metrics();
  metrics.define("veryfreshpod_test_total", "counter", "A test counter");
  metrics.inc("veryfreshpod_test_total", { result: "applied" }, 2);
  const state = { ready: false, metrics };
  const stop = new AbortController();
  const server = serveHealth("127.0.0.1:0", state, stop.signal);
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    const get = async (path: string) => {
      const response = await fetch(base + path);
      return { status: response.status, body: await response.text() };
    };
    assert.equal((await get("/healthz")).status, 200);
    assert.equal((await get("/readyz")).status, 503);
    state.ready = true;
    assert.equal((await get("/readyz")).status, 200);
    const scraped = await get("/metrics");
    assert.match(scraped.body, /# TYPE veryfreshpod_test_total counter/);
    assert.match(scraped.body, /veryfreshpod_test_total\{result="applied"\} 2/);
    assert.equal((await get("/nope")).status, 404);
  } finally {
    stop.abort();
    await server.finished;
  }
});

Deno.test("serveHealth() explains a port already in use", () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  try {
    const address = `127.0.0.1:${(listener.addr as Deno.NetAddr).port}`;
    assert.throws(
      () => serveHealth(address, { ready: true, metrics: new Metrics() }, AbortSignal.abort()),
      (error: unknown) =>
        error instanceof UserError &&
        /address already in use; pick another --health-addr/.test(error.message),
    );
  } finally {
    listener.close();
  }
});
