/**
 * veryfreshpod running as a pod on the real node (tests/env/node.ts), the way
 * users run it: installed with `veryfreshpod install`, and through the seed's
 * path, `kubectl apply` of the manifest (`veryfreshpod manifest` fills in the
 * containerd runtime, socket and image, as the README says for nodes other
 * than Docker's). The pod must become Ready through its probes, log that it
 * tracks workloads (read with `kubectl logs`), and update a workload after an
 * image is imported into the node: with its ServiceAccount, in-cluster
 * configuration (the `kubernetes` Service, routed by kube-proxy) and the
 * mounted containerd socket, under the manifest's securityContext
 * (read-only root filesystem, no capabilities). The image is the test's
 * (tests/helpers/pod_image.ts); everything else is what users get.
 *
 * With the test Docker engine's socket beside the node's containerd (k3s's
 * default setup with Docker for builds), both ways mount both sockets and the
 * pod watches Docker: a `docker build` is copied into the node's containerd
 * and the workload's new pod runs the build.
 *
 * install reads the runtime from the Node's status; `--socket` names the test
 * containerd's socket, which is not at containerd's default path.
 * (install_e2e_test.ts registers a Node of its own while it runs and deletes
 * it at its end; with two nodes of different runtimes, install would refuse.)
 */
import assert from "node:assert/strict";
import {
  configDigest,
  docker,
  e2eTest,
  importIntoContainerd,
  kubernetes,
  makeImage,
  makeImageOnNode,
  node,
  NODE_NAME,
} from "./env/mod.ts";
import { eventually } from "./helpers/eventually.ts";
import { dockerBuild, uniqueRepository, waitForImages } from "./helpers/loop.ts";
import { importPodImage } from "./helpers/pod_image.ts";
import { listPods, type PodState, waitForPodsOn } from "./helpers/pods.ts";
import { runVeryfreshpod } from "./helpers/veryfreshpod_process.ts";
import {
  createNamespace,
  createWorkload,
  podTemplate,
  workloadObject,
} from "./helpers/workloads.ts";

const NS = "veryfreshpod";
const SELECTOR = "app.kubernetes.io/name=veryfreshpod";
let images = 0;

/** veryfreshpod's image, on the node under a name of this test run. */
async function podImage(): Promise<string> {
  const { containerdSocket, namespace } = await node();
  const reference = `vfp.test/veryfreshpod:e2e-${Date.now().toString(36)}${images++}`;
  await importPodImage(containerdSocket, namespace, reference);
  return reference;
}

/** A Deployment `web` on `image` in a new namespace, its pod running; returns the namespace. */
async function runningWeb(image: string, imageId: string): Promise<string> {
  const namespace = await createNamespace("in-pod");
  const object = workloadObject("Deployment", namespace, "web", [{ name: "app", image }]);
  podTemplate(object).spec.containers[0].command = ["sleep", "1000000"];
  podTemplate(object).spec.terminationGracePeriodSeconds = 1;
  await createWorkload(object);
  await waitForPodsOn(namespace, "app=web", imageId);
  return namespace;
}

async function uninstall(): Promise<void> {
  const kube = await kubernetes();
  const result = await runVeryfreshpod(["uninstall", "--kubeconfig", kube.kubeconfig]);
  assert.equal(result.code, 0, result.stderr);
}

/** `veryfreshpod manifest ARGS | kubectl apply -f -`, then `check`, then the objects deleted. */
async function withAppliedManifest(args: string[], check: () => Promise<void>): Promise<void> {
  const { kubectl } = await node();
  const manifest = await runVeryfreshpod(["manifest", ...args]);
  assert.equal(manifest.code, 0, manifest.stderr);
  const file = await Deno.makeTempFile({ prefix: "vfp-manifest-", suffix: ".yaml" });
  try {
    Deno.writeTextFileSync(file, manifest.stdout);
    await uninstall();
    await kubectl(["apply", "-f", file]);
    try {
      await check();
    } finally {
      await kubectl(["delete", "-f", file, "--wait=true"]);
    }
  } finally {
    Deno.removeSync(file);
  }
}

/**
 * What every way of installing must give: the pod Ready on `image`, its log
 * tracking workloads, and an import into the node that it turns into an
 * update of `web`, whose new pod runs the new image.
 */
async function assertWorks(image: string, namespace: string, repository: string) {
  const { kubectl } = await node();
  const pod = await eventually<PodState>("veryfreshpod's pod Ready", async () => {
    const [found] = await listPods(NS, SELECTOR);
    return found?.ready && found.image === image ? found : undefined;
  }, 120_000);
  const spec = JSON.parse(await kubectl(["-n", NS, "get", "pod", pod.name, "-o", "json"]));
  assert.equal(spec.spec.serviceAccountName, "veryfreshpod");
  assert.equal(spec.spec.containers[0].securityContext.readOnlyRootFilesystem, true);
  assert.equal(spec.status.containerStatuses[0].restartCount, 0);
  const logs = () => kubectl(["-n", NS, "logs", "deployment/veryfreshpod"]);
  await eventually("the pod's log to show it tracks workloads", async () => {
    const text = await logs();
    return /Tracking \d+ workloads/.test(text) ? text : undefined;
  });

  const next = `${repository}:v${Date.now().toString(36)}`;
  const id = await makeImageOnNode(next);
  await waitForImages("Deployment", namespace, "web", { app: next }, 60_000);
  const [web] = await waitForPodsOn(namespace, "app=web", id);
  assert.equal(web!.image, next);
  const text = await logs();
  assert.match(
    text,
    new RegExp(`Updated Deployment ${namespace}/web container app: \\S+ -> ${next}`),
  );
  await assertStatusCounts(namespace, next, id);
}

e2eTest(
  "in a pod: `veryfreshpod install` on the containerd node runs it, and it updates a workload",
  async () => {
    const [kube, { containerdSocket }] = await Promise.all([kubernetes(), node()]);
    const image = await podImage();
    const repository = uniqueRepository("in-pod-app");
    const namespace = await runningWeb(
      `${repository}:v1`,
      await makeImageOnNode(`${repository}:v1`),
    );
    await uninstall(); // a leftover of an interrupted run
    const result = await runVeryfreshpod([
      ...["install", "--kubeconfig", kube.kubeconfig, "--socket", containerdSocket],
      // Never the machine's own Docker, should it have one at the default path.
      ...["--image", image, "--docker-socket", "none"],
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, new RegExp(`Node "${NODE_NAME}" runs containerd://`));
    assert.match(result.stdout, /No Docker socket \(--docker-socket none\)/);
    try {
      await assertWorks(image, namespace, repository);
    } finally {
      await uninstall();
    }
  },
);

e2eTest(
  "in a pod: `kubectl apply` of the manifest runs it, and it updates a workload",
  async () => {
    const { containerdSocket } = await node();
    const image = await podImage();
    const repository = uniqueRepository("in-pod-app");
    const namespace = await runningWeb(
      `${repository}:v1`,
      await makeImageOnNode(`${repository}:v1`),
    );
    await withAppliedManifest(
      ["--runtime", "containerd", "--socket", containerdSocket, "--image", image],
      () => assertWorks(image, namespace, repository),
    );
  },
);

/** The pod's log, its Deployment's hostPath volumes, and a build's way to the workload's pod. */
async function assertBridges(image: string, namespace: string, repository: string, base: string) {
  const { kubectl } = await node();
  const engine = await docker();
  await eventually<PodState>("veryfreshpod's pod Ready", async () => {
    const [found] = await listPods(NS, SELECTOR);
    return found?.ready && found.image === image ? found : undefined;
  }, 120_000);
  const deployment = JSON.parse(
    await kubectl(["-n", NS, "get", "deployment", "veryfreshpod", "-o", "json"]),
  );
  // Least privilege: the two sockets, each of type Socket (never created), nothing else of the host.
  assert.deepEqual(
    deployment.spec.template.spec.volumes.filter((v: { hostPath?: unknown }) => v.hostPath)
      .map((v: { hostPath: unknown }) => v.hostPath),
    [
      { path: (await node()).containerdSocket, type: "Socket" },
      { path: engine.socket, type: "Socket" },
    ],
  );
  const logs = () => kubectl(["-n", NS, "logs", "deployment/veryfreshpod"]);
  await eventually("the pod's log to show it bridges and tracks workloads", async () => {
    const text = await logs();
    return /Tracking \d+ workloads/.test(text) &&
        new RegExp(
          `Bridging: images built in docker unix:///var/run/docker.sock go to node ${NODE_NAME} ` +
            "through the containerd socket /run/containerd/containerd.sock",
        ).test(text)
      ? text
      : undefined;
  });

  const next = `${repository}:v2`;
  await dockerBuild(next, base); // only in Docker
  const id = await configDigest(next); // what the pod reports, on either image store
  await waitForImages("Deployment", namespace, "web", { app: next }, 60_000);
  const [web] = await waitForPodsOn(namespace, "app=web", id);
  assert.equal(web!.image, next);
  const text = await logs();
  assert.match(text, new RegExp(`Copied \\S*${next} to node ${NODE_NAME}: \\d+ blobs written`));
  assert.match(
    text,
    new RegExp(`Updated Deployment ${namespace}/web container app: \\S+ -> ${next}`),
  );
  // Docker's own containerd is out of the pod's reach, so the engine knows the build by its
  // image ID alone (on the containerd store, the index digest): the config digest the pod
  // reports comes from the node the bridge copied it to.
  await assertStatusCounts(namespace, next, id);
}

/**
 * `veryfreshpod status`, run here, counts `web`'s pod as running `image`, whose
 * pod reports `id`: the record the installed veryfreshpod wrote holds it.
 */
async function assertStatusCounts(namespace: string, image: string, id: string) {
  const { kubeconfig } = await kubernetes();
  await eventually("status to count the pod running the build", async () => {
    const result = await runVeryfreshpod([
      ...["status", "--kubeconfig", kubeconfig, "-n", namespace, "-o", "json"],
    ]);
    assert.equal(result.code, 0, result.stderr);
    const [row] = JSON.parse(result.stdout);
    assert.equal(row.image, image);
    assert.ok(row.id === id || row.configId === id, JSON.stringify(row));
    return row.pods.onImage === 1 && row.pods.total === 1 ? row : undefined;
  }, 30_000);
}

/** A base image that runs a shell, in Docker, and `web` running a build of it on the node. */
async function webOnDockerBuild(repository: string): Promise<{ namespace: string; base: string }> {
  const base = `${uniqueRepository("in-pod-base")}:v1`;
  await makeImage(base);
  await dockerBuild(`${repository}:v1`, base);
  await importIntoContainerd(`${repository}:v1`);
  // What the pod reports: the config digest, which is the image ID on the classic store only.
  return {
    namespace: await runningWeb(`${repository}:v1`, await configDigest(`${repository}:v1`)),
    base,
  };
}

e2eTest(
  "in a pod: install on the containerd node with Docker beside it mounts both sockets, and a docker build reaches the workload's pod",
  async () => {
    const [kube, { containerdSocket }, engine] = await Promise.all([
      kubernetes(),
      node(),
      docker(),
    ]);
    const image = await podImage();
    const repository = uniqueRepository("in-pod-docker");
    const { namespace, base } = await webOnDockerBuild(repository);
    await uninstall();
    const result = await runVeryfreshpod([
      ...["install", "--kubeconfig", kube.kubeconfig, "--socket", containerdSocket],
      ...["--docker-socket", engine.socket, "--image", image],
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(
      result.stdout,
      new RegExp(`Docker Engine \\S+ at ${engine.socket}: mounting it too`),
    );
    try {
      await assertBridges(image, namespace, repository, base);
    } finally {
      await uninstall();
    }
  },
);

e2eTest(
  "in a pod: `kubectl apply` of `manifest --docker-socket` mounts both sockets, and a docker build reaches the workload's pod",
  async () => {
    const [{ containerdSocket }, engine] = await Promise.all([node(), docker()]);
    const image = await podImage();
    const repository = uniqueRepository("in-pod-docker");
    const { namespace, base } = await webOnDockerBuild(repository);
    await withAppliedManifest(
      [
        ...["--runtime", "containerd", "--socket", containerdSocket, "--image", image],
        ...["--docker-socket", engine.socket],
      ],
      () => assertBridges(image, namespace, repository, base),
    );
  },
);

e2eTest(
  "install on a containerd node says in one line when --docker-socket names no socket",
  async () => {
    const [kube, { containerdSocket }] = await Promise.all([kubernetes(), node()]);
    const missing = `${await Deno.makeTempDir()}/docker.sock`;
    const result = await runVeryfreshpod([
      ...["install", "--kubeconfig", kube.kubeconfig, "--socket", containerdSocket],
      ...["--docker-socket", missing, "--image", "vfp.test/none:1", "--dry-run"],
    ]);
    assert.equal(result.code, 3, result.stderr);
    assert.equal(
      result.stderr,
      `error: No socket at "${missing}" (--docker-socket): give the path of the socket the ` +
        "node's Docker Engine listens on, or --docker-socket none\n",
    );
    // Nothing was created where the socket is missing.
    assert.equal(await Deno.stat(missing).then(() => true, () => false), false);
  },
);
