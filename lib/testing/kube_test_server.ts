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

/**
 * An HTTP CONNECT proxy on 127.0.0.1 that logs each request line in `seen`
 * and connects every tunnel to 127.0.0.1 (any host name, so that a server
 * can be named `kubernetes` without DNS).
 */
export async function withConnectProxy(
  body: (proxy: string, seen: string[]) => Promise<void>,
): Promise<void> {
  const seen: string[] = [];
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const open = new Set<Deno.Conn>();
  const serve = async (client: Deno.Conn) => {
    open.add(client);
    try {
      const buffer = new Uint8Array(8192);
      const n = await client.read(buffer);
      const head = new TextDecoder().decode(buffer.subarray(0, n ?? 0));
      const line = head.split("\r\n")[0] ?? "";
      seen.push(line);
      const port = /^CONNECT \S+:(\d+) /.exec(line)?.[1];
      if (port === undefined) {
        await client.write(new TextEncoder().encode("HTTP/1.1 405 Not Allowed\r\n\r\n"));
        client.close();
        return;
      }
      const upstream = await Deno.connect({ hostname: "127.0.0.1", port: Number(port) });
      open.add(upstream);
      await client.write(new TextEncoder().encode("HTTP/1.1 200 Connection established\r\n\r\n"));
      await Promise.allSettled([
        client.readable.pipeTo(upstream.writable),
        upstream.readable.pipeTo(client.writable),
      ]);
    } catch {
      // A tunnel closed from either side.
    }
  };
  const accepting = (async () => {
    for await (const client of listener) void serve(client);
  })().catch(() => {});
  try {
    await body(`http://127.0.0.1:${listener.addr.port}`, seen);
  } finally {
    listener.close();
    for (const conn of open) {
      try {
        conn.close();
      } catch {
        // already closed
      }
    }
    await accepting;
  }
}

/**
 * A self-signed server certificate for 127.0.0.1 as `openssl req -x509` makes
 * it by default: basicConstraints CA:TRUE (what many hand-made clusters use).
 */
export async function selfSignedServer(dir: string): Promise<{ cert: string; key: string }> {
  const output = await new Deno.Command("openssl", {
    args: [
      ...["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"],
      ...["-keyout", `${dir}/self.key`, "-out", `${dir}/self.crt`, "-days", "2"],
      ...["-subj", "/CN=self", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost"],
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!output.success) throw new Error(new TextDecoder().decode(output.stderr));
  return {
    cert: Deno.readTextFileSync(`${dir}/self.crt`),
    key: Deno.readTextFileSync(`${dir}/self.key`),
  };
}
