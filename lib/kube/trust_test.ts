import assert from "node:assert/strict";
import { setupLogging } from "../util/log.ts";
import { KubeClient } from "./rest.ts";
import { testClusterConfig } from "../testing/fake_cluster_config.ts";
import { certificates, json, selfSignedServer, withServer } from "../testing/kube_test_server.ts";
import { isSelfSignedServer } from "./trust.ts";

await setupLogging({ level: "error", format: "text" });

Deno.test("With no CA in the kubeconfig, the operating system's trust store verifies the server", async () => {
  await using certs = await certificates();
  await withServer(() => json({ ok: true }), async (server) => {
    const client = await KubeClient.create(testClusterConfig(server), {
      systemRoots: () => [certs.ca],
    });
    try {
      assert.deepEqual(await client.json("GET", "/version"), { ok: true });
    } finally {
      client.close();
    }
  }, certs.serving);
});

Deno.test("The real trust store is the system's: SSL_CERT_FILE names a private CA, no CA in the kubeconfig", async () => {
  await using certs = await certificates();
  await withServer(() => json({ ok: true }), async (server) => {
    const script = `${certs.dir}/main.ts`;
    await Deno.writeTextFile(
      script,
      `import { KubeClient } from "${new URL("./rest.ts", import.meta.url)}";
import { testClusterConfig } from "${new URL(
        "../testing/fake_cluster_config.ts",
        import.meta.url,
      )}";
const client = await KubeClient.create(testClusterConfig(${JSON.stringify(server)}));
console.log(JSON.stringify(await client.json("GET", "/version")));
client.close();
`,
    );
    const output = await new Deno.Command(Deno.execPath(), {
      args: [
        ...["run", "-A", "--no-check", "--config"],
        ...[new URL("../../deno.json", import.meta.url).pathname, script],
      ],
      env: { SSL_CERT_FILE: certs.caFile },
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.equal(new TextDecoder().decode(output.stdout).trim(), '{"ok":true}');
  }, certs.serving);
});

Deno.test("A self-signed server certificate with CA:TRUE, given as the CA, is accepted as kubectl accepts it", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const self = await selfSignedServer(dir);
    assert.equal(isSelfSignedServer(self.cert, "https://127.0.0.1:6443"), true);
    assert.equal(isSelfSignedServer(self.cert, "https://10.9.9.9:6443"), false);
    await withServer(() => json({ ok: true }), async (server) => {
      const client = await KubeClient.create(testClusterConfig(server, {}, { caPem: self.cert }));
      try {
        assert.deepEqual(await client.json("GET", "/version"), { ok: true });
      } finally {
        client.close();
      }
      // Trusted only as given: without it, refused.
      const stranger = await KubeClient.create(testClusterConfig(server), {
        systemRoots: () => [],
      });
      try {
        await assert.rejects(stranger.json("GET", "/version"), /TLS certificate was not accepted/);
      } finally {
        stranger.close();
      }
    }, self);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("A rotated CA file is read again: the new CA verifies the server a minute later", async () => {
  await using old = await certificates();
  await using rotated = await certificates();
  const dir = await Deno.makeTempDir();
  try {
    // The kubeconfig was loaded with the old CA; the file now holds the new one.
    const caFile = `${dir}/ca.crt`;
    await Deno.writeTextFile(caFile, rotated.ca);
    let now = 0;
    await withServer(() => json({ ok: true }), async (server) => {
      const client = await KubeClient.create(
        testClusterConfig(server, {}, { caPem: old.ca, caFile }),
        { now: () => now },
      );
      try {
        await assert.rejects(client.json("GET", "/version"), /TLS certificate was not accepted/);
        now = 60_000;
        assert.deepEqual(await client.json("GET", "/version"), { ok: true });
      } finally {
        client.close();
      }
    }, rotated.serving);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
