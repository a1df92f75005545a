/**
 * The first contact with the API server: proves it is reachable and that our
 * credentials work, so a wrong context fails at start with one clear line
 * instead of as a stream of watch warnings.
 */
import { ExitCode, UserError } from "../util/errors.ts";
import { explainKubeError } from "./api_errors.ts";
import type { KubeClient } from "./rest.ts";

/**
 * Asks the API server for its version; throws a UserError when it can't be
 * reached. The credentials come first and untimed: an exec plugin may wait
 * for the user (an SSO login in the browser, an MFA code), and its failure is
 * its own message, not "cannot reach".
 */
export async function checkCluster(client: KubeClient, timeoutMs = 15_000): Promise<string> {
  const server = client.server;
  try {
    await client.authenticate();
  } catch (error) {
    throw explainKubeError(error, server, { verb: "get", resource: "version" });
  }
  const abort = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => {
        abort.abort();
        reject(
          new UserError(
            `Cannot reach the Kubernetes API server at ${server}: no answer in ${
              timeoutMs / 1000
            } s; check that the cluster is running and that --context points at it`,
            ExitCode.kubernetes,
          ),
        );
      },
      timeoutMs,
    );
  });
  try {
    const version = client.json<{ gitVersion?: string }>("GET", "/version", {
      signal: abort.signal,
    });
    const info = await Promise.race([version, timeout]);
    return info.gitVersion ?? "unknown version";
  } catch (error) {
    throw explainKubeError(error, server, { verb: "get", resource: "version" });
  } finally {
    clearTimeout(timer);
  }
}
