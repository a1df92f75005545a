/**
 * The loaded configuration (config.ts) as a @kubernetes/client-node
 * KubeConfig, for the commands that still use that library (`install`,
 * `uninstall`: server-side apply) and for `auth-provider` users. Loaded only
 * by them: nothing `run` imports statically reaches this module.
 */
import "../util/quiet_deprecations.ts";
import { KubeConfig } from "@kubernetes/client-node";
import type { ClusterConfig } from "./config.ts";

/** A KubeConfig with one context: the selected one. */
export function clientNodeConfig(config: ClusterConfig): KubeConfig {
  const user = config.user;
  const base64 = (text: string | undefined) =>
    text === undefined ? undefined : btoa(String.fromCharCode(...new TextEncoder().encode(text)));
  const userName = user.name ?? "user";
  const kube = new KubeConfig();
  kube.loadFromOptions({
    clusters: [{
      name: config.clusterName,
      server: config.server,
      caData: base64(config.caPem),
      skipTLSVerify: config.skipTlsVerify,
      tlsServerName: config.tlsServerName,
      proxyUrl: config.proxyUrl,
    }],
    users: [{
      name: userName,
      token: user.token,
      certData: base64(user.certPem),
      keyData: base64(user.keyPem),
      username: user.username,
      password: user.password,
      impersonateUser: user.impersonate,
      exec: user.exec && {
        apiVersion: user.exec.apiVersion,
        command: user.exec.command,
        args: user.exec.args,
        env: user.exec.env,
      },
      // client-node reads a token file (again every minute) as this pseudo provider.
      authProvider: user.tokenFile !== undefined
        ? { name: "tokenFile", config: { tokenFile: user.tokenFile } }
        : user.authProvider,
    }],
    contexts: [{
      name: config.contextName,
      cluster: config.clusterName,
      user: userName,
      ...(config.namespace === undefined ? {} : { namespace: config.namespace }),
    }],
    currentContext: config.contextName,
  });
  return kube;
}
