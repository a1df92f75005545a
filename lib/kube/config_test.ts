import assert from "node:assert/strict";
import { ExitCode, UserError } from "../util/errors.ts";
import { loadKubeConfig } from "./config.ts";

const KUBECONFIG = `apiVersion: v1
kind: Config
clusters:
- name: dev
  cluster: { server: "https://127.0.0.1:6443" }
- name: other
  cluster: { server: "https://127.0.0.1:7443" }
users:
- name: me
  user: { token: "secret" }
contexts:
- name: dev
  context: { cluster: dev, user: me }
- name: other
  context: { cluster: other, user: me }
current-context: dev
`;

async function withFile(text: string, body: (path: string) => void | Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/config`;
    await Deno.writeTextFile(path, text);
    await body(path);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const noEnv = (_: string) => undefined;

function assertUserError(fn: () => unknown, pattern: RegExp) {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof UserError, `expected a UserError, got ${error}`);
    assert.equal(error.exitCode, ExitCode.kubernetes);
    assert.match(error.message, pattern);
    assert.ok(!error.message.includes("\n"), "one line");
    return true;
  });
}

Deno.test("loadKubeConfig() uses --kubeconfig and its current context", async () => {
  await withFile(KUBECONFIG, (path) => {
    const config = loadKubeConfig({ kubeconfig: path, env: noEnv });
    assert.equal(config.server, "https://127.0.0.1:6443");
  });
});

Deno.test("loadKubeConfig() switches to --context", async () => {
  await withFile(KUBECONFIG, (path) => {
    const config = loadKubeConfig({ kubeconfig: path, context: "other", env: noEnv });
    assert.equal(config.server, "https://127.0.0.1:7443");
  });
});

Deno.test("loadKubeConfig() rejects an unknown --context and lists the known ones", async () => {
  await withFile(KUBECONFIG, (path) => {
    assertUserError(
      () => loadKubeConfig({ kubeconfig: path, context: "prod", env: noEnv }),
      /Context "prod" not found in kubeconfig; available: dev, other/,
    );
  });
});

Deno.test("loadKubeConfig() skips missing files in KUBECONFIG like kubectl", async () => {
  await withFile(KUBECONFIG, (path) => {
    const env = (name: string) => name === "KUBECONFIG" ? `/nonexistent/a:${path}` : undefined;
    assert.equal(loadKubeConfig({ env }).server, "https://127.0.0.1:6443");
  });
});

Deno.test("loadKubeConfig() explains every missing or broken configuration in one line", async (t) => {
  await t.step("--kubeconfig names a missing file", () => {
    assertUserError(
      () => loadKubeConfig({ kubeconfig: "/nonexistent/config", env: noEnv }),
      /Cannot read kubeconfig "\/nonexistent\/config": no such file/,
    );
  });
  await t.step("no file in KUBECONFIG exists", () => {
    const env = (name: string) =>
      name === "KUBECONFIG" ? "/nonexistent/a:/nonexistent/b" : undefined;
    assertUserError(() => loadKubeConfig({ env }), /none of the files in KUBECONFIG exists/);
  });
  await t.step("nothing anywhere", () => {
    const env = (name: string) => name === "HOME" ? "/nonexistent" : undefined;
    assertUserError(() => loadKubeConfig({ env }), /No Kubernetes configuration found/);
  });
  await t.step("a file that is not YAML", async () => {
    await withFile("{{{ not yaml", (path) => {
      assertUserError(
        () => loadKubeConfig({ kubeconfig: path, env: noEnv }),
        /Cannot load kubeconfig ".*": .*; fix or replace the file/,
      );
    });
  });
  await t.step("an empty file, or one of comments only", async () => {
    for (const text of ["", "\n\n", "# nothing yet\n", "---\n", "null\n"]) {
      await withFile(text, (path) => {
        assertUserError(
          () => loadKubeConfig({ kubeconfig: path, env: noEnv }),
          /^Cannot load kubeconfig ".*": the file is empty; point --kubeconfig or KUBECONFIG at your cluster's configuration \(kind get kubeconfig, /,
        );
      });
    }
  });
  await t.step("a file that is YAML but not a mapping", async () => {
    for (const text of ["just a string\n", "[1, 2]\n", "42\n"]) {
      await withFile(text, (path) => {
        assertUserError(
          () => loadKubeConfig({ kubeconfig: path, env: noEnv }),
          /^The kubeconfig has no contexts; point --kubeconfig at a cluster's configuration$/,
        );
      });
    }
  });
  await t.step("a file without contexts", async () => {
    await withFile("apiVersion: v1\nkind: Config\n", (path) => {
      assertUserError(
        () => loadKubeConfig({ kubeconfig: path, env: noEnv }),
        /The kubeconfig has no contexts/,
      );
    });
  });
});

Deno.test("loadKubeConfig() merges KUBECONFIG's files as kubectl does: the first to set a name wins", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = `${dir}/first`;
    const second = `${dir}/second`;
    await Deno.writeTextFile(
      first,
      `clusters:
- name: dev
  cluster: { server: "https://first:6443" }
contexts:
- name: dev
  context: { cluster: dev }
`,
    );
    await Deno.writeTextFile(
      second,
      KUBECONFIG.replace("current-context: dev", "current-context: other"),
    );
    const env = (name: string) => name === "KUBECONFIG" ? `${first}:${second}` : undefined;
    // current-context comes from the only file that sets it; "dev" from the first file.
    assert.equal(loadKubeConfig({ env }).server, "https://127.0.0.1:7443");
    assert.equal(loadKubeConfig({ env, context: "dev" }).server, "https://first:6443");
    assert.equal(loadKubeConfig({ env, context: "dev" }).user.token, undefined);
    assert.equal(loadKubeConfig({ env, context: "other" }).user.token, "secret");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";

Deno.test("loadKubeConfig() reads certificate files relative to the kubeconfig's directory", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/certs`);
    await Deno.writeTextFile(`${dir}/certs/ca.crt`, PEM);
    await Deno.writeTextFile(`${dir}/certs/me.key`, "KEY");
    await Deno.writeTextFile(
      `${dir}/config`,
      `clusters:
- name: c
  cluster: { server: "https://h:6443/", certificate-authority: certs/ca.crt, tls-server-name: api }
users:
- name: u
  user:
    client-certificate-data: ${btoa("CERT")}
    client-key: certs/me.key
    exec: { apiVersion: client.authentication.k8s.io/v1, command: ./bin/login, args: [x], interactiveMode: Never }
contexts:
- name: c
  context: { cluster: c, user: u, namespace: team }
current-context: c
`,
    );
    const config = loadKubeConfig({ kubeconfig: `${dir}/config`, env: noEnv });
    assert.equal(config.server, "https://h:6443");
    assert.equal(config.caPem, PEM);
    assert.equal(config.caFile, `${dir}/certs/ca.crt`);
    assert.equal(config.user.keyFile, `${dir}/certs/me.key`);
    assert.equal(config.user.certFile, undefined);
    assert.equal(config.tlsServerName, "api");
    assert.equal(config.namespace, "team");
    assert.equal(config.user.certPem, "CERT");
    assert.equal(config.user.keyPem, "KEY");
    assert.equal(config.user.exec?.command, `${dir}/./bin/login`);
    assert.deepEqual(config.user.exec?.args, ["x"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadKubeConfig() names what is wrong in a kubeconfig's content, in one line", async (t) => {
  const cluster = (body: string) =>
    `clusters:\n- name: c\n  cluster: ${body}\ncontexts:\n- name: c\n  context: { cluster: c, user: u }\ncurrent-context: c\n`;
  const user = (body: string) =>
    `${cluster('{ server: "https://h" }')}users:\n- name: u\n  user: ${body}\n`;
  const cases: [string, string, RegExp][] = [
    [
      "a cluster without a server",
      cluster("{ insecure-skip-tls-verify: true }"),
      /cluster "c" has no server; fix or replace the file$/,
    ],
    [
      "a server that is not a URL",
      cluster('{ server: "h:6443" }'),
      /cluster "c" has the server "h:6443", which is not an http\(s\) URL/,
    ],
    [
      "an unreadable CA file",
      cluster('{ server: "https://h", certificate-authority: /nonexistent/ca.crt }'),
      /cannot read the certificate-authority "\/nonexistent\/ca.crt" of cluster "c" \(no such file\); fix the path$/,
    ],
    [
      "CA data that is not base64",
      cluster('{ server: "https://h", certificate-authority-data: "%%%" }'),
      /cluster "c" has a certificate-authority-data that is not base64/,
    ],
    [
      "an unreadable client key",
      user("{ client-key: missing.key }"),
      /cannot read the client-key ".*\/missing.key" of user "u" \(no such file\)/,
    ],
    [
      "client certificate data that is not base64",
      user('{ client-certificate-data: "***" }'),
      /user "u" has a client-certificate-data that is not base64/,
    ],
    [
      "an exec plugin without a command",
      user("{ exec: { apiVersion: v1 } }"),
      /user "u": exec has no command/,
    ],
    ["clusters that is not a list", "clusters: 3\n", /clusters is not a list/],
    [
      "a cluster without a name",
      "clusters:\n- cluster: { server: https://h }\n",
      /clusters\[0\]\.name is missing/,
    ],
    ["a context without its body", "contexts:\n- name: c\n", /contexts\[0\]\.context is missing/],
  ];
  for (const [name, text, pattern] of cases) {
    await t.step(name, async () => {
      await withFile(text, (path) => {
        assertUserError(() => loadKubeConfig({ kubeconfig: path, env: noEnv }), pattern);
      });
    });
  }
  await t.step("a context whose cluster is not defined", async () => {
    await withFile(
      "contexts:\n- name: c\n  context: { cluster: gone }\ncurrent-context: c\n",
      (path) => {
        assertUserError(
          () => loadKubeConfig({ kubeconfig: path, env: noEnv }),
          /^Cannot load kubeconfig ".*": context "c" names the cluster "gone", which is not defined; fix or replace the file$/,
        );
      },
    );
  });
});

Deno.test("loadKubeConfig() falls back to the in-cluster service account", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/token`, "t0ken\n");
    await Deno.writeTextFile(`${dir}/ca.crt`, PEM);
    const env = (name: string) =>
      ({
        KUBERNETES_SERVICE_HOST: "fd00::1",
        KUBERNETES_SERVICE_PORT: "443",
        HOME: "/nonexistent",
      })[
        name
      ];
    const config = loadKubeConfig({ env, serviceAccountDir: dir });
    assert.equal(config.server, "https://[fd00::1]:443");
    assert.equal(config.caPem, PEM);
    assert.equal(config.user.tokenFile, `${dir}/token`);
    await Deno.remove(`${dir}/ca.crt`);
    assertUserError(
      () => loadKubeConfig({ env, serviceAccountDir: dir }),
      /Cannot read the service account's CA ".*\/ca.crt" \(no such file\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** A kubeconfig with one context "c" whose cluster and user bodies are given as YAML flow maps. */
function oneContext(cluster: string, user = "{}"): string {
  return `clusters:\n- name: c\n  cluster: ${cluster}\nusers:\n- name: u\n  user: ${user}\n` +
    "contexts:\n- name: c\n  context: { cluster: c, user: u }\ncurrent-context: c\n";
}

Deno.test("loadKubeConfig() skips empty and comment-only files of KUBECONFIG, as kubectl does", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/empty`, "");
    await Deno.writeTextFile(`${dir}/comments`, "# filled in later\n");
    await Deno.writeTextFile(`${dir}/real`, KUBECONFIG);
    const env = (name: string) =>
      name === "KUBECONFIG" ? `${dir}/empty:${dir}/comments:${dir}/real` : undefined;
    assert.equal(loadKubeConfig({ env }).server, "https://127.0.0.1:6443");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadKubeConfig() tries the in-cluster account when KUBECONFIG's files are missing or empty", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/token`, "t0ken\n");
    await Deno.writeTextFile(`${dir}/ca.crt`, PEM);
    await Deno.writeTextFile(`${dir}/empty`, "\n");
    for (const list of ["/nonexistent/a:/nonexistent/b", `${dir}/empty`]) {
      const env = (name: string) =>
        ({ KUBECONFIG: list, KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" })[
          name
        ];
      const config = loadKubeConfig({ env, serviceAccountDir: dir });
      assert.equal(config.server, "https://10.0.0.1:443", list);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("loadKubeConfig() reads the fields kubectl reads: YAML 1.1 booleans, impersonation, compression, the exec extension", async () => {
  const text = oneContext(
    `{ server: "https://h", insecure-skip-tls-verify: yes, disable-compression: On,
       extensions: [{ name: other, extension: { a: 1 } },
                    { name: client.authentication.k8s.io/exec, extension: { audience: x } }] }`,
    `{ token: t, as: jane, as-groups: [dev, ops], as-uid: "42", as-user-extra: { scopes: [view] },
       exec: { apiVersion: client.authentication.k8s.io/v1beta1, command: login, provideClusterInfo: yes } }`,
  );
  await withFile(text, (path) => {
    const config = loadKubeConfig({ kubeconfig: path, env: noEnv });
    assert.equal(config.skipTlsVerify, true);
    assert.equal(config.disableCompression, true);
    assert.deepEqual(config.execExtension, { audience: "x" });
    assert.equal(config.user.impersonate, "jane");
    assert.deepEqual(config.user.impersonateGroups, ["dev", "ops"]);
    assert.equal(config.user.impersonateUid, "42");
    assert.deepEqual(config.user.impersonateExtra, { scopes: ["view"] });
    assert.equal(config.user.exec?.provideClusterInfo, true);
    assert.equal(config.user.exec?.interactiveMode, "IfAvailable");
  });
  await withFile(oneContext('{ server: "https://h", insecure-skip-tls-verify: "no" }'), (path) => {
    assert.equal(loadKubeConfig({ kubeconfig: path, env: noEnv }).skipTlsVerify, false);
  });
});

Deno.test("loadKubeConfig() refuses in one line what kubectl refuses", async (t) => {
  const cases: [string, string, RegExp][] = [
    [
      "a token together with basic auth",
      oneContext('{ server: "https://h" }', "{ token: t, username: a, password: b }"),
      /user "u" sets both a token and a username\/password; keep one \(kubectl refuses both\)$/,
    ],
    [
      "certificate-authority-data together with certificate-authority",
      oneContext(
        `{ server: "https://h", certificate-authority-data: ${
          btoa(PEM)
        }, certificate-authority: ca.crt }`,
      ),
      /cluster "c" sets both certificate-authority-data and certificate-authority; keep one/,
    ],
    [
      "client-key-data together with client-key",
      oneContext('{ server: "https://h" }', `{ client-key-data: ${btoa("K")}, client-key: k.pem }`),
      /user "u" sets both client-key-data and client-key; keep one/,
    ],
    [
      "a name given twice in one file",
      KUBECONFIG.replace("- name: other\n  cluster", "- name: dev\n  cluster"),
      /duplicate name "dev" in clusters; fix or replace the file$/,
    ],
    [
      "exec together with auth-provider",
      oneContext(
        '{ server: "https://h" }',
        "{ exec: { command: x, interactiveMode: Never }, auth-provider: { name: oidc } }",
      ),
      /user "u" sets both exec and auth-provider; keep one/,
    ],
    [
      "a v1 exec plugin without interactiveMode",
      oneContext(
        '{ server: "https://h" }',
        "{ exec: { apiVersion: client.authentication.k8s.io/v1, command: x } }",
      ),
      /user "u": exec interactiveMode is missing \(client.authentication.k8s.io\/v1 requires it\)/,
    ],
    [
      "an unknown interactiveMode",
      oneContext('{ server: "https://h" }', "{ exec: { command: x, interactiveMode: Sometimes } }"),
      /exec interactiveMode "Sometimes" is none of Never, IfAvailable, Always/,
    ],
    [
      "a current context that is not defined",
      KUBECONFIG.replace("current-context: dev", "current-context: gone"),
      /^The current context "gone" is not in the kubeconfig; pass --context \(one of dev, other\) or fix current-context$/,
    ],
  ];
  for (const [name, text, pattern] of cases) {
    await t.step(name, async () => {
      await withFile(text, (path) => {
        assertUserError(() => loadKubeConfig({ kubeconfig: path, env: noEnv }), pattern);
      });
    });
  }
});
