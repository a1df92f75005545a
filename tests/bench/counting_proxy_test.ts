import assert from "node:assert/strict";
import { classify, countByKey } from "./counting_proxy.ts";

Deno.test("classify() names verb and resource the way kubectl's verbs do", () => {
  const cases: [string, string, string][] = [
    ["PATCH", "/apis/apps/v1/namespaces/a/deployments/web", "PATCH deployments"],
    ["GET", "/apis/apps/v1/namespaces/a/deployments/web", "GET deployments"],
    ["GET", "/apis/apps/v1/deployments", "LIST deployments"],
    ["GET", "/apis/apps/v1/deployments?watch=true&resourceVersion=5", "WATCH deployments"],
    ["GET", "/apis/batch/v1/namespaces/a/cronjobs?watch=1", "WATCH cronjobs"],
    ["POST", "/api/v1/namespaces/a/events", "CREATE events"],
    ["PUT", "/apis/apps/v1/namespaces/a/deployments/web/status", "UPDATE deployments/status"],
    ["GET", "/api/v1/namespaces/a", "GET namespaces"],
    ["GET", "/api/v1/namespaces", "LIST namespaces"],
    ["DELETE", "/apis/apps/v1/namespaces/a/deployments", "DELETECOLLECTION deployments"],
    ["GET", "/version", "GET /version"],
    ["GET", "/apis", "GET /apis"],
  ];
  for (const [method, path, expected] of cases) {
    assert.equal(classify(method, `http://127.0.0.1:1${path}`), expected, `${method} ${path}`);
  }
});

Deno.test("countByKey() counts each verb and resource", () => {
  assert.deepEqual(
    countByKey([
      { key: "PATCH deployments", at: 1 },
      { key: "CREATE events", at: 2 },
      { key: "PATCH deployments", at: 3 },
    ]),
    { "PATCH deployments": 2, "CREATE events": 1 },
  );
  assert.deepEqual(countByKey([]), {});
});
