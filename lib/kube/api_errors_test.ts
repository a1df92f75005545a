import assert from "node:assert/strict";
import { ExitCode, UserError } from "../util/errors.ts";
import {
  apiMessage,
  apiStatus,
  explainKubeError,
  isRetryable,
  networkDetail,
} from "./api_errors.ts";
import { KubeApiError, KubeNetworkError } from "./rest.ts";

Deno.test("apiStatus() reads API errors, not network errors", () => {
  assert.equal(apiStatus({ code: 409 }), 409);
  assert.equal(apiStatus(new KubeApiError(410, { message: "too old" }, "GET /x: 410")), 410);
  assert.equal(apiStatus(new KubeNetworkError("connection refused", "ECONNREFUSED")), undefined);
  assert.equal(apiStatus({ code: "ECONNREFUSED" }), undefined);
  assert.equal(apiStatus("boom"), undefined);
});

Deno.test("apiMessage() prefers the server's Status message", () => {
  assert.equal(
    apiMessage({ body: '{"message":"deployments.apps \\"x\\" not found"}' }),
    'deployments.apps "x" not found',
  );
  assert.equal(
    apiMessage({ body: { message: "too old resource version" } }),
    "too old resource version",
  );
  assert.equal(
    apiMessage(new KubeApiError(404, { message: 'pods "x" not found' }, "GET /x: 404")),
    'pods "x" not found',
  );
  assert.equal(apiMessage(new Error("first line\nsecond")), "first line");
});

Deno.test("isRetryable() retries conflicts, throttling, server and network errors only", () => {
  for (const code of [409, 429, 500, 503]) assert.ok(isRetryable({ code }), String(code));
  for (const code of [400, 403, 404, 422]) assert.ok(!isRetryable({ code }), String(code));
  assert.ok(isRetryable(Object.assign(new Error("x"), { code: "ECONNRESET" })));
});

Deno.test("networkDetail() names common network faults in plain words", () => {
  assert.equal(networkDetail({ code: "ECONNREFUSED" }), "connection refused");
  assert.equal(networkDetail({ cause: { code: "ENOTFOUND" } }), "host not found");
  assert.equal(networkDetail(new Error("certificate has expired")), "certificate has expired");
  assert.equal(
    networkDetail(new KubeNetworkError("connection refused", "ECONNREFUSED")),
    "connection refused",
  );
});

Deno.test("explainKubeError() turns faults a user can fix into one-line UserErrors", async (t) => {
  const attempt = { verb: "list", resource: "nodes" };
  const server = "https://127.0.0.1:6443";
  const cases: [unknown, ExitCode, RegExp][] = [
    [{ code: 401 }, ExitCode.kubernetes, /rejected the credentials \(401 Unauthorized\)/],
    [{ code: 403 }, ExitCode.forbidden, /refused to list nodes at cluster scope \(403 Forbidden\)/],
    [{ code: "ECONNREFUSED" }, ExitCode.kubernetes, /Cannot reach .*: connection refused/],
  ];
  for (const [error, exitCode, pattern] of cases) {
    await t.step(pattern.source, () => {
      const explained = explainKubeError(error, server, attempt);
      assert.ok(explained instanceof UserError);
      assert.equal(explained.exitCode, exitCode);
      assert.match(explained.message, pattern);
      assert.ok(!explained.message.includes("\n"));
    });
  }
  await t.step("other API errors pass through", () => {
    const error = { code: 422 };
    assert.equal(explainKubeError(error, server, attempt), error);
  });
});
