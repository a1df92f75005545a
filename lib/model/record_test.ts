import assert from "node:assert/strict";
import type { WorkloadUpdate } from "./plan_types.ts";
import { parseUpdates, recordUpdates } from "./record.ts";

const AT = new Date("2026-11-25T12:00:00Z");
const base: WorkloadUpdate = {
  workload: { kind: "Deployment", namespace: "dev", name: "web" },
  resourceVersion: "1",
  imageUpdates: [],
  rebuilds: [],
  rolloutAnnotation: undefined,
  warnings: [],
};

Deno.test("recordUpdates() records image, ID, config digest and time per container", () => {
  const value = recordUpdates({
    ...base,
    imageUpdates: [{
      container: "web",
      init: false,
      from: "app:v1",
      to: "app:v2",
      id: "sha256:m2",
      configId: "sha256:c2",
    }],
    rebuilds: [{
      container: "side",
      init: false,
      image: "side:dev",
      previousId: "sha256:1",
      id: "sha256:2",
      configId: "sha256:2",
    }],
  }, AT);
  assert.deepEqual(JSON.parse(value), {
    side: {
      image: "side:dev",
      id: "sha256:2",
      at: "2026-11-25T12:00:00.000Z",
      previous: { image: "side:dev" },
      original: "side:dev",
    },
    web: {
      image: "app:v2",
      id: "sha256:m2",
      configId: "sha256:c2",
      at: "2026-11-25T12:00:00.000Z",
      previous: { image: "app:v1" },
      original: "app:v1",
    },
  });
});

Deno.test("recordUpdates() keeps other containers' earlier entries and replaces its own", () => {
  const earlier = JSON.stringify({
    web: { image: "app:v1", id: "sha256:1", at: "2026-11-24T00:00:00.000Z" },
    db: { image: "db:v1", at: "2026-11-24T00:00:00.000Z" },
  });
  const value = recordUpdates({
    ...base,
    updatesRecord: earlier,
    imageUpdates: [{ container: "web", init: false, from: "app:v1", to: "app:v2" }],
  }, AT);
  assert.deepEqual(JSON.parse(value), {
    db: { image: "db:v1", at: "2026-11-24T00:00:00.000Z" },
    // An entry written before the original was kept: the chain goes on without one.
    web: {
      image: "app:v2",
      at: "2026-11-25T12:00:00.000Z",
      previous: { image: "app:v1", id: "sha256:1", at: "2026-11-24T00:00:00.000Z" },
    },
  });
});

Deno.test("recordUpdates() keeps the original across moves and one step back", () => {
  const first = recordUpdates({
    ...base,
    imageUpdates: [{ container: "web", init: false, from: "app:test", to: "app:v1", id: "i1" }],
  }, new Date("2026-11-24T00:00:00Z"));
  const second = recordUpdates({
    ...base,
    updatesRecord: first,
    imageUpdates: [{ container: "web", init: false, from: "app:v1", to: "app:v2", id: "i2" }],
  }, AT);
  assert.deepEqual(JSON.parse(second), {
    web: {
      image: "app:v2",
      id: "i2",
      at: "2026-11-25T12:00:00.000Z",
      previous: { image: "app:v1", id: "i1", at: "2026-11-24T00:00:00.000Z" },
      original: "app:test",
    },
  });
});

Deno.test("recordUpdates() starts a new chain from an image set by hand since", () => {
  const earlier = JSON.stringify({
    web: { image: "app:v1", at: "2026-11-24T00:00:00.000Z", original: "app:test" },
  });
  const value = recordUpdates({
    ...base,
    updatesRecord: earlier,
    imageUpdates: [{ container: "web", init: false, from: "app:manual", to: "app:v2" }],
  }, AT);
  assert.deepEqual(JSON.parse(value).web, {
    image: "app:v2",
    at: "2026-11-25T12:00:00.000Z",
    previous: { image: "app:manual" },
    original: "app:manual",
  });
});

Deno.test("parseUpdates() drops what is not a record instead of failing", async (t) => {
  const cases: Array<[string, string | undefined, object]> = [
    ["absent", undefined, {}],
    ["not JSON", "{", {}],
    ["an array", "[]", {}],
    ["an entry without image", '{"web":{"at":"x"}}', {}],
    ["a good entry next to a bad one", '{"a":1,"b":{"image":"i","at":"t","id":7}}', {
      b: { image: "i", at: "t" },
    }],
    [
      "history, well-formed or not",
      JSON.stringify({
        a: { image: "i", at: "t", previous: { image: "p", id: "x", at: "s" }, original: "o" },
        b: { image: "i", at: "t", previous: { id: "x" }, original: 3 },
      }),
      {
        a: { image: "i", at: "t", previous: { image: "p", id: "x", at: "s" }, original: "o" },
        b: { image: "i", at: "t" },
      },
    ],
  ];
  for (const [name, raw, expected] of cases) {
    await t.step(name, () => assert.deepEqual(parseUpdates(raw), expected));
  }
});
