/**
 * A Docker Distribution registry on a loopback port, storing under the run
 * root. Plain HTTP: the test dockerd trusts 127.0.0.0/8 without TLS.
 */

import { binary } from "./paths.ts";
import { freePort, makeDir, spawnDaemon, waitReady } from "./process.ts";

export interface Registry {
  /** `127.0.0.1:<port>`, the registry part of image references. */
  readonly address: string;
}

async function start(): Promise<Registry> {
  const dir = makeDir("registry");
  const address = `127.0.0.1:${freePort()}`;
  Deno.writeTextFileSync(
    `${dir}/config.yml`,
    [
      "version: 0.1",
      "log:",
      "  level: info",
      "storage:",
      "  filesystem:",
      `    rootdirectory: ${dir}/data`,
      "  delete:",
      "    enabled: true",
      "http:",
      `  addr: ${address}`,
      "",
    ].join("\n"),
  );
  const daemon = spawnDaemon("registry", binary("docker-registry"), [
    "serve",
    `${dir}/config.yml`,
  ]);
  await waitReady(daemon, async () => {
    const response = await fetch(`http://${address}/v2/`);
    await response.body?.cancel();
    return response.ok;
  });
  return { address };
}

let shared: Promise<Registry> | undefined;

/** The image registry of this test run, started on first use. */
export function registry(): Promise<Registry> {
  shared ??= start();
  return shared;
}
