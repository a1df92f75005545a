import assert from "node:assert/strict";
import { ExitCode, UserError } from "../util/errors.ts";
import { setupLogging } from "../util/log.ts";
import { authenticator } from "./auth.ts";
import { checkCluster } from "./cluster.ts";
import type { ExecConfig } from "./config.ts";
import { KubeClient } from "./rest.ts";
import { testClusterConfig } from "../testing/fake_cluster_config.ts";
import { execUser, json, plugin, runs, withServer } from "../testing/kube_test_server.ts";

await setupLogging({ level: "error", format: "text" });

const credential = (token: string) =>
  JSON.stringify({
    apiVersion: "client.authentication.k8s.io/v1",
    kind: "ExecCredential",
    status: { token },
  });

Deno.test("authenticator() takes tokenFile over token and reads it again each minute", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/token`, "from-file\n");
    let now = 0;
    const auth = authenticator(
      testClusterConfig("https://h", { token: "inline", tokenFile: `${dir}/token` }),
      { now: () => now },
    );
    assert.equal((await auth.credentials()).authorization, "Bearer from-file");
    await Deno.writeTextFile(`${dir}/token`, "rotated\n");
    now = 59_000;
    assert.equal((await auth.credentials()).authorization, "Bearer from-file");
    now = 60_000;
    assert.equal((await auth.credentials()).authorization, "Bearer rotated");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("authenticator() reads rotated client certificate and key files again each minute", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/tls.crt`, "CERT 1");
    await Deno.writeTextFile(`${dir}/tls.key`, "KEY 1");
    let now = 0;
    const auth = authenticator(
      testClusterConfig("https://h", {
        certPem: "CERT 1",
        keyPem: "KEY 1",
        certFile: `${dir}/tls.crt`,
        keyFile: `${dir}/tls.key`,
      }),
      { now: () => now },
    );
    await Deno.writeTextFile(`${dir}/tls.crt`, "CERT 2");
    await Deno.writeTextFile(`${dir}/tls.key`, "KEY 2");
    assert.deepEqual(await auth.credentials(), {
      certPem: "CERT 1",
      keyPem: "KEY 1",
      authorization: undefined,
    });
    now = 60_000;
    assert.deepEqual(await auth.credentials(), {
      certPem: "CERT 2",
      keyPem: "KEY 2",
      authorization: undefined,
    });
    // A 401 reads them at once; true only when they changed.
    await Deno.writeTextFile(`${dir}/tls.crt`, "CERT 3");
    assert.equal(await auth.refresh(), true);
    assert.equal((await auth.credentials()).certPem, "CERT 3");
    assert.equal(await auth.refresh(), false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("authenticator() does not run the exec plugin when a token, basic auth or a client certificate is set", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const command = await plugin(dir, credential("from-plugin"));
    const { exec } = execUser(command);
    const cases: [string, Record<string, string>, string | undefined][] = [
      ["token", { token: "t" }, "Bearer t"],
      ["basic auth", { username: "a", password: "b" }, `Basic ${btoa("a:b")}`],
      ["client certificate", { certPem: "C", keyPem: "K" }, undefined],
      ["nothing else", {}, "Bearer from-plugin"],
    ];
    for (const [name, user, expected] of cases) {
      const auth = authenticator(testClusterConfig("https://h", { ...user, exec }));
      assert.equal((await auth.credentials()).authorization, expected, name);
    }
    assert.equal(await runs(dir), 1, "run only for the user with nothing else");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("KubeClient sends as-groups, as-uid and as-user-extra, and honours disable-compression", async () => {
  await withServer(
    (request) =>
      json({
        user: request.headers.get("impersonate-user"),
        groups: request.headers.get("impersonate-group"),
        uid: request.headers.get("impersonate-uid"),
        scopes: request.headers.get("impersonate-extra-scopes"),
        domain: request.headers.get("impersonate-extra-example.com%2Fteam"),
        encoding: request.headers.get("accept-encoding"),
      }),
    async (server) => {
      const client = await KubeClient.create(testClusterConfig(server, {
        impersonate: "jane",
        impersonateGroups: ["dev", "ops"],
        impersonateUid: "42",
        impersonateExtra: { scopes: ["view", "edit"], "example.com/team": ["a"] },
      }, { disableCompression: true }));
      try {
        assert.deepEqual(await client.json("GET", "/version"), {
          user: "jane",
          groups: "dev, ops",
          uid: "42",
          scopes: "view, edit",
          domain: "a",
          encoding: "identity",
        });
      } finally {
        client.close();
      }
    },
  );
});

/** The ExecAuth options a test gives: a terminal or not, the plugin's stderr dropped. */
async function execInfo(
  dir: string,
  exec: ExecConfig,
  terminal: boolean,
  more: Record<string, unknown> = {},
) {
  const auth = authenticator(
    testClusterConfig("https://h:6443", { exec }, {
      proxyUrl: "http://proxy:3128",
      disableCompression: true,
      execExtension: { audience: "team" },
      ...more,
    }),
    { stdinIsTerminal: () => terminal },
  );
  await auth.credentials();
  return JSON.parse(await Deno.readTextFile(`${dir}/info`)).spec;
}

Deno.test("Exec plugins get interactive as interactiveMode and the terminal allow, and the cluster's proxy, compression and extension", async (t) => {
  const dir = await Deno.makeTempDir();
  try {
    const command = await plugin(dir, credential("t"));
    const exec = (mode: ExecConfig["interactiveMode"]) => ({
      ...execUser(command).exec,
      interactiveMode: mode,
    });
    await t.step("the cluster as client-go passes it", async () => {
      const spec = await execInfo(dir, exec("Never"), false);
      assert.deepEqual(spec.cluster, {
        server: "https://h:6443",
        "insecure-skip-tls-verify": false,
        "proxy-url": "http://proxy:3128",
        "disable-compression": true,
        config: { audience: "team" },
      });
    });
    await t.step("Never: not interactive, even on a terminal", async () => {
      assert.equal((await execInfo(dir, exec("Never"), true)).interactive, false);
    });
    await t.step("IfAvailable: interactive on a terminal only", async () => {
      assert.equal((await execInfo(dir, exec("IfAvailable"), true)).interactive, true);
      assert.equal((await execInfo(dir, exec("IfAvailable"), false)).interactive, false);
    });
    await t.step("Always: interactive on a terminal, refused in one line without", async () => {
      assert.equal((await execInfo(dir, exec("Always"), true)).interactive, true);
      await assert.rejects(execInfo(dir, exec("Always"), false), (error: unknown) => {
        assert.ok(error instanceof UserError);
        assert.equal(error.exitCode, ExitCode.kubernetes);
        assert.match(
          error.message,
          /^The credential plugin ".*" of user "me" needs a terminal \(interactiveMode: Always\), and standard input is not one; run veryfreshpod in a terminal/,
        );
        return true;
      });
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("An interactive exec plugin reads our stdin and writes to our stderr", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // The plugin asks for a code on stderr and takes the answer from stdin as its token.
    const command = `${dir}/login.sh`;
    await Deno.writeTextFile(
      command,
      `#!/bin/sh
echo "Enter the code shown at https://login.example/device:" >&2
read code
printf '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"%s"}}' "$code"
`,
    );
    await Deno.chmod(command, 0o755);
    const script = `${dir}/main.ts`;
    const exec = { ...execUser(command).exec, interactiveMode: "Always" };
    await Deno.writeTextFile(
      script,
      `import { ExecAuth } from "${new URL("./exec_auth.ts", import.meta.url)}";
const auth = new ExecAuth(${JSON.stringify(exec)}, "me",
  { server: "https://h", caPem: undefined, tlsServerName: undefined, skipTlsVerify: false },
  { stdinIsTerminal: () => true });
console.log((await auth.credential()).token);
`,
    );
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        ...["run", "-A", "--no-check", "--config"],
        ...[new URL("../../deno.json", import.meta.url).pathname, script],
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = child.stdin.getWriter();
    await writer.write(new TextEncoder().encode("4711\n"));
    await writer.close();
    const output = await child.output();
    const stderr = new TextDecoder().decode(output.stderr);
    assert.equal(output.code, 0, stderr);
    assert.equal(new TextDecoder().decode(output.stdout).trim(), "4711");
    assert.match(stderr, /Enter the code shown at https:\/\/login\.example\/device:/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("checkCluster() does not count a slow login against the API server, and names a failing plugin", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const slow = `${dir}/slow.sh`;
    await Deno.writeTextFile(slow, `#!/bin/sh\nsleep 0.5\nprintf '%s' '${credential("t")}'\n`);
    await Deno.chmod(slow, 0o755);
    const failing = await plugin(dir, "", 1, "failing.sh");
    await withServer(() => json({ gitVersion: "v1.34.0" }), async (server) => {
      const client = await KubeClient.create(testClusterConfig(server, execUser(slow)));
      try {
        // The check's own deadline is 200 ms; the plugin alone takes 500 ms.
        assert.equal(await checkCluster(client, 200), "v1.34.0");
      } finally {
        client.close();
      }
      const broken = await KubeClient.create(testClusterConfig(server, execUser(failing)));
      try {
        await assert.rejects(checkCluster(broken, 200), (error: unknown) => {
          assert.ok(error instanceof UserError);
          assert.match(error.message, /^The credential plugin ".*failing.sh" of user "me" failed/);
          return true;
        });
      } finally {
        broken.close();
      }
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
