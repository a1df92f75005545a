/**
 * Builds reaching nodes the machine cannot write to, through the cluster's
 * registry, on the real test cluster with two nodes: the first node's
 * containerd and a second node whose containerd holds nothing of the
 * machine's (second_node.ts), both pulling from a real registry as kind's
 * nodes do. veryfreshpod finds the registry in the ConfigMap kind's script
 * publishes (or in --registry), pushes only what the registry lacks, and pins
 * the workloads to the pushed digest; what is asserted is what the cluster
 * runs: both pods, on both nodes, on that digest.
 */
import assert from "node:assert/strict";
import {
  containerd,
  docker,
  e2eTest,
  importIntoContainerd,
  kubernetes,
  makeImage,
} from "./env/mod.ts";
import {
  dockerConfigWithAuth,
  type PrivateRegistry,
  privateRegistry,
  REGISTRY_PASSWORD,
} from "./env/private_registry.ts";
import { registryOnNodes } from "./env/node_registry.ts";
import { SECOND_NODE_NAME } from "./env/second_node.ts";
import { NODE_NAME } from "./env/controlplane.ts";
import { listPods, type PodState } from "./helpers/pods.ts";
import { buildOnBase, startLoop, uniqueRepository, waitForImages } from "./helpers/loop.ts";
import { eventually } from "./helpers/eventually.ts";
import {
  api,
  createNamespace,
  createWorkload,
  eventsIn,
  getWorkload,
  imagesOf,
  nodeWorkload,
} from "./helpers/workloads.ts";
import { RegistryClient } from "../lib/registry/client.ts";
import { runVeryfreshpod } from "./helpers/veryfreshpod_process.ts";
import { escapeRegExp as escape } from "./helpers/regexp.ts";

/** `veryfreshpod status -o json` of a namespace. */
// deno-lint-ignore no-explicit-any
async function status(namespace: string): Promise<any[]> {
  const { kubeconfig } = await kubernetes();
  const result = await runVeryfreshpod([
    ...["status", "--kubeconfig", kubeconfig, "-n", namespace, "-o", "json"],
  ]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

const HELP = "https://kind.sigs.k8s.io/docs/user/local-registry/";
const CONFIGMAP = "/api/v1/namespaces/kube-public/configmaps/local-registry-hosting";

/** Publishes the registry as kind's script does; resolves to a remover. */
async function announce(host: string, fromRuntime?: string): Promise<() => Promise<void>> {
  await withdraw();
  const value = `host: "${host}"\n${
    fromRuntime ? `hostFromContainerRuntime: "${fromRuntime}"\n` : ""
  }help: "${HELP}"\n`;
  await api("POST", "/api/v1/namespaces/kube-public/configmaps", {
    metadata: { name: "local-registry-hosting" },
    data: { "localRegistryHosting.v1": value },
  });
  return withdraw;
}

async function withdraw(): Promise<void> {
  const kube = await kubernetes();
  await kube.request("DELETE", CONFIGMAP);
}

/** The digest the registry has for `repository:tag`. */
async function registryDigest(registry: PrivateRegistry, repository: string, tag: string) {
  const client = new RegistryClient(registry.address, {
    credentials: () =>
      Promise.resolve({
        credentials: { username: "vfp-tester", password: REGISTRY_PASSWORD },
        source: "test",
      }),
  });
  return await client.manifestDigest(repository, tag);
}

/** A registry both nodes pull from, with `repository:v1` (on a base image) pushed by docker. */
async function setUp(options: { basicAuth?: boolean } = {}) {
  const registry = await privateRegistry(options);
  await registryOnNodes(registry);
  const repository = uniqueRepository("vfp-reg-app");
  const base = `${repository}-base:v1`;
  await makeImage(base);
  await buildOnBase(base, `${repository}:v1`);
  const remote = `${registry.address}/${repository}:v1`;
  const engine = await docker();
  const dockerConfig = options.basicAuth ? dockerConfigWithAuth(registry.address) : undefined;
  const env = dockerConfig ? ["--config", dockerConfig] : [];
  await engine.run([...env, "tag", `${repository}:v1`, remote]);
  await engine.run([...env, "push", "--quiet", remote]);
  return { registry, repository, base, dockerConfig };
}

/** Two replicas of `image`, one on each node. */
async function spreadDeployment(ns: string, name: string, image: string): Promise<void> {
  const object = nodeWorkload("Deployment", ns, name, image, {
    command: ["sleep", "3600"],
    replicas: 2,
  }) as { spec: { template: { spec: Record<string, unknown> } } };
  object.spec.template.spec.topologySpreadConstraints = [{
    maxSkew: 1,
    topologyKey: "kubernetes.io/hostname",
    whenUnsatisfiable: "DoNotSchedule",
    labelSelector: { matchLabels: { app: name } },
  }];
  await createWorkload(object);
}

/** Waits until the Deployment's two pods run `image` with `digest`, one on each node. */
async function waitForPodsOnBothNodes(ns: string, name: string, image: string, digest: string) {
  let last: (PodState & { node?: string })[] = [];
  return await eventually(`two pods of ${name} running ${image}, one per node`, async () => {
    const pods = await listPods(ns, `app=${name}`);
    const list = await api("GET", `/api/v1/namespaces/${ns}/pods?labelSelector=app%3D${name}`);
    // deno-lint-ignore no-explicit-any
    const nodes = new Map(list.items.map((p: any) => [p.metadata.name, p.spec.nodeName]));
    last = pods.map((pod) => ({ ...pod, node: nodes.get(pod.name) as string | undefined }));
    const running = last.filter((pod) =>
      !pod.deleting && pod.phase === "Running" && pod.image === image &&
      pod.imageId.endsWith(`@${digest}`)
    );
    const onNodes = new Set(running.map((pod) => pod.node));
    return last.length === 2 && onNodes.has(NODE_NAME) && onNodes.has(SECOND_NODE_NAME)
      ? last
      : undefined;
  }, 120_000).catch((error) => {
    throw new Error(`${error.message}; pods: ${JSON.stringify(last)}`);
  });
}

/** A namespace whose Deployment `web` runs `repository:v1` from the registry, one pod per node. */
async function v1OnBothNodes(prefix: string, registry: PrivateRegistry, repository: string) {
  const ns = await createNamespace(prefix);
  const v1 = `${registry.address}/${repository}:v1`;
  await spreadDeployment(ns, "web", v1);
  const digest = await registryDigest(registry, repository, "v1");
  assert.ok(digest);
  await waitForPodsOnBothNodes(ns, "web", v1, digest);
  return { ns, v1 };
}

e2eTest(
  "kind's registry set-up, two nodes: a build and a rebuild reach both nodes, pinned by digest, each blob sent once",
  async () => {
    const { registry, repository, base } = await setUp();
    const removeAnnouncement = await announce(registry.address);
    try {
      const { ns } = await v1OnBothNodes("registry", registry, repository);

      await using loop = await startLoop(["--namespace", ns, "--bridge", "off"], {
        env: { DOCKER_CONFIG: Deno.makeTempDirSync() },
      });
      await loop.waitForLine(
        new RegExp(
          `Cluster registry ${registry.address}, from ConfigMap kube-public/local-registry-hosting`,
        ),
      );

      // The developer builds app:v2 and does nothing else.
      await buildOnBase(base, `${repository}:v2`);
      const pushed = await loop.waitForLine(/Pushed docker\.io\/library\/.*:v2 to /, 60_000);
      const v2Digest = await registryDigest(registry, repository, "v2");
      assert.ok(v2Digest);
      // `docker push` sent v1's layers compressed; the engine's archive holds them as they
      // are (uncompressed on the classic store): so the first push sends the base layer too.
      assert.match(pushed, new RegExp(`@${v2Digest}: \\d blobs sent`));
      const v2 = `${registry.address}/${repository}:v2@${v2Digest}`;
      await waitForImages("Deployment", ns, "web", { app: v2 }, 60_000);
      await waitForPodsOnBothNodes(ns, "web", v2, v2Digest);
      const events = await eventsIn(ns);
      assert.ok(
        events.some((e) => e.includes(`-> ${v2}`)),
        `an Event names the tag and digest: ${events.join("\n")}`,
      );
      await loop.waitForLine(
        new RegExp(
          `Rolled out Deployment ${ns}/web: 2/2 pods on ${escape(v2)} (\\(\\w{12}\\) )?in`,
        ),
        60_000,
      );

      // A rebuild of the same tag: a new digest, both nodes roll again; again only what changed.
      await buildOnBase(base, `${repository}:v2`);
      await eventually("the registry to hold the rebuild", async () => {
        const digest = await registryDigest(registry, repository, "v2");
        return digest !== v2Digest ? digest : undefined;
      }, 60_000);
      const rebuilt = (await registryDigest(registry, repository, "v2"))!;
      const rebuiltRef = `${registry.address}/${repository}:v2@${rebuilt}`;
      await waitForImages("Deployment", ns, "web", { app: rebuiltRef }, 60_000);
      await waitForPodsOnBothNodes(ns, "web", rebuiltRef, rebuilt);
      const pushes = loop.lines.filter((line) => /Pushed /.test(line));
      assert.equal(pushes.length, 2, pushes.join("\n"));
      // The base layer (busybox, 1.9 MiB) was there: only the rebuild's own blobs went, a few KiB.
      const sent = pushes[1]!.match(/: (\d+) blobs sent, (\d+) there already, [\d.]+ (B|KiB)$/);
      assert.ok(sent, pushes[1]);
      assert.ok(Number(sent[2]) >= 1, pushes[1]);
      await loop.waitForLine(
        new RegExp(
          `Rolled out Deployment ${ns}/web: 2/2 pods on ${escape(rebuiltRef)} (\\(\\w{12}\\) )?in`,
        ),
        60_000,
      );

      // status reads the record and counts the pods by the digest they run.
      const [row, ...more] = await status(ns);
      assert.deepEqual(more, []);
      assert.equal(row.image, rebuiltRef);
      assert.equal(row.id, rebuilt);
      assert.deepEqual(row.pods, { onImage: 2, total: 2 });
      assert.ok(!loop.lines.some((l) => / (WARN|ERROR) /.test(l)), loop.lines.join("\n"));
      assert.equal(await loop.stop(), 0, loop.lines.join("\n"));
    } finally {
      await removeAnnouncement();
      await registry.stop();
    }
  },
);

e2eTest(
  "--registry without a ConfigMap, the containerd engine: an imported tag is pushed from containerd's content and reaches both nodes",
  async () => {
    const { registry, repository } = await setUp();
    await withdraw();
    try {
      const { ns } = await v1OnBothNodes("registry-ctr", registry, repository);

      const first = await containerd();
      await using loop = await startLoop(
        ["--namespace", ns, "--registry", registry.address],
        {
          engineArgs: ["--runtime", "containerd", "--containerd-socket", first.socket],
          env: { DOCKER_CONFIG: Deno.makeTempDirSync() },
        },
      );
      await loop.waitForLine(
        new RegExp(`Cluster registry ${escape(registry.address)}, from --registry`),
      );
      // A build imported into the node's containerd (as `ctr images import` or nerdctl would).
      await makeImage(`${repository}:v2`);
      await importIntoContainerd(`${repository}:v2`);
      await loop.waitForLine(/Pushed docker\.io\/library\/.*:v2 to /, 60_000);
      const digest = (await registryDigest(registry, repository, "v2"))!;
      const v2 = `${registry.address}/${repository}:v2@${digest}`;
      await waitForImages("Deployment", ns, "web", { app: v2 }, 60_000);
      await waitForPodsOnBothNodes(ns, "web", v2, digest);
      assert.ok(!loop.lines.some((l) => / (WARN|ERROR) /.test(l)), loop.lines.join("\n"));
      // It stops cleanly on SIGTERM.
      assert.equal(await loop.stop(), 0, loop.lines.join("\n"));
    } finally {
      await registry.stop();
    }
  },
);

e2eTest(
  "basic auth: wrong credentials are one line naming their source and nothing is patched; once fixed the push lands",
  async () => {
    const { registry, repository, base, dockerConfig } = await setUp({ basicAuth: true });
    try {
      const ns = await createNamespace("registry-auth");
      const v1 = `${registry.address}/${repository}:v1`;
      // No replicas: what is asserted is the push and the patch, not the nodes' own credentials.
      await createWorkload(nodeWorkload("Deployment", ns, "web", v1, {
        command: ["sleep", "3600"],
        replicas: 0,
      }));
      const wrong = dockerConfigWithAuth(registry.address, `${REGISTRY_PASSWORD}-wrong`);
      // The bridge stays on (auto): the nodes it cannot reach are no fault with a registry.
      await using loop = await startLoop(["--namespace", ns, "--registry", registry.address], {
        env: { DOCKER_CONFIG: wrong },
      });
      await buildOnBase(base, `${repository}:v2`);
      const refused = await loop.waitForLine(/WARN +Cannot push/, 60_000);
      assert.match(
        refused,
        new RegExp(
          `Cannot push docker\\.io/library/${repository}:v2 to ${escape(registry.address)}/` +
            `${repository}:v2: registry ${escape(registry.address)} refused the credentials ` +
            `from auths\\["${escape(registry.address)}"\\] in ${escape(wrong)}/config\\.json ` +
            `\\(HTTP 401\\); run docker login`,
        ),
      );
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      assert.deepEqual(imagesOf(await getWorkload("Deployment", ns, "web")), { app: v1 });
      assert.equal(await registryDigest(registry, repository, "v2"), undefined);

      // The developer logs in again (the right password): the next retry pushes and patches.
      Deno.copyFileSync(`${dockerConfig}/config.json`, `${wrong}/config.json`);
      await loop.waitForLine(/Pushed docker\.io\/library\/.*:v2 to /, 60_000);
      const digest = (await registryDigest(registry, repository, "v2"))!;
      await waitForImages("Deployment", ns, "web", {
        app: `${registry.address}/${repository}:v2@${digest}`,
      });
      // One line for the cause, however many retries failed the same way.
      const warnings = loop.lines.filter((l) => / WARN /.test(l));
      assert.deepEqual(warnings, [refused]);
      assert.ok(
        loop.lines.some((l) =>
          l.includes(`runs containerd that veryfreshpod cannot reach`) &&
          l.includes(`builds reach it through the cluster's registry ${registry.address}`)
        ),
        loop.lines.join("\n"),
      );
    } finally {
      await registry.stop();
    }
  },
);

e2eTest(
  "the registry stopped: one line, nothing patched; once it is back the push lands and both nodes roll",
  async () => {
    const { registry, repository, base } = await setUp();
    const removeAnnouncement = await announce(registry.address);
    try {
      const { ns, v1 } = await v1OnBothNodes("registry-down", registry, repository);
      await using loop = await startLoop(["--namespace", ns, "--bridge", "off"], {
        env: { DOCKER_CONFIG: Deno.makeTempDirSync() },
      });
      await registry.stop();
      await buildOnBase(base, `${repository}:v2`);
      const down = await loop.waitForLine(/WARN +Cannot push/, 60_000);
      assert.match(
        down,
        new RegExp(
          `registry http://${escape(registry.address)} does not answer: .*; nothing is patched ` +
            `until it is there, retrying in [\\d.]+ s`,
        ),
      );
      assert.match(down, new RegExp(escape(HELP)), "the cluster's help is shown with the failure");
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      assert.deepEqual(imagesOf(await getWorkload("Deployment", ns, "web")), { app: v1 });

      await registry.start();
      await loop.waitForLine(/Pushed docker\.io\/library\/.*:v2 to /, 90_000);
      const warnings = loop.lines.filter((l) => / WARN /.test(l));
      assert.deepEqual(warnings, [down], "one line while the registry was down");
      const digest = (await registryDigest(registry, repository, "v2"))!;
      const v2 = `${registry.address}/${repository}:v2@${digest}`;
      await waitForImages("Deployment", ns, "web", { app: v2 });
      await waitForPodsOnBothNodes(ns, "web", v2, digest);
    } finally {
      await removeAnnouncement();
      await registry.stop();
    }
  },
);

e2eTest(
  "nodes that cannot pull the registry's name: the failure line names the node, the image and the cluster's help",
  async () => {
    const { registry, repository, base } = await setUp();
    // The cluster says the nodes reach the registry at a port where nothing listens.
    const removeAnnouncement = await announce(registry.address, "127.0.0.1:1");
    try {
      const { ns } = await v1OnBothNodes("registry-pull", registry, repository);
      await using loop = await startLoop(["--namespace", ns, "--bridge", "off"], {
        env: { DOCKER_CONFIG: Deno.makeTempDirSync() },
      });
      await buildOnBase(base, `${repository}:v2`);
      await loop.waitForLine(/Pushed /, 60_000);
      const digest = (await registryDigest(registry, repository, "v2"))!;
      const image = `127.0.0.1:1/${repository}:v2@${digest}`;
      await waitForImages("Deployment", ns, "web", { app: image });
      const failed = await loop.waitForLine(/ERROR +Rollout of Deployment .* failed/, 120_000);
      assert.match(
        failed,
        new RegExp(
          `(ErrImagePull|ImagePullBackOff), cannot pull ${escape(image)}.*; node ` +
            `(${NODE_NAME}|${SECOND_NODE_NAME}) cannot pull it from the cluster's registry ` +
            `127\\.0\\.0\\.1:1: check that the nodes reach it under that name and may pull from ` +
            `it \\(${escape(HELP)}\\)`,
        ),
      );
    } finally {
      await removeAnnouncement();
      await registry.stop();
    }
  },
);
