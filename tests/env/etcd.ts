/**
 * A one-member etcd for the test API server, built from tests/controlplane
 * (the version k8s.io/kubernetes pins), on loopback ports, without fsync:
 * its data dies with the test run anyway, and fsync is slow on CI disks.
 */

import { controlPlaneBinary } from "./paths.ts";
import { freePort, makeDir, spawnDaemon, waitReady } from "./process.ts";

export interface Etcd {
  /** `http://127.0.0.1:<port>`, for `--etcd-servers`. */
  readonly clientUrl: string;
}

export async function startEtcd(): Promise<Etcd> {
  const dir = makeDir("etcd");
  const clientUrl = `http://127.0.0.1:${freePort()}`;
  const peerUrl = `http://127.0.0.1:${freePort()}`;
  const daemon = spawnDaemon("etcd", controlPlaneBinary("etcd"), [
    ...["--name", "test", "--data-dir", `${dir}/data`],
    ...["--listen-client-urls", clientUrl, "--advertise-client-urls", clientUrl],
    ...["--listen-peer-urls", peerUrl, "--initial-advertise-peer-urls", peerUrl],
    ...["--initial-cluster", `test=${peerUrl}`, "--unsafe-no-fsync"],
  ]);
  await waitReady(daemon, async () => {
    const response = await fetch(`${clientUrl}/health`);
    const body = await response.json() as { health?: string };
    return response.ok && body.health === "true";
  });
  return { clientUrl };
}
