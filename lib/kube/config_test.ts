import assert from "node:assert/strict";
import { ExitCode, UserError } from "../errors.ts";
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
    assert.equal(config.getCurrentCluster()?.server, "https://127.0.0.1:6443");
  });
});

Deno.test("loadKubeConfig() switches to --context", async () => {
  await withFile(KUBECONFIG, (path) => {
    const config = loadKubeConfig({ kubeconfig: path, context: "other", env: noEnv });
    assert.equal(config.getCurrentCluster()?.server, "https://127.0.0.1:7443");
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
    assert.equal(loadKubeConfig({ env }).getCurrentCluster()?.server, "https://127.0.0.1:6443");
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
