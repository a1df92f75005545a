import assert from "node:assert/strict";
import type { ImageChange, ImageSnapshot, TaggedImage } from "../model/image_snapshot.ts";
import { diffSnapshots, withToldTags } from "./snapshot.ts";

const APP = "docker.io/library/app";

function snapshot(entries: Record<string, string | TaggedImage>): ImageSnapshot {
  return new Map(
    Object.entries(entries).map((
      [key, value],
    ) => [key, typeof value === "string" ? { id: value, fromRegistry: false } : value]),
  );
}

Deno.test("diffSnapshots reports what changed between two snapshots", async (t) => {
  const cases: {
    name: string;
    before: Record<string, string | TaggedImage>;
    after: Record<string, string | TaggedImage>;
    expected: ImageChange[];
  }[] = [
    { name: "two empty snapshots differ in nothing", before: {}, after: {}, expected: [] },
    {
      name: "identical snapshots differ in nothing",
      before: { [`${APP}:v1`]: "sha256:1" },
      after: { [`${APP}:v1`]: "sha256:1" },
      expected: [],
    },
    {
      name: "a new tag is added, from the new entry",
      before: {},
      after: { [`${APP}:v2`]: { id: "sha256:2", fromRegistry: true } },
      expected: [{
        kind: "added",
        key: `${APP}:v2`,
        repository: APP,
        tag: "v2",
        id: "sha256:2",
        previousId: undefined,
        fromRegistry: true,
      }],
    },
    {
      name: "a tag naming another image has moved",
      before: { [`${APP}:latest`]: "sha256:1" },
      after: { [`${APP}:latest`]: "sha256:2" },
      expected: [{
        kind: "moved",
        key: `${APP}:latest`,
        repository: APP,
        tag: "latest",
        id: "sha256:2",
        previousId: "sha256:1",
        fromRegistry: false,
      }],
    },
    {
      name: "a tag that is gone is removed",
      before: { [`${APP}:v1`]: "sha256:1" },
      after: {},
      expected: [{
        kind: "removed",
        key: `${APP}:v1`,
        repository: APP,
        tag: "v1",
        previousId: "sha256:1",
      }],
    },
    {
      name: "a change of fromRegistry alone is no change",
      before: { [`${APP}:v1`]: { id: "sha256:1", fromRegistry: false } },
      after: { [`${APP}:v1`]: { id: "sha256:1", fromRegistry: true } },
      expected: [],
    },
    {
      name: "the repository keeps a registry port and the tag is after the last colon",
      before: {},
      after: { "localhost:5000/team/app:v1": "sha256:1" },
      expected: [{
        kind: "added",
        key: "localhost:5000/team/app:v1",
        repository: "localhost:5000/team/app",
        tag: "v1",
        id: "sha256:1",
        previousId: undefined,
        fromRegistry: false,
      }],
    },
    {
      name: "keys that are not repository:tag are left out",
      before: { "localhost:5000/gone": "sha256:0" },
      after: { "localhost:5000/app": "sha256:1", "app:": "sha256:2", ":v1": "sha256:3" },
      expected: [],
    },
  ];
  for (const { name, before, after, expected } of cases) {
    await t.step(name, () => {
      assert.deepEqual(diffSnapshots(snapshot(before), snapshot(after)), expected);
    });
  }
});

Deno.test("diffSnapshots orders changes by key whatever the engine's order", () => {
  const before = snapshot({ "z/a:1": "sha256:1", "m/a:1": "sha256:1", "b/a:1": "sha256:1" });
  const after = snapshot({ "y/a:1": "sha256:2", "m/a:1": "sha256:2", "a/a:1": "sha256:2" });
  const reversed = new Map([...after].reverse());
  const expected = ["a/a:1", "b/a:1", "m/a:1", "y/a:1", "z/a:1"];
  assert.deepEqual(diffSnapshots(before, after).map((c) => c.key), expected);
  assert.deepEqual(diffSnapshots(before, reversed), diffSnapshots(before, after));
  assert.deepEqual(
    diffSnapshots(before, after).map((c) => c.kind),
    ["added", "removed", "moved", "added", "removed"],
  );
});

Deno.test("diffSnapshots sees a retag as one removal and one addition", () => {
  const changes = diffSnapshots(
    snapshot({ [`${APP}:v1`]: "sha256:1" }),
    snapshot({ [`${APP}:v2`]: "sha256:1" }),
  );
  assert.deepEqual(changes.map((c) => `${c.kind} ${c.tag}`), ["removed v1", "added v2"]);
});

Deno.test("diffSnapshots does not modify its inputs", () => {
  const before = snapshot({ [`${APP}:v1`]: "sha256:1" });
  const after = snapshot({ [`${APP}:v2`]: "sha256:2" });
  diffSnapshots(before, after);
  assert.deepEqual([...before.keys()], [`${APP}:v1`]);
  assert.deepEqual([...after.keys()], [`${APP}:v2`]);
});

Deno.test("withToldTags() adds what tag events told, taking the rest from the same image", () => {
  const pulled = { id: "sha256:p", fromRegistry: true, configId: "sha256:c", time: 5 };
  const before: ImageSnapshot = new Map([["docker.io/library/web:v1", pulled]]);
  const after = withToldTags(before, [
    { key: "docker.io/library/web:v2", id: "sha256:p" },
    { key: "docker.io/library/app:v2", id: "sha256:new" },
  ]);
  assert.deepEqual(after?.get("docker.io/library/web:v2"), pulled, "a tag of a pulled image");
  // Pulled as web, tagged as site: site cannot be pulled, whatever web can.
  assert.deepEqual(
    withToldTags(before, [{ key: "docker.io/library/site:dev", id: "sha256:p" }])?.get(
      "docker.io/library/site:dev",
    ),
    { ...pulled, fromRegistry: false },
    "a pulled image tagged under another repository",
  );
  assert.deepEqual(after?.get("docker.io/library/app:v2"), {
    id: "sha256:new",
    fromRegistry: false,
  }, "an image this snapshot has not seen: a build, on this node only");
  assert.equal(before.size, 1, "the snapshot itself is left as it was");
  assert.equal(
    withToldTags(before, [{ key: "docker.io/library/web:v1", id: "sha256:p" }]),
    undefined,
  );
});
