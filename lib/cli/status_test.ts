import assert from "node:assert/strict";
import type { StatusRow } from "../rollout/status_rows.ts";
import { main } from "./main.ts";
import { age, renderJson, renderTable } from "./status.ts";

const NOW = Date.parse("2026-11-25T12:00:00Z");
const row: StatusRow = {
  namespace: "dev",
  kind: "Deployment",
  name: "web",
  container: "web",
  image: "myimage:fixed",
  original: "myimage:test",
  id: "sha256:3f2a9c0d1e2b3f4a5b6c7d8e9f00112233445566778899aabbccddeeff001122",
  configId: "sha256:c0nf19",
  at: "2026-11-25T11:57:48.000Z",
  rollout: { state: "done", detail: "2/2 ready" },
  pods: { onImage: 2, total: 2 },
};

Deno.test("renderTable() prints a kubectl-like table, the long ROLLOUT column last", () => {
  const failing: StatusRow = {
    ...row,
    name: "api",
    container: "api",
    image: "api:v7",
    original: undefined,
    id: undefined,
    at: undefined,
    rollout: { state: "failing", detail: "pod api-1 container api: CrashLoopBackOff, exited 1" },
    pods: { onImage: 0, total: 1 },
  };
  assert.equal(
    renderTable([row, failing], NOW),
    [
      "NAMESPACE   WORKLOAD         CONTAINER   IMAGE           ORIGINAL       ID             UPDATED     PODS   ROLLOUT",
      "dev         deployment/web   web         myimage:fixed   myimage:test   3f2a9c0d1e2b   2m12s ago   2/2    done: 2/2 ready",
      "dev         deployment/api   api         api:v7          -              <unknown>      <unknown>   0/1    failing: pod api-1 container api: CrashLoopBackOff, exited 1",
      "",
    ].join("\n"),
  );
  assert.equal(renderTable([], NOW), "No workload has been changed by veryfreshpod\n");
});

Deno.test("renderJson() gives every field, null where unknown", () => {
  assert.deepEqual(JSON.parse(renderJson([{ ...row, pods: undefined, at: undefined }])), [{
    namespace: "dev",
    kind: "Deployment",
    name: "web",
    container: "web",
    image: "myimage:fixed",
    original: "myimage:test",
    id: row.id,
    configId: "sha256:c0nf19",
    updatedAt: null,
    rollout: { state: "done", detail: "2/2 ready" },
    pods: null,
  }]);
});

Deno.test("age() reads like kubectl's AGE column", () => {
  const cases: Array<[number, string]> = [
    [0, "0s"],
    [119_000, "119s"],
    [132_000, "2m12s"],
    [600_000, "10m"],
    [3 * 3600_000 + 5 * 60_000, "3h5m"],
    [30 * 3600_000, "30h"],
    [3 * 86400_000 + 4 * 3600_000, "3d4h"],
    [40 * 86400_000, "40d"],
  ];
  for (const [ms, expected] of cases) assert.equal(age(ms), expected);
});

Deno.test("status rejects a bad --output in one line with exit code 2", async () => {
  let stderr = "";
  const code = await main(["status", "-o", "yaml"], {
    env: () => undefined,
    os: "linux",
    stdout: () => {},
    stderr: (text) => stderr += text,
    signal: AbortSignal.abort(),
  });
  assert.equal(code, 2);
  assert.match(stderr, /^error: invalid value "yaml" for --output: must be one of table, json\n/);
});

Deno.test("status without a kubeconfig says so with exit code 4", async () => {
  let stderr = "";
  const code = await main(["status", "--kubeconfig", "/nonexistent/kubeconfig"], {
    env: () => undefined,
    os: "linux",
    stdout: () => {},
    stderr: (text) => stderr += text,
    signal: AbortSignal.abort(),
  });
  assert.equal(code, 4);
  assert.match(stderr, /^error: Cannot read kubeconfig "\/nonexistent\/kubeconfig"/);
});
