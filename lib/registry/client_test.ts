import assert from "node:assert/strict";
import { parseChallenge, RegistryClient, registryScheme } from "./client.ts";

Deno.test("loopback registries over HTTP as Docker treats them, every other over HTTPS", () => {
  for (
    const host of ["localhost:5001", "127.0.0.1:5000", "127.1.2.3", "[::1]:5000", "a.localhost"]
  ) {
    assert.equal(registryScheme(host), "http", host);
  }
  for (
    const host of ["registry.example.com", "kind-registry:5000", "10.0.0.1:5000", "localhostx"]
  ) {
    assert.equal(registryScheme(host), "https", host);
  }
});

Deno.test("WWW-Authenticate: basic and bearer with quoted parameters", () => {
  assert.deepEqual(parseChallenge('Basic realm="x"'), { scheme: "basic" });
  assert.deepEqual(
    parseChallenge(
      'Bearer realm="https://auth.example.com/token",service="reg",scope="repository:a:pull"',
    ),
    {
      scheme: "bearer",
      params: {
        realm: "https://auth.example.com/token",
        service: "reg",
        scope: "repository:a:pull",
      },
    },
  );
  assert.equal(parseChallenge("Negotiate abc"), undefined);
  assert.equal(parseChallenge(null), undefined);
});

/** A registry that wants a bearer token from its own /token, issued for basic credentials. */
function tokenRegistry() {
  const seen: string[] = [];
  let tokens = 0;
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen: () => {} }, (request) => {
    const url = new URL(request.url);
    const authorization = request.headers.get("authorization") ?? "";
    seen.push(
      `${request.method} ${url.pathname}${url.search} ${authorization.split(" ")[0] ?? ""}`,
    );
    if (url.pathname === "/token") {
      if (authorization !== `Basic ${btoa("u:p")}`) return new Response("no", { status: 401 });
      return Response.json({ token: `t${++tokens}` });
    }
    if (!authorization.startsWith("Bearer t")) {
      const { port } = server.addr as Deno.NetAddr;
      return new Response("", {
        status: 401,
        headers: {
          "www-authenticate":
            `Bearer realm="http://127.0.0.1:${port}/token",service="test",scope="ignored"`,
        },
      });
    }
    return new Response(null, { status: 404 });
  });
  const { port } = server.addr as Deno.NetAddr;
  return { address: `127.0.0.1:${port}`, seen, server };
}

Deno.test("bearer auth: a token for the repository's scope, fetched once with basic credentials", async () => {
  const registry = tokenRegistry();
  try {
    const client = new RegistryClient(registry.address, {
      credentials: () =>
        Promise.resolve({ credentials: { username: "u", password: "p" }, source: "test config" }),
    });
    const digest = `sha256:${"a".repeat(64)}`;
    assert.equal(await client.hasBlob("team/app", digest), false);
    assert.equal(await client.hasBlob("team/app", digest), false);
    assert.deepEqual(registry.seen, [
      `HEAD /v2/team/app/blobs/${digest} `,
      "GET /token?service=test&scope=repository%3Ateam%2Fapp%3Apull%2Cpush Basic",
      `HEAD /v2/team/app/blobs/${digest} Bearer`,
      `HEAD /v2/team/app/blobs/${digest} Bearer`,
    ]);
  } finally {
    await registry.server.shutdown();
  }
});

Deno.test("bearer auth refused: one line naming the credential source", async () => {
  const registry = tokenRegistry();
  try {
    const client = new RegistryClient(registry.address, {
      credentials: () =>
        Promise.resolve({
          credentials: { username: "u", password: "wrong" },
          source: 'auths["x"] in /c/config.json',
        }),
    });
    await assert.rejects(
      client.hasBlob("app", `sha256:${"a".repeat(64)}`),
      (error: Error) => {
        assert.match(
          error.message,
          /^the token service of 127\.0\.0\.1:\d+ \(http:\/\/127\.0\.0\.1:\d+\) refused the credentials from auths\["x"\] in \/c\/config\.json: HTTP 401$/,
        );
        return true;
      },
    );
  } finally {
    await registry.server.shutdown();
  }
});
