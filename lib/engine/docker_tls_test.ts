import assert from "node:assert/strict";
import { ExitCode, UserError } from "../util/errors.ts";
import { DockerClient } from "./docker_client.ts";
import { parseDockerHost } from "./docker_host.ts";
import { type DockerTlsFiles, dockerTlsFiles, tlsFailure, tlsHttpClient } from "./docker_tls.ts";
import {
  type CertificateAuthority,
  type KeyPair,
  makeCA,
  makeClientCert,
  makeServingCert,
} from "../../tests/env/certs.ts";

const FILES: DockerTlsFiles = dockerTlsFiles((name) => name === "HOME" ? "/home/me" : undefined);

function env(values: Record<string, string>): (name: string) => string | undefined {
  return (name) => values[name];
}

/** A readFile over an in-memory directory; a value that is an Error is thrown. */
function files(contents: Record<string, string | Error>): (path: string) => string {
  return (path) => {
    const name = path.slice(path.lastIndexOf("/") + 1);
    const content = contents[name];
    if (content === undefined) throw new Deno.errors.NotFound(`${path}: no such file`);
    if (content instanceof Error) throw content;
    return content;
  };
}

function assertUsage(fn: () => unknown, message: string | RegExp): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof UserError, String(error));
    assert.equal(error.exitCode, ExitCode.usage);
    assert.ok(!error.message.includes("\n"), "one line");
    if (typeof message === "string") assert.equal(error.message, message);
    else assert.match(error.message, message);
    return true;
  });
}

interface Material {
  readonly dir: string;
  readonly ca: CertificateAuthority;
  readonly server: KeyPair;
  readonly client: KeyPair;
}

/** Runs `fn` with a CA, a serving certificate for 127.0.0.1 and a client certificate. */
async function withMaterial(fn: (material: Material) => void | Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "vfp-tls-" });
  try {
    const ca = await makeCA(dir, "test CA");
    const [server, client] = await Promise.all([
      makeServingCert(ca, dir, "server"),
      makeClientCert(ca, dir, "client"),
    ]);
    await fn({ dir, ca, server, client });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const FIX = "DOCKER_CERT_PATH must name the directory with the daemon's ca.pem and the " +
  "client's cert.pem and key.pem (minikube: eval $(minikube docker-env))";

Deno.test("the certificates are in DOCKER_CERT_PATH, else DOCKER_CONFIG, else ~/.docker", () => {
  const explicit = dockerTlsFiles(env({ DOCKER_CERT_PATH: "/certs/", DOCKER_CONFIG: "/c" }));
  assert.deepEqual(explicit, {
    certPath: "/certs/",
    origin: 'DOCKER_CERT_PATH "/certs/"',
    ca: "/certs/ca.pem",
    cert: "/certs/cert.pem",
    key: "/certs/key.pem",
  });
  const config = dockerTlsFiles(env({ DOCKER_CERT_PATH: "", DOCKER_CONFIG: "/c", HOME: "/h" }));
  assert.equal(config.ca, "/c/ca.pem");
  assert.equal(config.origin, 'DOCKER_CONFIG "/c", as DOCKER_CERT_PATH is not set');
  assert.equal(FILES.key, "/home/me/.docker/key.pem");
  assert.equal(dockerTlsFiles(env({ DOCKER_CERT_PATH: "/" })).ca, "/ca.pem");
  assertUsage(
    () => dockerTlsFiles(env({})),
    `Docker TLS is on, but neither DOCKER_CERT_PATH nor HOME is set; ${FIX}`,
  );
});

Deno.test("a missing, unreadable or foreign ca.pem is one line naming the file", () => {
  const named = (why: string) =>
    `Cannot read the Docker CA certificate "/home/me/.docker/ca.pem" (from ~/.docker, as ` +
    `DOCKER_CERT_PATH is not set): ${why}; ${FIX}`;
  assertUsage(() => tlsHttpClient(FILES, files({})), named("no such file"));
  assertUsage(
    () => tlsHttpClient(FILES, files({ "ca.pem": new Deno.errors.PermissionDenied("no") })),
    named("permission denied"),
  );
  assertUsage(
    () => tlsHttpClient(FILES, files({ "ca.pem": new Deno.errors.IsADirectory("dir") })),
    named("it is a directory"),
  );
  assertUsage(
    () => tlsHttpClient(FILES, files({ "ca.pem": "-----BEGIN PRIVATE KEY-----\n" })),
    named("not a PEM certificate"),
  );
});

Deno.test("cert.pem and key.pem go together; without both no client certificate is sent", async () => {
  await withMaterial(({ ca }) => {
    const caPem = Deno.readTextFileSync(ca.certFile);
    assertUsage(
      () => tlsHttpClient(FILES, files({ "ca.pem": caPem, "cert.pem": "x" })),
      `Found "/home/me/.docker/cert.pem" but not "/home/me/.docker/key.pem": a client ` +
        `certificate needs both; ${FIX}`,
    );
    assertUsage(
      () => tlsHttpClient(FILES, files({ "ca.pem": caPem, "key.pem": "x" })),
      /^Found "\/home\/me\/.docker\/key.pem" but not "\/home\/me\/.docker\/cert.pem": /,
    );
    const denied = new Deno.errors.PermissionDenied();
    assertUsage(
      () => tlsHttpClient(FILES, files({ "ca.pem": caPem, "cert.pem": "x", "key.pem": denied })),
      /^Cannot read the Docker client key "\/home\/me\/.docker\/key.pem" .*: permission denied; /,
    );
    const client = tlsHttpClient(FILES, files({ "ca.pem": caPem }));
    assert.equal(client.clientCertificate, false);
    client.http.close();
  });
});

/** A DOCKER_CERT_PATH directory holding these files. */
function certDir(parent: string, name: string, pems: Record<string, string>): DockerTlsFiles {
  const dir = `${parent}/${name}`;
  Deno.mkdirSync(dir);
  for (const [file, source] of Object.entries(pems)) Deno.copyFileSync(source, `${dir}/${file}`);
  return dockerTlsFiles(env({ DOCKER_CERT_PATH: dir }));
}

Deno.test("a CA, certificate or key that does not parse, or a mismatched pair, is named", async () => {
  await withMaterial(({ dir, ca, client, server }) => {
    const garbage = `${dir}/garbage`;
    Deno.writeTextFileSync(
      garbage,
      "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n",
    );
    const cases: Array<[Record<string, string>, RegExp]> = [
      [
        { "ca.pem": garbage },
        /^Cannot use the Docker CA certificate ".*\): not a valid PEM certificate \(BadEncoding\); /,
      ],
      [
        { "cert.pem": garbage, "key.pem": client.keyFile },
        /^Cannot use the Docker client certificate ".*\): not a valid PEM certificate \(BadEncoding\); /,
      ],
      [
        { "cert.pem": client.keyFile, "key.pem": client.keyFile },
        /certificate .*: not a valid PEM certificate \(No certificates found/,
      ],
      [
        { "cert.pem": client.certFile, "key.pem": garbage },
        /client key ".*\): not a valid PEM private key \(No keys found/,
      ],
      [
        { "cert.pem": client.certFile, "key.pem": client.certFile },
        /key .*: not a valid PEM private key \(No keys found/,
      ],
      [
        { "cert.pem": client.certFile, "key.pem": server.keyFile },
        /^The Docker client certificate ".*\/cert.pem" and key ".*\/key.pem" do not match; /,
      ],
    ];
    for (const [index, [pems, pattern]] of cases.entries()) {
      const tls = certDir(dir, `case${index}`, { "ca.pem": ca.certFile, ...pems });
      assertUsage(() => tlsHttpClient(tls), pattern);
    }
  });
});

/** A fake Docker daemon on https://127.0.0.1 (or another loopback address) with this key pair. */
function fakeTlsDaemon(
  pair: { certFile: string; keyFile: string },
  hostname = "127.0.0.1",
): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve({
    hostname,
    port: 0,
    cert: Deno.readTextFileSync(pair.certFile),
    key: Deno.readTextFileSync(pair.keyFile),
    onListen() {},
  }, () => Response.json({ ApiVersion: "1.47", MinAPIVersion: "1.24", Version: "27.5.1" }));
}

/** A client for `url` with the certificates of `tls`. */
function clientFor(url: string, tls: DockerTlsFiles): DockerClient {
  return new DockerClient(
    parseDockerHost(url, "--docker-host", env({ DOCKER_CERT_PATH: tls.certPath })),
  );
}

async function connectError(url: string, tls: DockerTlsFiles): Promise<UserError> {
  const client = clientFor(url, tls);
  try {
    await client.negotiate();
  } catch (error) {
    assert.ok(error instanceof UserError, String(error));
    assert.equal(error.exitCode, ExitCode.engine);
    assert.ok(!error.message.includes("\n"), "one line");
    return error;
  } finally {
    client.close();
  }
  throw new Error(`negotiate with ${url} succeeded`);
}

Deno.test("over TLS the daemon is verified against ca.pem, by its CA and by its name", async () => {
  await withMaterial(async ({ dir, ca, server, client }) => {
    Deno.mkdirSync(`${dir}/other`);
    const other = await makeCA(`${dir}/other`, "another CA");
    const good = certDir(dir, "good", {
      "ca.pem": ca.certFile,
      "cert.pem": client.certFile,
      "key.pem": client.keyFile,
    });
    const wrongCa = certDir(dir, "wrong-ca", { "ca.pem": other.certFile });
    const daemon = fakeTlsDaemon(server);
    // 127.0.0.2 is loopback too, but the serving certificate does not list it.
    const unnamed = fakeTlsDaemon(server, "127.0.0.2");
    const plain = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen() {} },
      () => new Response(),
    );
    try {
      const url = `https://127.0.0.1:${daemon.addr.port}`;
      const verified = clientFor(url, good);
      try {
        assert.equal((await verified.negotiate()).apiVersion, "1.47");
      } finally {
        verified.close();
      }
      assert.equal(
        (await connectError(url, wrongCa)).message,
        `Cannot connect to Docker at ${url}: TLS handshake failed: the daemon's certificate is ` +
          `not signed by the CA in "${wrongCa.ca}"; DOCKER_CERT_PATH may belong to another ` +
          "daemon (minikube: eval $(minikube docker-env) again)",
      );
      assert.match(
        (await connectError(`https://127.0.0.2:${unnamed.addr.port}`, good)).message,
        /: TLS handshake failed: the daemon's certificate is not valid for "127.0.0.2" \(certificate is only valid for .*\); connect with a name or address it lists$/,
      );
      assert.match(
        (await connectError(`https://127.0.0.1:${plain.addr.port}`, good)).message,
        /: TLS handshake failed: no TLS on this port; use the daemon's TLS port \(usually 2376\), or unset DOCKER_TLS_VERIFY for a daemon without TLS$/,
      );
    } finally {
      await Promise.all([daemon.shutdown(), unnamed.shutdown(), plain.shutdown()]);
    }
  });
});

Deno.test("plain HTTP to a TLS port says that the daemon expects TLS", async () => {
  // What Go's HTTP server (dockerd) answers to plain HTTP on its TLS port.
  const daemon = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {} },
    () => new Response("Client sent an HTTP request to an HTTPS server.\n", { status: 400 }),
  );
  const client = new DockerClient(parseDockerHost(`tcp://127.0.0.1:${daemon.addr.port}`));
  try {
    await assert.rejects(() => client.negotiate(), (error: unknown) => {
      assert.ok(error instanceof UserError);
      assert.equal(error.exitCode, ExitCode.engine);
      assert.equal(
        error.message,
        `Docker at tcp://127.0.0.1:${daemon.addr.port} expects TLS; set DOCKER_TLS_VERIFY=1 and ` +
          "DOCKER_CERT_PATH to the directory with its ca.pem, cert.pem and key.pem (minikube: " +
          "eval $(minikube docker-env))",
      );
      return true;
    });
  } finally {
    client.close();
    await daemon.shutdown();
  }
});

Deno.test("a refused client certificate, or none, is named as such", () => {
  // Deno.serve cannot ask for client certificates; the real dockerd's alerts
  // are proven in tests/docker_tls_e2e_test.ts.
  const alert = "TypeError: fetch failed / Error: received fatal alert: BadCertificate";
  assert.equal(
    tlsFailure(FILES, "h", true, alert),
    'TLS handshake failed: the daemon refused the client certificate "/home/me/.docker/cert.pem" ' +
      "(BadCertificate); use the cert.pem and key.pem issued for this daemon (minikube: eval " +
      "$(minikube docker-env) again)",
  );
  assert.equal(
    tlsFailure(FILES, "h", false, alert),
    "TLS handshake failed: the daemon asks for a client certificate (BadCertificate), and there " +
      `is no cert.pem and key.pem in "/home/me/.docker"; ${FIX}`,
  );
  assert.equal(
    tlsFailure(FILES, "h", true, "client error (Connect): invalid peer certificate: Expired"),
    "TLS handshake failed: the daemon's certificate has expired",
  );
  assert.equal(tlsFailure(FILES, "h", true, "Connection refused (os error 111)"), undefined);
});
