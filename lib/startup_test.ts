import assert from "node:assert/strict";
import type { TrackedWorkload } from "./kube/workload.ts";
import { ROLLOUT_ANNOTATION } from "./plan_types.ts";
import { startupChanges } from "./startup.ts";

function workload(record: string | undefined): TrackedWorkload {
  return {
    key: { kind: "Deployment", namespace: "dev", name: "web" },
    resourceVersion: "1",
    labels: {},
    annotations: {},
    templateAnnotations: record === undefined ? {} : { [ROLLOUT_ANNOTATION]: record },
    containers: [{ name: "app", init: false, image: "myimage:dev", pullPolicy: undefined }],
  };
}

const KEY = "docker.io/library/myimage:dev";
const snapshot = new Map([[KEY, { id: "sha256:new", fromRegistry: false }]]);

Deno.test("startupChanges() reports a recorded tag rebuilt while veryfreshpod was down", () => {
  assert.deepEqual(startupChanges([workload(JSON.stringify({ [KEY]: "sha256:old" }))], snapshot), [{
    kind: "moved",
    key: KEY,
    repository: "docker.io/library/myimage",
    tag: "dev",
    id: "sha256:new",
    previousId: "sha256:old",
    fromRegistry: false,
  }]);
});

Deno.test("startupChanges() ignores current, missing, absent and unparsable records", async (t) => {
  const cases: Record<string, string | undefined> = {
    "no record": undefined,
    "record matches": JSON.stringify({ [KEY]: "sha256:new" }),
    "tag no longer exists": JSON.stringify({ "docker.io/library/gone:dev": "sha256:x" }),
    "not JSON": "{{{",
    "not an object": "[1,2]",
    "not a string ID": JSON.stringify({ [KEY]: 5 }),
  };
  for (const [name, record] of Object.entries(cases)) {
    await t.step(name, () => assert.deepEqual(startupChanges([workload(record)], snapshot), []));
  }
});
