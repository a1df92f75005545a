/**
 * Docker over TLS end to end, the way minikube users run it after
 * `eval $(minikube docker-env)`: DOCKER_HOST=tcp://…, DOCKER_TLS_VERIFY=1 and
 * DOCKER_CERT_PATH against the test dockerd's `--tlsverify` listener, and
 * veryfreshpod run from source with only those variables to find it.
 * Docker-engine tests assert the patches; pods run only on the containerd node (node_e2e_test.ts).
 */
import assert from "node:assert/strict";
import { docker, e2eTest, kubernetes, makeImage } from "./env/mod.ts";
import { makeCA, makeClientCert } from "./env/certs.ts";
import { buildAndTag, uniqueRepository, waitForImages } from "./helpers/loop.ts";
import { runVeryfreshpod, startVeryfreshpod } from "./helpers/veryfreshpod_process.ts";
import { createNamespace, createWorkload, workloadObject } from "./helpers/workloads.ts";

e2eTest(
  "with minikube's docker-env variables a new tag updates a Deployment over TLS",
  async () => {
    const engine = await docker();
    const kubeconfig = (await kubernetes()).kubeconfig;
    const ns = await createNamespace();
    const repo = uniqueRepository("tls");
    await makeImage(`${repo}:test`);
    await createWorkload(
      workloadObject("Deployment", ns, "web", [{ name: "app", image: `${repo}:test` }]),
    );
    // A long resync period: the update must come through the event stream over TLS.
    await using loop = startVeryfreshpod(
      ["run", "--kubeconfig", kubeconfig, "-n", ns, "--resync-period", "3600"],
      engine.tlsEnv,
    );
    const port = new URL(engine.tlsHost.replace(/^tcp:/, "http:")).port;
    await loop.waitForLine(new RegExp(`Watching docker https://127\\.0\\.0\\.1:${port}: \\d+`));
    await loop.waitForLine(/Tracking \d+ workloads?/);

    await buildAndTag(`${repo}:fixed`);

    await waitForImages("Deployment", ns, "web", { app: `${repo}:fixed` });
    await loop.waitForLine(
      new RegExp(`Updated Deployment ${ns}/web container app: ${repo}:test -> ${repo}:fixed`),
    );
  },
);

/** A DOCKER_CERT_PATH directory holding `files` (name in the directory → source file). */
function certDir(files: Record<string, string>): string {
  const dir = Deno.makeTempDirSync({ prefix: "vfp-certs-" });
  for (const [name, source] of Object.entries(files)) {
    Deno.copyFileSync(source, `${dir}/${name}`);
  }
  return dir;
}

e2eTest("a wrong CA, a missing or refused certificate each end run with one line", async (t) => {
  const engine = await docker();
  const kubeconfig = (await kubernetes()).kubeconfig;
  const good = {
    ca: `${engine.certPath}/ca.pem`,
    cert: `${engine.certPath}/cert.pem`,
    key: `${engine.certPath}/key.pem`,
  };
  const otherDir = Deno.makeTempDirSync({ prefix: "vfp-other-ca-" });
  const otherCa = await makeCA(otherDir, "another CA");
  const stranger = await makeClientCert(otherCa, otherDir, "stranger");
  const https = engine.tlsHost.replace(/^tcp:/, "https:");
  const made: string[] = [otherDir];

  /** Runs veryfreshpod with the TLS environment changed by `env`; expects one line and `code`. */
  const expectFailure = async (
    env: Record<string, string>,
    code: number,
    line: RegExp,
  ) => {
    const result = await runVeryfreshpod(["run", "--kubeconfig", kubeconfig], {
      ...engine.tlsEnv,
      ...env,
    });
    const lines = result.stderr.trim().split("\n");
    assert.equal(lines.length, 1, `one line, got:\n${result.stderr}`);
    assert.match(lines[0]!, line);
    assert.equal(result.code, code, result.stderr);
  };
  const withCerts = (files: Record<string, string>) => {
    const dir = certDir(files);
    made.push(dir);
    return { DOCKER_CERT_PATH: dir };
  };

  try {
    await t.step("a CA that did not sign the daemon's certificate", async () => {
      const env = withCerts({
        "ca.pem": otherCa.certFile,
        "cert.pem": good.cert,
        "key.pem": good.key,
      });
      await expectFailure(
        env,
        3,
        new RegExp(
          `^error: Cannot connect to Docker at ${https}: TLS handshake failed: the daemon's ` +
            `certificate is not signed by the CA in "${env.DOCKER_CERT_PATH}/ca\\.pem"; `,
        ),
      );
    });
    await t.step("no ca.pem", async () => {
      const env = withCerts({ "cert.pem": good.cert, "key.pem": good.key });
      await expectFailure(
        env,
        2,
        new RegExp(
          `^error: Cannot read the Docker CA certificate "${env.DOCKER_CERT_PATH}/ca\\.pem" ` +
            `\\(from DOCKER_CERT_PATH "${env.DOCKER_CERT_PATH}"\\): no such file; `,
        ),
      );
    });
    await t.step("cert.pem without key.pem", async () => {
      const env = withCerts({ "ca.pem": good.ca, "cert.pem": good.cert });
      await expectFailure(env, 2, /^error: Found ".*\/cert\.pem" but not ".*\/key\.pem": /);
    });
    await t.step("no client certificate at all", async () => {
      await expectFailure(
        withCerts({ "ca.pem": good.ca }),
        3,
        /^error: Cannot connect to Docker at .*: TLS handshake failed: the daemon asks for a client certificate \(\w+\), and there is no cert\.pem and key\.pem in /,
      );
    });
    await t.step("a client certificate the daemon does not trust", async () => {
      await expectFailure(
        withCerts({
          "ca.pem": good.ca,
          "cert.pem": stranger.certFile,
          "key.pem": stranger.keyFile,
        }),
        3,
        /^error: Cannot connect to Docker at .*: TLS handshake failed: the daemon refused the client certificate ".*\/cert\.pem" \(\w+\); /,
      );
    });
    await t.step("plain HTTP to the TLS port", async () => {
      await expectFailure(
        { DOCKER_TLS_VERIFY: "" },
        3,
        /^error: Docker at tcp:\/\/127\.0\.0\.1:\d+ expects TLS; set DOCKER_TLS_VERIFY=1 /,
      );
    });
    await t.step("DOCKER_TLS without DOCKER_TLS_VERIFY", async () => {
      await expectFailure(
        { DOCKER_TLS_VERIFY: "", DOCKER_TLS: "1" },
        2,
        /^error: DOCKER_TLS is set without DOCKER_TLS_VERIFY for tcp:\/\/127\.0\.0\.1:\d+: /,
      );
    });
  } finally {
    for (const dir of made) Deno.removeSync(dir, { recursive: true });
  }
});
