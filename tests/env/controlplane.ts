/**
 * A Kubernetes control plane of the test run's own: etcd, kube-apiserver and
 * kube-controller-manager built from tests/controlplane, with certificates
 * made at run time. etcd, the controller-manager and the API server listen on
 * loopback, where every client on the machine's side (the tests, veryfreshpod
 * run by them, kubectl, the scheduler) talks to it. The node and its pods live
 * in a network namespace of their own (network.ts) and cannot reach the
 * machine's loopback: for them a forwarder (socat) listens on the machine's
 * end of the node's veth pair, a private address, and passes each connection
 * to the API server. The API server advertises that address, so the
 * `kubernetes` Service's endpoints lead there and in-cluster clients (through
 * kube-proxy, see node.ts) reach it as a real cluster's do. Nothing listens on
 * any other address of the machine. Pods only run once a test asks for `node()` (node.ts); until
 * then they are created but never run, which is all many tests need.
 *
 * Authentication is by static bearer tokens (an admin in system:masters, and
 * the controller-manager) and by service-account tokens, which the
 * TokenRequest API issues (`serviceAccountToken` below); authorization is
 * RBAC, so a token without a permission really gets 403.
 */

import { makeCA, makeServingCert, makeSigningKey } from "./certs.ts";
import { startEtcd } from "./etcd.ts";
import { nodeNetwork } from "./network.ts";
import { binary, controlPlaneBinary } from "./paths.ts";
import { type Daemon, freePort, makeDir, spawnDaemon, stopDaemon, waitReady } from "./process.ts";

export interface KubeResponse {
  readonly status: number;
  /** Parsed JSON, or the text when the body is not JSON. */
  // deno-lint-ignore no-explicit-any
  readonly body: any;
}

export interface Kubernetes {
  /** Path of a kubeconfig file for the admin user (token auth, cluster CA). */
  readonly kubeconfig: string;
  /** `https://127.0.0.1:<port>`: the API server, for clients on the machine's side. */
  readonly server: string;
  /** `https://<veth address>:<port>`: the same API server as the node and its pods reach it. */
  readonly nodeSideServer: string;
  /** Bearer token of a user in the group system:masters. */
  readonly adminToken: string;
  /** PEM file of the CA that signed the API server's certificate. */
  readonly caFile: string;
  /**
   * One API request; `token` defaults to the admin's. Reads the whole body,
   * so nothing is left open.
   */
  request(
    method: string,
    path: string,
    options?: { token?: string; body?: unknown; contentType?: string },
  ): Promise<KubeResponse>;
  /** Stops kube-apiserver and starts it again on the same port; resolves once it is ready. */
  restartApiServer(): Promise<void>;
  /** etcd's client URL (plain HTTP on loopback), e.g. to compact its history. */
  readonly etcdUrl: string;
  /** kube-apiserver's process id (a new one after a restart), e.g. to freeze it with SIGSTOP. */
  apiServerPid(): number;
  /** Stops kube-apiserver (for tests of what happens while it is down). */
  stopApiServer(): Promise<void>;
  /** Starts a stopped kube-apiserver again on the same port; resolves once it is ready. */
  startApiServer(): Promise<void>;
  /** Kubeconfig files of the node's components, each with its own user (see node.ts). */
  readonly componentKubeconfigs: Readonly<Record<NodeComponent, string>>;
}

/** The node's programs that talk to the API server, each as the user a real cluster gives it. */
export type NodeComponent = "kubelet" | "kube-scheduler" | "kube-proxy";

/** The test node's name (the kubelet's user is `system:node:<name>`). */
export const NODE_NAME = "vfp-node";

/** The `kubernetes` Service's ClusterIP: the first address of `--service-cluster-ip-range`. */
export const KUBERNETES_SERVICE_IP = "10.96.0.1";

const apiServerTimeoutMs = 180_000;

function kubeconfigText(server: string, caFile: string, user: string, token: string): string {
  // JSON is YAML, and every kubeconfig loader reads it.
  return JSON.stringify(
    {
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "test", cluster: { server, "certificate-authority": caFile } }],
      users: [{ name: user, user: { token } }],
      contexts: [{ name: "test", context: { cluster: "test", user } }],
      "current-context": "test",
    },
    null,
    2,
  );
}

async function httpsReady(url: string, caCert: string, token?: string): Promise<boolean> {
  const client = Deno.createHttpClient({ caCerts: [caCert] });
  try {
    const headers: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
    const response = await fetch(url, { client, headers });
    await response.body?.cancel();
    return response.status === 200;
  } finally {
    client.close();
  }
}

async function start(): Promise<Kubernetes> {
  const dir = makeDir("kubernetes");
  const [etcd, ca, signingKey, network] = await Promise.all([
    startEtcd(),
    makeCA(dir, "veryfreshpod-test-ca"),
    makeSigningKey(dir),
    nodeNetwork(),
  ]);
  const address = network.hostAddress;
  const [apiServerCert, controllerCert] = await Promise.all([
    // The tests connect to 127.0.0.1 (always named), the node to the address, pods to the
    // Service IP.
    makeServingCert(ca, dir, "kube-apiserver", [address, KUBERNETES_SERVICE_IP]),
    makeServingCert(ca, dir, "kube-controller-manager"),
  ]);
  const caCert = Deno.readTextFileSync(ca.certFile);
  const adminToken = crypto.randomUUID();
  const controllerToken = crypto.randomUUID();
  // The users the bootstrap RBAC roles and the Node authorizer know these programs by.
  const components: Record<NodeComponent, { user: string; groups: string; token: string }> = {
    kubelet: { user: `system:node:${NODE_NAME}`, groups: "system:nodes", token: "" },
    "kube-scheduler": { user: "system:kube-scheduler", groups: "", token: "" },
    "kube-proxy": { user: "system:kube-proxy", groups: "", token: "" },
  };
  for (const component of Object.values(components)) component.token = crypto.randomUUID();
  Deno.writeTextFileSync(
    `${dir}/tokens.csv`,
    `${adminToken},admin,admin,"system:masters"\n` +
      `${controllerToken},system:kube-controller-manager,kcm,"system:masters"\n` +
      Object.entries(components).map(([name, c]) =>
        `${c.token},${c.user},${name}${c.groups ? `,"${c.groups}"` : ""}\n`
      ).join(""),
  );
  const port = freePort();
  const server = `https://127.0.0.1:${port}`;
  const nodeSideServer = `https://${address}:${port}`;
  const apiServerArgs = [
    ...["--etcd-servers", etcd.clientUrl, "--bind-address", "127.0.0.1"],
    ...["--secure-port", String(port), "--advertise-address", address],
    ...["--tls-cert-file", apiServerCert.certFile, "--tls-private-key-file", apiServerCert.keyFile],
    ...["--client-ca-file", ca.certFile, "--token-auth-file", `${dir}/tokens.csv`],
    ...["--service-account-issuer", "https://kubernetes.default.svc.cluster.local"],
    ...["--service-account-key-file", signingKey.publicKeyFile],
    ...["--service-account-signing-key-file", signingKey.privateKeyFile],
    ...["--authorization-mode", "Node,RBAC", "--service-cluster-ip-range", "10.96.0.0/24"],
    // `kubectl logs` and `exec` reach the kubelet at the node's InternalIP (its name resolves nowhere).
    ...["--kubelet-preferred-address-types", "InternalIP", "--cert-dir", `${dir}/apiserver-certs`],
    ...["--enable-priority-and-fairness=false", "--profiling=false", "--allow-privileged=true"],
  ];
  let apiServer: Daemon;
  const startApiServer = async () => {
    apiServer = spawnDaemon("kube-apiserver", controlPlaneBinary("kube-apiserver"), apiServerArgs);
    await waitReady(
      apiServer,
      () => httpsReady(`${server}/readyz`, caCert, adminToken),
      apiServerTimeoutMs,
    );
  };
  // One process per connection (fork); it stays up while the API server restarts.
  const forwarder = spawnDaemon("apiserver-forwarder", binary("socat"), [
    `TCP-LISTEN:${port},bind=${address},reuseaddr,fork`,
    `TCP:127.0.0.1:${port}`,
  ]);
  await startApiServer();
  await waitReady(
    forwarder,
    () => httpsReady(`${nodeSideServer}/readyz`, caCert, adminToken),
  );

  const kubeconfig = `${dir}/admin.kubeconfig`;
  Deno.writeTextFileSync(kubeconfig, kubeconfigText(server, ca.certFile, "admin", adminToken));
  const componentKubeconfigs = {} as Record<NodeComponent, string>;
  for (const [name, component] of Object.entries(components)) {
    const path = `${dir}/${name}.kubeconfig`;
    // The kubelet and kube-proxy run in the node's namespace; the scheduler on the machine.
    const componentServer = name === "kube-scheduler" ? server : nodeSideServer;
    Deno.writeTextFileSync(
      path,
      kubeconfigText(componentServer, ca.certFile, component.user, component.token),
    );
    componentKubeconfigs[name as NodeComponent] = path;
  }
  const controllerKubeconfig = `${dir}/kube-controller-manager.kubeconfig`;
  Deno.writeTextFileSync(
    controllerKubeconfig,
    kubeconfigText(server, ca.certFile, "kube-controller-manager", controllerToken),
  );
  const controllers = [
    ...["deployment", "replicaset", "statefulset", "daemonset", "cronjob", "job"],
    ...["serviceaccount", "serviceaccount-token", "namespace", "garbage-collector"],
    // The node's: the kubelet registers with the not-ready taint, which only this removes.
    ...["root-ca-certificate-publisher", "node-lifecycle", "pod-garbage-collector"],
  ].map((name) => `${name}-controller`);
  const controllerPort = freePort();
  const controllerManager = spawnDaemon(
    "kube-controller-manager",
    controlPlaneBinary("kube-controller-manager"),
    [
      ...[
        "--kubeconfig",
        controllerKubeconfig,
        "--authentication-kubeconfig",
        controllerKubeconfig,
      ],
      ...["--authorization-kubeconfig", controllerKubeconfig, "--leader-elect=false"],
      ...["--bind-address", "127.0.0.1", "--secure-port", String(controllerPort)],
      ...["--tls-cert-file", controllerCert.certFile],
      ...["--tls-private-key-file", controllerCert.keyFile],
      ...["--controllers", controllers.join(","), "--use-service-account-credentials=false"],
      ...["--service-account-private-key-file", signingKey.privateKeyFile],
      ...["--root-ca-file", ca.certFile],
      // The default 20 requests a second would take the deployment controller a quarter
      // of an hour through the benchmark's 10,000 Deployments (tests/bench).
      ...["--kube-api-qps", "300", "--kube-api-burst", "600"],
    ],
  );
  await waitReady(
    controllerManager,
    () => httpsReady(`https://127.0.0.1:${controllerPort}/healthz`, caCert),
  );

  return {
    kubeconfig,
    server,
    nodeSideServer,
    componentKubeconfigs,
    etcdUrl: etcd.clientUrl,
    adminToken,
    caFile: ca.certFile,
    async request(method, path, options = {}) {
      const client = Deno.createHttpClient({ caCerts: [caCert] });
      try {
        const headers: Record<string, string> = {
          authorization: `Bearer ${options.token ?? adminToken}`,
          accept: "application/json",
        };
        let body: string | undefined;
        if (options.body !== undefined) {
          body = JSON.stringify(options.body);
          headers["content-type"] = options.contentType ?? "application/json";
        }
        const response = await fetch(`${server}${path}`, { method, headers, body, client });
        const text = await response.text();
        let parsed: unknown = text;
        try {
          parsed = JSON.parse(text);
        } catch {
          // not JSON: keep the text
        }
        return { status: response.status, body: parsed };
      } finally {
        client.close();
      }
    },
    async restartApiServer() {
      await stopDaemon(apiServer);
      await startApiServer();
    },
    apiServerPid: () => apiServer.pid,
    stopApiServer: () => stopDaemon(apiServer),
    startApiServer,
  };
}

let shared: Promise<Kubernetes> | undefined;

/** The Kubernetes control plane of this test run, started on first use. */
export function kubernetes(): Promise<Kubernetes> {
  shared ??= start();
  return shared;
}

/**
 * A token for `namespace/serviceAccount` from the TokenRequest API, as a pod
 * of that service account would get it. The service account must exist.
 */
export async function serviceAccountToken(
  namespace: string,
  serviceAccount: string,
  expirationSeconds = 3600,
): Promise<string> {
  const kube = await kubernetes();
  const path = `/api/v1/namespaces/${namespace}/serviceaccounts/${serviceAccount}/token`;
  const response = await kube.request("POST", path, {
    body: {
      apiVersion: "authentication.k8s.io/v1",
      kind: "TokenRequest",
      spec: { expirationSeconds },
    },
  });
  const token = response.body?.status?.token;
  if (response.status !== 201 || typeof token !== "string") {
    throw new Error(
      `TokenRequest for ${namespace}/${serviceAccount} failed (${response.status}): ` +
        JSON.stringify(response.body),
    );
  }
  return token;
}
