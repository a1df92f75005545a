import assert from "node:assert/strict";
import { setupLogging } from "../util/log.ts";
import { proxyFor } from "./proxy.ts";
import { KubeClient } from "./rest.ts";
import { testClusterConfig } from "../testing/fake_cluster_config.ts";
import { certificates, json, withConnectProxy, withServer } from "../testing/kube_test_server.ts";

await setupLogging({ level: "error", format: "text" });

Deno.test("proxyFor() chooses the proxy as client-go does", () => {
  const env = (vars: Record<string, string>) => (name: string) => vars[name];
  const proxy = { HTTPS_PROXY: "http://proxy:3128", HTTP_PROXY: "http://plain:3128" };
  const cases: [string, string | undefined, Record<string, string>, string | undefined][] = [
    ["https://api.example:6443", undefined, proxy, "http://proxy:3128/"],
    ["http://api.example:8080", undefined, proxy, "http://plain:3128/"],
    ["http://api.example:8080", undefined, { ...proxy, REQUEST_METHOD: "GET" }, undefined],
    ["https://api.example", undefined, { https_proxy: "proxy:8080" }, "http://proxy:8080/"],
    // Loopback and localhost: never through the environment's proxy.
    ["https://127.0.0.1:6443", undefined, proxy, undefined],
    ["https://127.1.2.3:6443", undefined, proxy, undefined],
    ["https://[::1]:6443", undefined, proxy, undefined],
    ["https://localhost:6443", undefined, proxy, undefined],
    // ALL_PROXY is not Go's.
    ["https://api.example", undefined, { ALL_PROXY: "socks5://s:1080" }, undefined],
    // NO_PROXY: names with their subdomains, .suffixes, *, IPs, CIDRs, ports.
    ["https://api.example", undefined, { ...proxy, NO_PROXY: "example" }, undefined],
    ["https://example", undefined, { ...proxy, NO_PROXY: ".example" }, "http://proxy:3128/"],
    ["https://a.example", undefined, { ...proxy, NO_PROXY: ".example" }, undefined],
    ["https://a.example", undefined, { ...proxy, NO_PROXY: "*.example" }, undefined],
    ["https://api.other", undefined, { ...proxy, NO_PROXY: "example, *" }, undefined],
    ["https://10.1.2.3:6443", undefined, { ...proxy, NO_PROXY: "10.0.0.0/8" }, undefined],
    [
      "https://11.1.2.3:6443",
      undefined,
      { ...proxy, NO_PROXY: "10.0.0.0/8" },
      "http://proxy:3128/",
    ],
    ["https://[fd00::5]:6443", undefined, { ...proxy, NO_PROXY: "fd00::/8" }, undefined],
    ["https://10.1.2.3:6443", undefined, { ...proxy, no_proxy: "10.1.2.3" }, undefined],
    ["https://api.example:6443", undefined, { ...proxy, NO_PROXY: "api.example:6443" }, undefined],
    [
      "https://api.example:443",
      undefined,
      { ...proxy, NO_PROXY: "api.example:6443" },
      "http://proxy:3128/",
    ],
    // proxy-url wins, even for loopback and NO_PROXY.
    ["https://127.0.0.1:6443", "socks5://s:1080", { NO_PROXY: "*" }, "socks5://s:1080"],
  ];
  for (const [server, proxyUrl, vars, expected] of cases) {
    assert.equal(
      proxyFor(server, proxyUrl, env(vars))?.href,
      expected,
      `${server} ${proxyUrl ?? ""} ${JSON.stringify(vars)}`,
    );
  }
});

/** Runs `body` with these variables in the process's environment (fetch reads them). */
async function withEnv(vars: Record<string, string>, body: () => Promise<void>): Promise<void> {
  const saved = Object.fromEntries(Object.keys(vars).map((name) => [name, Deno.env.get(name)]));
  for (const [name, value] of Object.entries(vars)) Deno.env.set(name, value);
  try {
    await body();
  } finally {
    for (const [name, value] of Object.entries(saved)) {
      if (value === undefined) Deno.env.delete(name);
      else Deno.env.set(name, value);
    }
  }
}

Deno.test("KubeClient goes through proxies as kubectl does, on both transports", async (t) => {
  await using certs = await certificates();
  await withServer(() => json({ ok: true }), async (server) => {
    const port = new URL(server).port;
    // Named "kubernetes" (in the certificate, not in DNS): only the proxy can reach it.
    const byName = `https://kubernetes:${port}`;
    const get = async (config: ReturnType<typeof testClusterConfig>) => {
      const client = await KubeClient.create(config);
      try {
        return await client.json("GET", "/version");
      } finally {
        client.close();
      }
    };
    await withConnectProxy(async (proxy, seen) => {
      await t.step(
        "a loopback server is not proxied, whatever HTTPS_PROXY and ALL_PROXY say",
        async () => {
          await withEnv({ HTTPS_PROXY: proxy, ALL_PROXY: proxy }, async () => {
            assert.deepEqual(await get(testClusterConfig(server, {}, { caPem: certs.ca })), {
              ok: true,
            });
            assert.deepEqual(
              await get(
                testClusterConfig(server, {}, { caPem: certs.ca, tlsServerName: "kubernetes" }),
              ),
              { ok: true },
            );
          });
          assert.deepEqual(seen.splice(0), []);
        },
      );
      await t.step("HTTPS_PROXY for other servers, on fetch and on node:https", async () => {
        await withEnv({ HTTPS_PROXY: proxy }, async () => {
          assert.deepEqual(await get(testClusterConfig(byName, {}, { caPem: certs.ca })), {
            ok: true,
          });
          assert.deepEqual(await get(testClusterConfig(byName, {}, { skipTlsVerify: true })), {
            ok: true,
          });
        });
        assert.deepEqual(seen.splice(0), [
          `CONNECT kubernetes:${port} HTTP/1.1`,
          `CONNECT kubernetes:${port} HTTP/1.1`,
        ]);
      });
      await t.step("NO_PROXY is honoured on node:https too", async () => {
        await withEnv({ HTTPS_PROXY: proxy, NO_PROXY: "kubernetes" }, async () => {
          await assert.rejects(get(testClusterConfig(byName, {}, { skipTlsVerify: true })));
        });
        assert.deepEqual(seen.splice(0), []);
      });
      await t.step("proxy-url with insecure-skip-tls-verify and with tls-server-name", async () => {
        assert.deepEqual(
          await get(testClusterConfig(byName, {}, { skipTlsVerify: true, proxyUrl: proxy })),
          { ok: true },
        );
        assert.deepEqual(
          await get(
            testClusterConfig(byName, {}, {
              caPem: certs.ca,
              tlsServerName: "localhost",
              proxyUrl: proxy,
            }),
          ),
          { ok: true },
        );
        assert.equal(seen.splice(0).length, 2);
      });
    });
  }, certs.serving);
});
