/**
 * Local API servers, credential plugins and certificates for the unit tests
 * of the Kubernetes client (rest_test.ts, auth_test.ts, transport tests).
 */
import { makeCA, makeClientCert, makeServingCert } from "../../tests/env/certs.ts";

/** A local API server answering with `handler`; every request is kept in `seen`. */
export async function withServer(
  handler: (request: Request) => Response | Promise<Response>,
  body: (server: string, seen: Request[]) => Promise<void>,
  tls?: { cert: string; key: string },
): Promise<void> {
  const seen: Request[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen() {}, ...tls },
    (request) => {
      seen.push(request);
      return handler(request);
    },
  );
  try {
    await body(`${tls ? "https" : "http"}://127.0.0.1:${server.addr.port}`, seen);
  } finally {
    await server.shutdown();
  }
}

export function json(value: unknown, status = 200): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": "application/json" },
  });
}

export function status(code: number, message: string): Response {
  return json({ kind: "Status", status: "Failure", code, message }, code);
}

/** A CA, a serving certificate for 127.0.0.1 and a client certificate, in a temporary directory. */
export async function certificates() {
  const dir = await Deno.makeTempDir();
  const ca = await makeCA(dir, "test-ca");
  const serving = await makeServingCert(ca, dir, "apiserver");
  const client = await makeClientCert(ca, dir, "veryfreshpod-user");
  const read = (path: string) => Deno.readTextFileSync(path);
  return {
    dir,
    ca: read(ca.certFile),
    caFile: ca.certFile,
    serving: { cert: read(serving.certFile), key: read(serving.keyFile) },
    servingFiles: serving,
    client: { cert: read(client.certFile), key: read(client.keyFile) },
    [Symbol.asyncDispose]: () => Deno.remove(dir, { recursive: true }),
  };
}

/** A credential plugin: a shell script that counts its runs and prints `credential`. */
export async function plugin(
  dir: string,
  credential: string,
  exit = 0,
  name = "plugin.sh",
): Promise<string> {
  const path = `${dir}/${name}`;
  await Deno.writeTextFile(
    path,
    `#!/bin/sh
echo run >> "${dir}/runs"
printf '%s' "$KUBERNETES_EXEC_INFO" > "${dir}/info"
echo "plugin says: $GREETING" >&2
printf '%s' '${credential}'
exit ${exit}
`,
  );
  await Deno.chmod(path, 0o755);
  return path;
}

export async function runs(dir: string): Promise<number> {
  try {
    return (await Deno.readTextFile(`${dir}/runs`)).trim().split("\n").length;
  } catch {
    return 0;
  }
}

export function execUser(command: string, apiVersion = "client.authentication.k8s.io/v1") {
  return {
    exec: {
      apiVersion,
      command,
      args: [],
      env: [{ name: "GREETING", value: "hello" }],
      installHint: "install the plugin: see the cloud's docs",
      provideClusterInfo: true,
      interactiveMode: "IfAvailable" as const,
    },
  };
}
