import assert from "node:assert/strict";
import type { WorkloadEvent } from "../kube/events.ts";
import { KubeApiError } from "../kube/rest.ts";
import type { TrackedWorkload, WorkloadKey } from "../model/workload.ts";
import { captureLogs } from "../testing/log_capture.ts";
import type { RestorePlan } from "../model/plan_types.ts";
import { type RestoreCluster, restoreWorkload } from "./restorer.ts";
import { UPDATES_ANNOTATION } from "../model/record.ts";

const AT = new Date("2026-12-01T12:00:00Z");

/** `web`, moved by veryfreshpod from app:test to `image`, running `running`. */
function web(running: string, image = "app:v2", resourceVersion = "1"): TrackedWorkload {
  const record = { app: { image, at: "2026-12-01T10:00:00Z", original: "app:test" } };
  return {
    key: { kind: "Deployment", namespace: "dev", name: "web" },
    resourceVersion,
    labels: {},
    annotations: { [UPDATES_ANNOTATION]: JSON.stringify(record) },
    templateAnnotations: {},
    containers: [{ name: "app", init: false, image: running, pullPolicy: "IfNotPresent" }],
  };
}

/** A cluster that answers each patch with the next of `answers` and each read with `current`. */
function cluster(answers: Array<"ok" | number>, current?: TrackedWorkload) {
  const patches: RestorePlan[] = [];
  const reads: WorkloadKey[] = [];
  const events: WorkloadEvent[] = [];
  const fake: RestoreCluster = {
    patch(plan) {
      patches.push(plan);
      const answer = answers.shift();
      if (answer === "ok") return Promise.resolve({ metadata: { uid: "u1" } });
      return Promise.reject(new KubeApiError(answer ?? 500, undefined, `HTTP ${answer}`));
    },
    read(key) {
      reads.push(key);
      return Promise.resolve(current);
    },
    event(event) {
      events.push(event);
      return Promise.resolve();
    },
  };
  return { fake, patches, reads, events };
}

Deno.test("restoreWorkload() patches once, logs one line and records one Event", async () => {
  using logs = captureLogs("info");
  const { fake, patches, events } = cluster(["ok"]);
  assert.equal(await restoreWorkload(fake, web("app:v2"), "original", false, () => AT), true);
  assert.deepEqual(patches.map((p) => p.restores), [[
    { container: "app", init: false, from: "app:v2", to: "app:test" },
  ]]);
  assert.deepEqual(events.map((e) => [e.reason, e.uid, e.message]), [[
    "ImageRestored",
    "u1",
    'Restored by "veryfreshpod restore": container app app:v2 -> app:test',
  ]]);
  assert.equal(logs.lines.length, 1);
  assert.match(logs.lines[0]!, /Restored Deployment dev\/web: container app app:v2 -> app:test/);
});

Deno.test("restoreWorkload() plans again after a conflict, from the workload as it is now", async (t) => {
  await t.step("changed by hand meanwhile: left alone, no second patch, no Event", async () => {
    using logs = captureLogs("info");
    const { fake, patches, reads, events } = cluster([409], web("app:manual", "app:v2", "2"));
    assert.equal(await restoreWorkload(fake, web("app:v2"), "original", false), false);
    assert.equal(patches.length, 1);
    assert.equal(reads.length, 1);
    assert.deepEqual(events, []);
    assert.match(
      logs.lines.join("\n"),
      /Left Deployment dev\/web container app alone: it runs app:manual/,
    );
  });
  await t.step("moved again meanwhile: the new plan, with the new resourceVersion", async () => {
    using _logs = captureLogs("info");
    const { fake, patches } = cluster([409, "ok"], web("app:v3", "app:v3", "2"));
    assert.equal(await restoreWorkload(fake, web("app:v2"), "original", false), true);
    assert.deepEqual(patches.map((p) => [p.resourceVersion, p.restores[0]!.from]), [
      ["1", "app:v2"],
      ["2", "app:v3"],
    ]);
  });
  await t.step("gone meanwhile: nothing more", async () => {
    using _logs = captureLogs("info");
    const { fake, patches } = cluster([409], undefined);
    assert.equal(await restoreWorkload(fake, web("app:v2"), "original", false), false);
    assert.equal(patches.length, 1);
  });
  await t.step("conflicts without end: the last one is thrown", async () => {
    using _logs = captureLogs("info");
    const { fake, patches } = cluster([409, 409, 409, 409, 409, 409, 409], web("app:v2"));
    await assert.rejects(restoreWorkload(fake, web("app:v2"), "original", false), KubeApiError);
    assert.equal(patches.length, 6);
  });
});

Deno.test("restoreWorkload() with --dry-run or nothing to restore patches nothing", async () => {
  using logs = captureLogs("info");
  const { fake, patches, events } = cluster([]);
  assert.equal(await restoreWorkload(fake, web("app:v2"), "original", true), true);
  assert.match(
    logs.lines[0]!,
    /Would restore Deployment dev\/web: container app app:v2 -> app:test/,
  );
  const plain = { ...web("app:v2"), annotations: {} };
  assert.equal(await restoreWorkload(fake, plain, "original", false), false);
  assert.deepEqual([patches, events], [[], []]);
});

Deno.test("restoreWorkload() says a workload gone before the patch is gone, and throws other errors", async () => {
  using logs = captureLogs("info");
  assert.equal(await restoreWorkload(cluster([404]).fake, web("app:v2"), "original", false), false);
  assert.match(logs.lines.join("\n"), /Deployment dev\/web is gone; nothing to restore/);
  await assert.rejects(
    restoreWorkload(cluster([403]).fake, web("app:v2"), "original", false),
    (error) => error instanceof KubeApiError && error.code === 403,
  );
});
