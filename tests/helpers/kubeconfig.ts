/** Kubeconfig files for end-to-end tests that act as someone other than the admin. */
import { kubernetes } from "../env/mod.ts";

/**
 * A kubeconfig file for the test API server that authenticates with `token`
 * (a service account's), at `server` when the API server is reached through
 * something else (a forwarder); the caller removes it.
 */
export async function kubeconfigWithToken(token: string, server?: string): Promise<string> {
  const kube = await kubernetes();
  const path = await Deno.makeTempFile({ prefix: "vfp-test-", suffix: ".kubeconfig" });
  await Deno.writeTextFile(
    path,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{
        name: "test",
        cluster: { server: server ?? kube.server, "certificate-authority": kube.caFile },
      }],
      users: [{ name: "sa", user: { token } }],
      contexts: [{ name: "test", context: { cluster: "test", user: "sa" } }],
      "current-context": "test",
    }),
  );
  return path;
}
