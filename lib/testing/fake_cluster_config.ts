/** A loaded cluster configuration for unit tests that talk to a local server. */
import type { ClusterConfig, UserConfig } from "../kube/config.ts";

/** Context and cluster "test", user "me" with `user`'s credentials, no TLS settings. */
export function testClusterConfig(
  server: string,
  user: Partial<UserConfig> = {},
  more: Partial<ClusterConfig> = {},
): ClusterConfig {
  return {
    contextName: "test",
    clusterName: "test",
    namespace: undefined,
    server,
    caPem: undefined,
    skipTlsVerify: false,
    tlsServerName: undefined,
    proxyUrl: undefined,
    user: { name: "me", ...user },
    origin: 'kubeconfig "test"',
    ...more,
  };
}
