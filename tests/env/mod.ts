/**
 * The private, real test environment: daemons started by the tests on
 * temporary paths and free loopback ports, never the machine's own docker or
 * cluster. Run `deno run -A tests/env/prepare.ts` (part of `deno task test`)
 * once per machine to install and build what they need.
 *
 * Each daemon starts on first use and at most once per `deno test` process,
 * shared by every test file (the module-level promise is the singleton; a
 * failed start stays failed, so every test that needs it fails loudly):
 *
 *   docker(): Promise<Docker>  store (DEFAULT_DOCKER_STORE with today's engines, "classic"
 *     with the compatibility set), socket, host (unix://…), env (DOCKER_HOST, DOCKER_CONFIG),
 *     run(args): Promise<string>  the docker CLI; stdout trimmed; throws with stderr
 *   dockerClassic(), dockerContainerdStore(): Promise<Docker>  the daemon with that image
 *     store (docker() itself when it has it); the containerd store rejects on Docker 20.10
 *   engineSet(): "today" | "compat"  which engines this process runs against (engines.ts;
 *     VFP_TEST_ENGINES=compat picks Docker 20.10 and containerd 1.6); engineVersions()
 *   containerd(): Promise<Containerd>  socket, namespace ("k8s.io"), ctr(args): Promise<string>
 *   registry(): Promise<Registry>  address (127.0.0.1:port, plain HTTP: the test dockerd
 *     accepts it)
 *   kubernetes(): Promise<Kubernetes>  kubeconfig (admin kubeconfig path), server
 *     (https://127.0.0.1:port), nodeSideServer (where the node and pods reach it), adminToken,
 *     caFile, request(method, path, { token?, body?, contentType? }): Promise<{ status, body }>,
 *     restartApiServer(): Promise<void>
 *   serviceAccountToken(namespace, name, expirationSeconds?): Promise<string>  TokenRequest API
 *   node(): Promise<Node>  a real node (kubelet, kube-scheduler, kube-proxy, CNI bridge, the
 *     node-lifecycle controller) on the test containerd, resolved once Ready (node.ts):
 *     name, containerdSocket (= containerd().socket), namespace ("k8s.io"), address,
 *     podCidr, kubectl(args): Promise<string>  (admin; stdout; throws with stderr).
 *     Images reach it with importIntoContainerd(); pods of a local image need
 *     imagePullPolicy IfNotPresent or Never.
 *
 * Images (images.ts), all in the test dockerd: makeImage(ref, files?) → image ID (new each
 * call, runnable: busybox applets on PATH); imageId(ref); configDigest(ref) → what a pod on a
 * containerd node reports as imageID (the image ID only on the classic store);
 * pushToRegistry(ref, name?) → remote
 * ref; saveImage(...refs) → tarball path; loadImage(path); importIntoContainerd(...refs) →
 * containerd names; makeImageOnNode(ref, files?) → makeImage + importIntoContainerd, returns
 * the configDigest a pod reports.
 *
 * Tests that use these daemons must be declared with `e2eTest` (or turn off
 * `sanitizeOps` and `sanitizeResources` themselves): a daemon outlives the
 * test that started it, and its child process handle would trip the
 * sanitizers. The children are unref'd, so they never hold `deno test` open;
 * everything is stopped and removed on exit, also after failures, on
 * SIGINT/SIGTERM, and after a SIGKILL of the test process (see process.ts).
 * Daemon logs are in `<run root>/logs/<name>.log` while the run lasts; a
 * daemon that does not start or become ready fails with the last 40 lines.
 */

export { type Containerd, containerd } from "./containerd.ts";
export {
  allCapabilitiesFlags,
  DEFAULT_DOCKER_STORE,
  type Docker,
  docker,
  dockerClassic,
  dockerContainerdStore,
  type ImageStore,
  unixHttpClient,
} from "./dockerd.ts";
export { type EngineSet, engineSet, engineVersions } from "./engines.ts";
export {
  type KubeResponse,
  type Kubernetes,
  kubernetes,
  serviceAccountToken,
} from "./controlplane.ts";
export { type Registry, registry } from "./registry.ts";
export { type Node, node } from "./node.ts";
export { KUBERNETES_SERVICE_IP, NODE_NAME } from "./controlplane.ts";
export {
  configDigest,
  imageId,
  importIntoContainerd,
  loadImage,
  makeImage,
  makeImageOnNode,
  pushToRegistry,
  saveImage,
} from "./images.ts";
export { daemonVersions } from "./versions.ts";

/** Deno.test for tests against the real daemons: sanitizers off (see above). */
export function e2eTest(name: string, fn: (t: Deno.TestContext) => Promise<void>): void {
  Deno.test({ name, fn, sanitizeOps: false, sanitizeResources: false });
}
