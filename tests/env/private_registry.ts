/**
 * A registry of one test's own (the shared one of registry.ts stays up for
 * everyone): optionally behind basic auth (htpasswd), and one that the test
 * can stop and start again on the same port and storage, to show what
 * veryfreshpod does while its registry is down.
 */
import { binary } from "./paths.ts";
import { freePort, makeDir, spawnDaemon, stopDaemon, waitReady } from "./process.ts";
import type { Daemon } from "./process.ts";

/** A user of the registries with auth; the hash is bcrypt of PASSWORD (Go's bcrypt reads `$2b$`). */
export const REGISTRY_USER = "vfp-tester";
export const REGISTRY_PASSWORD = "vfp-test-secret";
const REGISTRY_HASH = "$2b$05$uJK3BEH2ltiU6eJ3KE1R0uekmjQHcbsTXE9Bqt4L083yeRpx0XE0W";

export interface PrivateRegistry {
  /** `127.0.0.1:<port>`. */
  readonly address: string;
  /** Stops the registry (its content stays). */
  stop(): Promise<void>;
  /** Starts it again on the same address and storage. */
  start(): Promise<void>;
}

export async function privateRegistry(
  options: { basicAuth?: boolean } = {},
): Promise<PrivateRegistry> {
  const dir = makeDir(`registry-${crypto.randomUUID().slice(0, 8)}`);
  const address = `127.0.0.1:${freePort()}`;
  const auth = options.basicAuth
    ? ["auth:", "  htpasswd:", "    realm: vfp-test", `    path: ${dir}/htpasswd`]
    : [];
  if (options.basicAuth) {
    Deno.writeTextFileSync(`${dir}/htpasswd`, `${REGISTRY_USER}:${REGISTRY_HASH}\n`);
  }
  Deno.writeTextFileSync(
    `${dir}/config.yml`,
    [
      "version: 0.1",
      "log:",
      "  level: info",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${dir}/data`,
      ...auth,
      "http:",
      `  addr: ${address}`,
      "",
    ].join("\n"),
  );
  let daemon: Daemon | undefined;
  const start = async () => {
    const started = spawnDaemon(`registry-${address}`, binary("docker-registry"), [
      "serve",
      `${dir}/config.yml`,
    ]);
    daemon = started;
    await waitReady(started, async () => {
      const response = await fetch(`http://${address}/v2/`);
      await response.body?.cancel();
      return response.status === 200 || response.status === 401;
    });
  };
  await start();
  return {
    address,
    start,
    async stop() {
      if (daemon !== undefined) await stopDaemon(daemon);
      daemon = undefined;
    },
  };
}

/** A docker config directory whose config.json has `auths` for `address`. */
export function dockerConfigWithAuth(address: string, password = REGISTRY_PASSWORD): string {
  const dir = Deno.makeTempDirSync({ dir: makeDir("docker-configs") });
  const auth = btoa(`${REGISTRY_USER}:${password}`);
  Deno.writeTextFileSync(
    `${dir}/config.json`,
    JSON.stringify({ auths: { [address]: { auth } } }),
  );
  return dir;
}
