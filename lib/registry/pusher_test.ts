import assert from "node:assert/strict";
import type { WorkloadUpdate } from "../model/plan_types.ts";
import { Backoff } from "../util/backoff.ts";
import { captureLogs } from "../testing/log_capture.ts";
import { RegistryClient } from "./client.ts";
import type { ImageSource, SourceImage } from "./image_source.ts";
import { PushError, RegistryPusher } from "./pusher.ts";

const ID = `sha256:${"1".repeat(64)}`;

function update(digest?: string): WorkloadUpdate {
  return {
    workload: { kind: "Deployment", namespace: "default", name: "web" },
    resourceVersion: "1",
    imageUpdates: [{
      container: "app",
      init: false,
      from: "localhost:5001/app:v1",
      to: "localhost:5001/app:v2",
      push: { source: "docker.io/library/app:v2", id: ID, repository: "app", tag: "v2", digest },
    }],
    rebuilds: [],
    rolloutAnnotation: undefined,
    warnings: [],
  };
}

/** A source whose open fails (the engine lost the image), counting the attempts. */
class FailingSource implements ImageSource {
  opened = 0;
  open(): Promise<SourceImage> {
    this.opened++;
    return Promise.reject(new Error("no such image"));
  }
}

Deno.test("a failed push holds every update back, and is not tried again before its backoff ends", async () => {
  using logs = captureLogs("info");
  let now = 1_000;
  const source = new FailingSource();
  const client = new RegistryClient("localhost:5001", {
    credentials: () => Promise.resolve({ credentials: undefined, source: "none" }),
  });
  const pusher = new RegistryPusher(
    {
      host: "localhost:5001",
      fromRuntime: "kind-registry:5000",
      help: "see kind docs",
      origin: "x",
    },
    client,
    source,
    { now: () => now, backoff: new Backoff(1_000, 1_000) },
  );
  const signal = new AbortController().signal;
  await assert.rejects(
    pusher.ensure([update()], signal),
    (error: Error) => {
      assert.ok(error instanceof PushError);
      assert.equal(
        error.message,
        "Cannot push docker.io/library/app:v2 to localhost:5001/app:v2: no such image (see kind docs)",
      );
      return true;
    },
  );
  await assert.rejects(
    pusher.ensure([update()], signal),
    /^PushError: waiting to retry: Cannot push/,
  );
  assert.equal(source.opened, 1);
  now += 2_000;
  await assert.rejects(pusher.ensure([update()], signal), PushError);
  assert.equal(source.opened, 2);
  const warnings = logs.lines.filter((line) => / WARN /.test(line));
  assert.equal(warnings.length, 1, "the retry that failed the same way is no second warning");
  // Updates already pinned (or with nothing to push) need nothing.
  await pusher.ensure([update(`sha256:${"a".repeat(64)}`)], signal);
  assert.equal(source.opened, 2);
  assert.equal(pusher.planRegistry.pushed("docker.io/library/app:v2", ID), undefined);
});
