import assert from "node:assert/strict";
import { ExitCode, UserError } from "../util/errors.ts";
import { setupLogging } from "../util/log.ts";
import { networkDetail } from "./api_errors.ts";
import { KubeApiError, KubeClient, KubeNetworkError } from "./rest.ts";
import { testClusterConfig } from "../testing/fake_cluster_config.ts";
import { readWatch } from "./watch_stream.ts";
import {
  certificates,
  execUser,
  json,
  plugin,
  runs,
  status,
  withServer,
} from "../testing/kube_test_server.ts";

await setupLogging({ level: "error", format: "text" });

Deno.test("KubeClient sends JSON requests with the token, the query and the patch type", async () => {
  await withServer(async (request) => {
    const url = new URL(request.url);
    if (request.method === "PATCH") {
      return json({ got: await request.json(), type: request.headers.get("content-type") });
    }
    if (url.pathname.endsWith("/log")) return new Response("line 1\nline 2\n");
    return json({
      path: url.pathname,
      query: url.search,
      auth: request.headers.get("authorization"),
    });
  }, async (server) => {
    const client = await KubeClient.create(testClusterConfig(server, { token: "s3cret" }));
    try {
      assert.deepEqual(
        await client.json("GET", "/apis/apps/v1/namespaces/dev/deployments", {
          query: { labelSelector: "tier in (a,b)", limit: 500, continue: undefined },
        }),
        {
          path: "/apis/apps/v1/namespaces/dev/deployments",
          query: "?labelSelector=tier+in+%28a%2Cb%29&limit=500",
          auth: "Bearer s3cret",
        },
      );
      assert.deepEqual(
        await client.json("PATCH", "/apis/apps/v1/namespaces/dev/deployments/web", {
          body: { spec: { replicas: 2 } },
          contentType: "application/strategic-merge-patch+json",
        }),
        { got: { spec: { replicas: 2 } }, type: "application/strategic-merge-patch+json" },
      );
      assert.equal(await client.text("/api/v1/namespaces/dev/pods/p/log"), "line 1\nline 2\n");
    } finally {
      client.close();
    }
  });
});

Deno.test("KubeClient errors carry the HTTP status as code and the Status as body", async () => {
  await withServer((request) => {
    if (request.url.endsWith("/missing")) return status(404, 'deployments.apps "x" not found');
    return new Response("upstream broke\nmore", { status: 502 });
  }, async (server) => {
    const client = await KubeClient.create(
      testClusterConfig(server, { username: "a", password: "b" }),
    );
    try {
      await assert.rejects(client.json("GET", "/missing"), (error: unknown) => {
        assert.ok(error instanceof KubeApiError);
        assert.equal(error.code, 404);
        assert.equal(error.body?.message, 'deployments.apps "x" not found');
        return true;
      });
      await assert.rejects(client.json("GET", "/broken"), (error: unknown) => {
        assert.ok(error instanceof KubeApiError);
        assert.equal(error.code, 502);
        assert.match(error.message, /502 upstream broke$/);
        return true;
      });
    } finally {
      client.close();
    }
  });
});

Deno.test("KubeClient reports a server that does not answer as a network error", async () => {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  const client = await KubeClient.create(testClusterConfig(`http://127.0.0.1:${port}`));
  try {
    await assert.rejects(client.json("GET", "/version"), (error: unknown) => {
      assert.ok(error instanceof KubeNetworkError);
      assert.equal(networkDetail(error), "connection refused");
      return true;
    });
  } finally {
    client.close();
  }
});

/** A body that sends `chunks` and then stays open until the request is aborted. */
function openStream(chunks: string[]): ReadableStream<Uint8Array> {
  const encoder = new TextEncoder();
  return new ReadableStream({
    start(controller) {
      for (const chunk of chunks) controller.enqueue(encoder.encode(chunk));
    },
  });
}

Deno.test("KubeClient.watch() delivers events split across chunks, ERROR events, and ends on abort", async () => {
  const event = (type: string, name: string) =>
    JSON.stringify({ type, object: { metadata: { name, resourceVersion: "7" } } });
  const chunks = [
    event("ADDED", "a").slice(0, 10),
    event("ADDED", "a").slice(10) + "\n" + event("MODIFIED", "b") + "\nnot json\n",
    JSON.stringify({ type: "ERROR", object: { kind: "Status", code: 410, message: "too old" } }) +
    "\n",
  ];
  await withServer((request) => {
    const url = new URL(request.url);
    if (url.searchParams.get("resourceVersion") === "1") return status(410, "too old");
    return new Response(openStream(chunks));
  }, async (server, seen) => {
    const client = await KubeClient.create(testClusterConfig(server));
    try {
      const events: string[] = [];
      const abort = new AbortController();
      await client.watch(
        "/apis/apps/v1/deployments",
        { resourceVersion: "5", allowWatchBookmarks: true },
        abort.signal,
        (type, object) => {
          events.push(`${type} ${object.metadata?.name ?? object.code}`);
          if (type === "ERROR") abort.abort();
        },
      );
      assert.deepEqual(events, ["ADDED a", "MODIFIED b", "ERROR 410"]);
      const query = new URL(seen[0]!.url).searchParams;
      assert.equal(query.get("watch"), "1");
      assert.equal(query.get("resourceVersion"), "5");
      assert.equal(query.get("allowWatchBookmarks"), "true");
      // The server ends it after half to three quarters of the 60 s deadline on silence.
      const timeoutSeconds = Number(query.get("timeoutSeconds"));
      assert.ok(timeoutSeconds >= 30 && timeoutSeconds <= 45, `${timeoutSeconds}`);
      await assert.rejects(
        client.watch(
          "/apis/apps/v1/deployments",
          { resourceVersion: "1" },
          new AbortController().signal,
          () => {},
        ),
        (error: unknown) => error instanceof KubeApiError && error.code === 410,
        "a watch refused with 410 rejects",
      );
    } finally {
      client.close();
    }
  });
});

Deno.test("readWatch() drops a line over the cap and reports it as an expired watch", async () => {
  const long = JSON.stringify({ type: "ADDED", object: { data: "x".repeat(200) } });
  const events: string[] = [];
  await readWatch(
    openStream([
      JSON.stringify({ type: "ADDED", object: { n: 1 } }) + "\n",
      long.slice(0, 100),
      long.slice(100) + "\n" + JSON.stringify({ type: "ADDED", object: { n: 2 } }) + "\n",
    ]),
    new AbortController().signal,
    (type, object) => events.push(`${type} ${object.n ?? object.code}`),
    128,
  );
  assert.deepEqual(events, ["ADDED 1", "ERROR 410"]);
});

Deno.test("readWatch() returns quietly when aborted while waiting", async () => {
  const abort = new AbortController();
  const events: string[] = [];
  const reading = readWatch(
    openStream([JSON.stringify({ type: "ADDED", object: { n: 1 } }) + "\n"]),
    abort.signal,
    (type) => {
      events.push(type);
      abort.abort();
    },
  );
  await reading;
  assert.deepEqual(events, ["ADDED"]);
});

Deno.test("KubeClient verifies the server with the cluster's CA, skips it only when told", async (t) => {
  await using certs = await certificates();
  await withServer(() => json({ ok: true }), async (server) => {
    await t.step("the kubeconfig's CA", async () => {
      const client = await KubeClient.create(testClusterConfig(server, {}, { caPem: certs.ca }));
      assert.deepEqual(await client.json("GET", "/version"), { ok: true });
      client.close();
    });
    await t.step("no CA: one line naming the fix", async () => {
      const client = await KubeClient.create(testClusterConfig(server));
      await assert.rejects(client.json("GET", "/version"), (error: unknown) => {
        assert.ok(error instanceof KubeNetworkError);
        assert.match(
          error.message,
          /^the server's TLS certificate was not accepted \(.*UnknownIssuer.*\); check certificate-authority/,
        );
        return true;
      });
      client.close();
    });
    await t.step("insecure-skip-tls-verify", async () => {
      const client = await KubeClient.create(
        testClusterConfig(server, {}, { skipTlsVerify: true }),
      );
      assert.deepEqual(await client.json("GET", "/version"), { ok: true });
      client.close();
    });
    await t.step("tls-server-name: the name the certificate is checked against", async () => {
      const right = await KubeClient.create(
        testClusterConfig(server, {}, { caPem: certs.ca, tlsServerName: "kubernetes" }),
      );
      assert.deepEqual(await right.json("GET", "/version"), { ok: true });
      right.close();
      const wrong = await KubeClient.create(
        testClusterConfig(server, {}, { caPem: certs.ca, tlsServerName: "elsewhere.example" }),
      );
      await assert.rejects(wrong.json("GET", "/version"), /TLS certificate was not accepted/);
      wrong.close();
    });
  }, certs.serving);
});

Deno.test("KubeClient presents the kubeconfig's client certificate", async () => {
  await using certs = await certificates();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = listener.addr.port;
  listener.close();
  // openssl's test server demands a client certificate and prints its subject.
  const server = new Deno.Command("openssl", {
    args: [
      ...["s_server", "-accept", `127.0.0.1:${port}`, "-quiet", "-www", "-Verify", "1"],
      ...["-cert", certs.servingFiles.certFile, "-key", certs.servingFiles.keyFile],
      ...["-CAfile", certs.caFile],
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  try {
    let up = false;
    for (let i = 0; i < 100 && !up; i++) {
      try {
        (await Deno.connect({ hostname: "127.0.0.1", port })).close();
        up = true;
      } catch {
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    }
    assert.ok(up, "openssl s_server did not start within 5 s");
    const base = testClusterConfig(`https://127.0.0.1:${port}`, {}, { caPem: certs.ca });
    const client = await KubeClient.create({
      ...base,
      user: { name: "me", certPem: certs.client.cert, keyPem: certs.client.key },
    });
    assert.match(await client.text("/"), /Subject: CN=veryfreshpod-user/);
    client.close();
    const anonymous = await KubeClient.create(base);
    await assert.rejects(anonymous.text("/"), KubeNetworkError);
    anonymous.close();
  } finally {
    server.kill();
    await server.status;
  }
});

Deno.test("KubeClient.create() names unusable client certificate material in one line", async () => {
  const config = testClusterConfig("https://127.0.0.1:1", {
    certPem: "-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n",
    keyPem: "nonsense",
  });
  await assert.rejects(KubeClient.create(config), (error: unknown) => {
    assert.ok(error instanceof UserError, String(error));
    assert.match(error.message, /^Cannot use the TLS settings of context "test" in kubeconfig/);
    assert.ok(!error.message.includes("\n"));
    return true;
  });
  await assert.rejects(
    KubeClient.create(testClusterConfig("https://127.0.0.1:1", { certPem: "x" })),
    /a client certificate without its key/,
  );
});

Deno.test("KubeClient reads a token file again when the server refuses the token it has", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const tokenFile = `${dir}/token`;
    await Deno.writeTextFile(tokenFile, "first\n");
    let accepted = "Bearer first";
    await withServer((request) => {
      return request.headers.get("authorization") === accepted
        ? json({ ok: true })
        : status(401, "Unauthorized");
    }, async (server, seen) => {
      const client = await KubeClient.create(testClusterConfig(server, { tokenFile }));
      try {
        assert.deepEqual(await client.json("GET", "/version"), { ok: true });
        // The token rotates: the file changes, the server accepts only the new one.
        await Deno.writeTextFile(tokenFile, "second\n");
        accepted = "Bearer second";
        assert.deepEqual(await client.json("GET", "/version"), { ok: true });
        assert.deepEqual(seen.map((r) => r.headers.get("authorization")), [
          "Bearer first",
          "Bearer first",
          "Bearer second",
        ]);
        // A token the file does not renew fails after one more read, without a loop.
        accepted = "Bearer third";
        await assert.rejects(
          client.json("GET", "/version"),
          (error: unknown) => error instanceof KubeApiError && error.code === 401,
        );
        assert.equal(seen.length, 4);
      } finally {
        client.close();
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KubeClient runs an exec plugin, keeps its token until it expires, and once more after a 401", async () => {
  const dir = await Deno.makeTempDir();
  try {
    let now = Date.parse("2026-01-01T00:00:00Z");
    const command = await plugin(
      dir,
      JSON.stringify({
        apiVersion: "client.authentication.k8s.io/v1",
        kind: "ExecCredential",
        status: { token: "from-plugin", expirationTimestamp: "2026-01-01T00:10:00Z" },
      }),
    );
    let refuse = 0;
    await withServer((request) => {
      if (refuse > 0) {
        refuse--;
        return status(401, "Unauthorized");
      }
      return request.headers.get("authorization") === "Bearer from-plugin"
        ? json({ ok: true })
        : status(401, "Unauthorized");
    }, async (server) => {
      const client = await KubeClient.create(testClusterConfig(server, execUser(command)), {
        now: () => now,
      });
      try {
        await client.json("GET", "/version");
        await client.json("GET", "/version");
        assert.equal(await runs(dir), 1, "kept until it expires");
        const info = JSON.parse(await Deno.readTextFile(`${dir}/info`));
        assert.equal(info.kind, "ExecCredential");
        assert.equal(info.spec.cluster.server, server);
        refuse = 1;
        await client.json("GET", "/version");
        assert.equal(await runs(dir), 2, "run again after a 401");
        now = Date.parse("2026-01-01T00:10:01Z");
        await client.json("GET", "/version");
        assert.equal(await runs(dir), 3, "run again after the expiry");
      } finally {
        client.close();
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KubeClient uses a client certificate from a v1beta1 exec plugin", async () => {
  await using certs = await certificates();
  const command = await plugin(
    certs.dir,
    JSON.stringify({
      apiVersion: "client.authentication.k8s.io/v1beta1",
      kind: "ExecCredential",
      status: { clientCertificateData: certs.client.cert, clientKeyData: certs.client.key },
    }),
  );
  await withServer(
    (request) => json({ auth: request.headers.get("authorization") }),
    async (server) => {
      const config = testClusterConfig(
        server,
        execUser(command, "client.authentication.k8s.io/v1beta1"),
        { caPem: certs.ca },
      );
      const client = await KubeClient.create(config);
      try {
        // Deno.serve cannot ask for a client certificate; the request goes out with
        // the plugin's certificate and no Authorization header.
        assert.deepEqual(await client.json("GET", "/version"), { auth: null });
        assert.equal(await runs(certs.dir), 1);
      } finally {
        client.close();
      }
    },
    certs.serving,
  );
});

Deno.test("KubeClient explains a failing or missing exec plugin in one line", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const failing = await plugin(dir, "", 3);
    const cases: [string, RegExp][] = [
      [
        failing,
        /^The credential plugin ".*plugin.sh" of user "me" failed with exit code 3 \(its messages are above\); run it yourself/,
      ],
      [
        `${dir}/absent`,
        /^Cannot run the credential plugin ".*absent" of user "me": not found; install the plugin: see the cloud's docs$/,
      ],
      [await plugin(dir, "{}", 0, "nostatus.sh"), /printed an ExecCredential without a status/],
    ];
    for (const [command, pattern] of cases) {
      const client = await KubeClient.create(
        testClusterConfig("http://127.0.0.1:1", execUser(command)),
      );
      await assert.rejects(client.json("GET", "/version"), (error: unknown) => {
        assert.ok(error instanceof UserError, String(error));
        assert.equal(error.exitCode, ExitCode.kubernetes);
        assert.match(error.message, pattern);
        return true;
      });
      client.close();
    }
    await assert.rejects(
      KubeClient.create(testClusterConfig("http://127.0.0.1:1", execUser(failing, "v1alpha0"))),
      /asks for v1alpha0, which veryfreshpod does not speak/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KubeClient takes an auth-provider's Authorization header from client-node, loaded then", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/token`, "provided");
    await withServer(
      (request) => json({ auth: request.headers.get("authorization") }),
      async (server) => {
        const client = await KubeClient.create(
          testClusterConfig(server, {
            authProvider: { name: "file", config: { tokenFile: `${dir}/token` } },
          }),
        );
        try {
          assert.deepEqual(await client.json("GET", "/version"), { auth: "Bearer provided" });
        } finally {
          client.close();
        }
      },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
