/**
 * The bridge from Docker builds to a containerd node, on the real daemons:
 * the test dockerd builds, the standalone containerd (CRI plugin on, as on a
 * node) receives, through its socket or through a node container in Docker
 * the way kind's nodes get images; on the real test node (tests/env/node.ts,
 * the kubelet on that containerd), the pods run what Docker built.
 */
import assert from "node:assert/strict";
import { criImageStatus } from "./helpers/cri.ts";
import {
  containerd,
  docker,
  dockerClassic,
  e2eTest,
  engineSet,
  kubernetes,
  makeImage,
  node,
} from "./env/mod.ts";
import { listPods, waitForPodsOn } from "./helpers/pods.ts";
import { buildOnBase, startLoop, waitForImages } from "./helpers/loop.ts";
import { runVeryfreshpod } from "./helpers/veryfreshpod_process.ts";
import { registerNode } from "./helpers/nodes.ts";
import { buildNodeImage, startKindNode } from "./helpers/kind_nodes.ts";
import { eventually } from "./helpers/eventually.ts";
import {
  createNamespace,
  createWorkload,
  getWorkload,
  imagesOf,
  podTemplate,
  workloadObject,
} from "./helpers/workloads.ts";
import { DockerClient } from "../lib/engine/docker_client.ts";
import { parseStoreInfo } from "../lib/engine/docker_image_store.ts";
import { configDigest } from "../lib/engine/config_digest.ts";
import { parseDockerHost, resolveDockerHost } from "../lib/engine/docker_host.ts";
import { ContainerFeed } from "../lib/bridge/container_feed.ts";
import { ContainerdWriter } from "../lib/engine/containerd_writer.ts";
import { SocketFeed } from "../lib/bridge/socket_feed.ts";

const unique = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

/** The image ID the CRI plugin reports for `image` (as the kubelet would see it), or null. */
async function criImageId(socket: string, image: string): Promise<string | null> {
  return (await criImageStatus(socket, image))?.id ?? null;
}

/**
 * What a pod and the CRI on a containerd node report for Docker's image `id`:
 * its config digest, which is `id` itself on the classic store (on the
 * containerd store `id` is the manifest or index digest).
 */
async function podImageId(id: string): Promise<string> {
  const engine = await docker();
  if (engine.store === "classic") return id;
  const client = new DockerClient(parseDockerHost(engine.host, "--docker-host"));
  try {
    const info = parseStoreInfo(await client.json("/info"));
    assert.ok(info.socket, "Docker names its containerd");
    const moby = new ContainerdWriter(info.socket, info.namespace);
    try {
      const config = await configDigest((digest) => moby.readContent(digest), id);
      assert.ok(config, `the config digest of ${id}`);
      return config;
    } finally {
      moby.close();
    }
  } finally {
    client.close();
  }
}

/** The target digest of `name` in containerd's k8s.io namespace, from `ctr images ls`. */
async function containerdTarget(name: string): Promise<string | undefined> {
  const listed = await (await containerd()).ctr(["images", "ls", "--quiet", `name==${name}`]);
  if (listed.trim() !== name) return undefined;
  const table = await (await containerd()).ctr(["images", "ls", `name==${name}`]);
  return table.match(/\s(sha256:[0-9a-f]{64})\s/)?.[1];
}

e2eTest(
  "through the socket: a build lands in containerd under its normalised name, and a rebuild sends only the changed layer",
  async () => {
    const [engine, ctr] = await Promise.all([docker(), containerd()]);
    const suffix = unique();
    const base = `vfp-bridge-base-${suffix}:v1`;
    await makeImage(base);
    const ref = `vfp-bridge-app-${suffix}:v1`;
    const name = `docker.io/library/${ref}`;
    const client = new DockerClient(parseDockerHost(engine.host, "--docker-host"));
    const feed = new SocketFeed(
      ["node-a"],
      client,
      new ContainerdWriter(ctr.socket, ctr.namespace),
    );
    const signal = new AbortController().signal;
    try {
      const firstId = await buildOnBase(base, ref);
      assert.equal(await feed.has({ name, id: firstId }), false);
      const first = await feed.copy({ name, id: firstId }, signal);
      // With Docker's containerd store the blobs come from it, not from a save; a BuildKit
      // build is an index (with an attestation manifest, whose blobs the node does not need).
      const containerdStore = engine.store === "containerd";
      assert.equal(first.source, containerdStore ? "Docker's containerd" : "docker save");
      // Two layers, config, manifest (and the index).
      assert.equal(first.written, containerdStore ? 5 : 4, JSON.stringify(first));
      assert.ok(await feed.has({ name, id: firstId }));
      assert.ok(await containerdTarget(name), "the image is listed under its normalised name");
      // What the kubelet sees: the short name resolves, to Docker's own image ID.
      assert.equal(await criImageId(ctr.socket, ref), await podImageId(firstId));
      assert.match(await ctr.ctr(["images", "check", `name==${name}`]), /complete \(3\/3\)/);

      const secondId = await buildOnBase(base, ref);
      assert.notEqual(secondId, firstId);
      assert.equal(await feed.has({ name, id: secondId }), false, "the node holds another image");
      const second = await feed.copy({ name, id: secondId }, signal);
      assert.deepEqual({ written: second.written, skipped: second.skipped }, {
        written: containerdStore ? 4 : 3,
        skipped: 1,
      });
      // Only the changed layer (a few KiB), the config and the manifest crossed the socket.
      assert.ok(second.bytes < 64 * 1024, `${second.bytes} bytes sent`);
      assert.ok(first.bytes > 10 * second.bytes, `${first.bytes} then ${second.bytes}`);
      assert.equal(await criImageId(ctr.socket, ref), await podImageId(secondId));
      assert.doesNotMatch(await ctr.ctr(["leases", "ls"]), /veryfreshpod-/, "no lease is left");
    } finally {
      feed.close();
      client.close();
    }
  },
);

e2eTest(
  "through the socket from Docker's classic store: the save streams, and a rebuild sends only the changed layer",
  async () => {
    // With today's engines a Docker 29 with the classic store (an OCI layout save of
    // uncompressed layers); with the compatibility set Docker 20.10 (the legacy layout).
    const [engine, ctr] = await Promise.all([dockerClassic(), containerd()]);
    const suffix = unique();
    const ref = `vfp-bridge-classic-${suffix}:v1`;
    const name = `docker.io/library/${ref}`;
    const context = await Deno.makeTempDir({ prefix: "vfp-bridge-classic-" });
    // Two layers from scratch: a rebuild with a new app-id changes only the second.
    await Deno.writeTextFile(`${context}/base`, `${"base ".repeat(100_000)}${suffix}\n`);
    await Deno.writeTextFile(
      `${context}/Dockerfile`,
      "FROM scratch\nCOPY base /base\nCOPY app-id /app-id\n",
    );
    const build = async () => {
      await Deno.writeTextFile(`${context}/app-id`, `${crypto.randomUUID()}\n`);
      await engine.run(["build", "--quiet", "--tag", ref, context]);
      return await engine.run(["image", "inspect", "--format", "{{.Id}}", ref]);
    };
    const client = new DockerClient(parseDockerHost(engine.host, "--docker-host"));
    const feed = new SocketFeed(
      ["node-a"],
      client,
      new ContainerdWriter(ctr.socket, ctr.namespace),
    );
    const signal = new AbortController().signal;
    try {
      const firstId = await build();
      const first = await feed.copy({ name, id: firstId }, signal);
      assert.equal(first.source, "docker save");
      assert.equal(first.written, 4, JSON.stringify(first)); // two layers, config, manifest
      // The classic store's ID is the config digest: what the CRI reports.
      assert.equal(await criImageId(ctr.socket, ref), firstId);
      assert.ok(await feed.has({ name, id: firstId }));
      const secondId = await build();
      const second = await feed.copy({ name, id: secondId }, signal);
      assert.deepEqual([second.written, second.skipped], [3, 1]);
      assert.ok(second.bytes < 64 * 1024, `${second.bytes} bytes sent`);
      assert.equal(await criImageId(ctr.socket, ref), secondId);
      assert.doesNotMatch(await ctr.ctr(["leases", "ls"]), /veryfreshpod-/, "no lease is left");
    } finally {
      feed.close();
      client.close();
      await Deno.remove(context, { recursive: true });
    }
  },
);

e2eTest(
  "run bridges Docker builds to a containerd node: in use at start, a new tag, a rebuild, each on the node before the patch",
  async () => {
    const [ctr, kube] = await Promise.all([containerd(), kubernetes()]);
    const suffix = unique();
    const base = `vfp-bridge-base-${suffix}:v1`;
    await makeImage(base);
    const repo = `vfp-bridge-run-${suffix}`;
    const v1 = await buildOnBase(base, `${repo}:v1`);
    const namespace = await createNamespace("bridge");
    await createWorkload(workloadObject("Deployment", namespace, "web", [
      { name: "web", image: `${repo}:v1`, imagePullPolicy: "IfNotPresent" },
    ]));
    const node = `vfp-bridge-node-${suffix}`;
    await registerNode(node, "containerd://1.6.20");
    const loop = await startLoop(["--containerd-socket", ctr.socket]);
    try {
      await loop.waitForLine(
        new RegExp(
          `Bridging: images built in docker \\S+ go to node (?:\\S+, )*${node}(?:, \\S+)* through the containerd socket ${ctr.socket}`,
        ),
      );
      // At start: the image the workload runs, which Docker has and the node lacks.
      await eventually(
        "v1 on the node",
        async () =>
          await criImageId(ctr.socket, `${repo}:v1`) === await podImageId(v1) || undefined,
      );

      // A new tag: on the node, under its normalised name, before the Deployment moves to it.
      const v2 = await buildOnBase(base, `${repo}:v2`);
      await waitForImages("Deployment", namespace, "web", { web: `${repo}:v2` });
      assert.equal(await criImageId(ctr.socket, `${repo}:v2`), await podImageId(v2));
      assert.ok(await containerdTarget(`docker.io/library/${repo}:v2`));

      // A rebuild of the same tag: the node holds the new ID before the pods roll.
      const rebuilt = await buildOnBase(base, `${repo}:v2`);
      const rolled = await eventually("the rebuild's rollout", async () => {
        const object = await getWorkload("Deployment", namespace, "web");
        const record = podTemplate(object).metadata?.annotations?.["veryfreshpod.io/image-ids"];
        return record?.includes(rebuilt) ? record : undefined;
      });
      assert.ok(rolled);
      assert.equal(await criImageId(ctr.socket, `${repo}:v2`), await podImageId(rebuilt));
      assert.ok(
        loop.lines.some((line) =>
          line.includes(`Copied docker.io/library/${repo}:v2 to node ${node}`)
        ),
        loop.lines.join("\n"),
      );
    } finally {
      await loop.stop();
      await kube.request("DELETE", `/api/v1/nodes/${node}`);
    }
  },
);

/**
 * Asserts that `node` holds `name` in namespace k8s.io with a target whose
 * config is Docker's image `id` (what the kubelet reports), unpacked with the
 * CRI plugin's snapshotter.
 */
async function assertNodeHolds(
  node: { name: string; ctr: (args: string[]) => Promise<string> },
  name: string,
  id: string,
): Promise<void> {
  const listed = await node.ctr(["--namespace", "k8s.io", "images", "ls", `name==${name}`]);
  const target = listed.match(new RegExp(`^${name}\\s+\\S+\\s+(sha256:[0-9a-f]{64})`, "m"))?.[1];
  assert.ok(target, `${node.name}: ${listed}`);
  const manifest = JSON.parse(await node.ctr(["--namespace", "k8s.io", "content", "get", target]));
  assert.equal(manifest.config.digest, await podImageId(id), node.name);
  const snapshots = await node.ctr([
    "--namespace",
    "k8s.io",
    "snapshots",
    "--snapshotter",
    "native",
    "ls",
  ]);
  assert.match(snapshots, /sha256:/, `${node.name}: unpacked with the CRI plugin's snapshotter`);
  // `ctr import --digests` alone adds an `import-<date>@sha256:…` name per import, which would
  // keep every rebuilt image on the node for ever.
  const all = await node.ctr(["--namespace", "k8s.io", "images", "ls", "--quiet"]);
  assert.doesNotMatch(all, /^import-/m, `${node.name}: ${all}`);
}

e2eTest(
  "run feeds every kind node container: a build lands in each node's own containerd under its normalised name; a node that cannot take it holds the patch back until it can",
  async () => {
    const [engine, kube] = await Promise.all([docker(), kubernetes()]);
    const suffix = unique();
    const cluster = `vfp-${suffix}`;
    const image = `vfp-kind-node:${suffix}`;
    await buildNodeImage(image);
    const [controlPlane, worker] = await Promise.all([
      startKindNode(`${cluster}-control-plane`, cluster, image),
      startKindNode(`${cluster}-worker`, cluster, image),
    ]);
    const nodes = [controlPlane, worker];
    const base = `vfp-bridge-base-${suffix}:v1`;
    await makeImage(base);
    const repo = `vfp-bridge-kind-${suffix}`;
    await buildOnBase(base, `${repo}:v1`);
    const namespace = await createNamespace("bridge-kind");
    await createWorkload(workloadObject("Deployment", namespace, "web", [
      { name: "web", image: `${repo}:v1`, imagePullPolicy: "IfNotPresent" },
    ]));
    for (const node of nodes) await registerNode(node.name, "containerd://1.6.20");
    const loop = await startLoop();
    try {
      for (const node of nodes) {
        await loop.waitForLine(
          new RegExp(
            `go to node ${node.name} by importing into its node container "${node.name}" \\(kind cluster "${cluster}"\\)`,
          ),
        );
      }
      // The image in use at start (v1) reaches each node first. Waited for before the next
      // build: once web runs v2, v1 is no longer in use and never copied. The start's copies
      // must also have ended before a node freezes below: an import under way then would hold
      // the next copy back for its own bound (ten minutes).
      for (const node of nodes) {
        await loop.waitForLine(
          new RegExp(`Copied docker\\.io/library/${repo}:v1 to node ${node.name}:`),
        );
      }
      const v2 = await buildOnBase(base, `${repo}:v2`);
      await waitForImages("Deployment", namespace, "web", { web: `${repo}:v2` }, 60_000);
      const name = `docker.io/library/${repo}:v2`;
      for (const node of nodes) {
        await assertNodeHolds(node, name, v2);
        assert.ok(
          loop.lines.some((line) => line.includes(`Copied ${name} to node ${node.name}`)),
          loop.lines.join("\n"),
        );
      }

      // One node cannot take the next build: nothing is patched (though the other node has
      // it), one line names the node and the cause, and the copy is retried until it works.
      await engine.run(["pause", worker.name]);
      const v3 = await buildOnBase(base, `${repo}:v3`);
      // A question to the node that was under way when it froze ends only at its own bound
      // (a minute, ContainerFeed): wait past that for the copy of v3 to be refused.
      const warning = await loop.waitForLine(
        new RegExp(`Cannot copy docker\\.io/library/${repo}:v3 to node ${worker.name}: .*paused`),
        180_000,
      );
      assert.match(warning, /nothing is patched until it is there, retrying in [\d.]+ s/);
      assert.deepEqual(
        imagesOf(await getWorkload("Deployment", namespace, "web")),
        { web: `${repo}:v2` },
        "nothing is patched while the image is not on every node",
      );
      await engine.run(["unpause", worker.name]);
      await waitForImages("Deployment", namespace, "web", { web: `${repo}:v3` }, 60_000);
      const v3Name = `docker.io/library/${repo}:v3`;
      for (const node of nodes) await assertNodeHolds(node, v3Name, v3);
      // Only what each node lacks: from an OCI-layout save (Docker 25 and later), the blobs a
      // node got with v1 and v2 (the base layer) stay out of v3's import.
      if (engineSet() === "today") {
        for (const node of nodes) {
          const copied = await loop.waitForLine(
            new RegExp(`Copied ${v3Name.replaceAll(".", "\\.")} to node ${node.name}:`),
          );
          assert.match(copied, /: \d+ blobs written, [1-9]\d* there already, /, copied);
        }
      }

      // The exec stream works over Docker's TLS listener too (minikube docker-env's kind).
      const tlsHost = resolveDockerHost(undefined, (variable) => engine.tlsEnv[variable]);
      const tlsClient = new DockerClient(tlsHost);
      try {
        const feed = new ContainerFeed(worker.name, worker.name, "kind cluster", tlsClient, {
          os: "linux",
          architecture: "amd64",
        });
        const signal = new AbortController().signal;
        const [v3Config, v2Config] = [await podImageId(v3), await podImageId(v2)];
        assert.equal(await feed.has({ name: v3Name, id: v3, configId: v3Config }, signal), true);
        assert.equal(await feed.has({ name: v3Name, id: v2, configId: v2Config }, signal), false);
      } finally {
        tlsClient.close();
      }
    } finally {
      await loop.stop();
      for (const node of nodes) {
        await kube.request("DELETE", `/api/v1/nodes/${node.name}`);
        await engine.run(["unpause", node.name]).catch(() => "");
        await engine.run(["rm", "--force", "--volumes", node.name]).catch(() => "");
      }
    }
  },
);

Deno.test("run --bridge takes auto, always or off; anything else is one usage line", async () => {
  const result = await runVeryfreshpod(["run", "--bridge=sometimes"]);
  assert.equal(result.code, 2, result.stderr);
  assert.match(
    result.stderr,
    /invalid value "sometimes" for --bridge: must be one of auto, always, off/,
  );
});

e2eTest(
  "on a real containerd node, a docker build of a new tag ends with the new pod Running that image, and a rebuild of the tag with a new pod on the new ID",
  async () => {
    const { containerdSocket } = await node();
    const suffix = unique();
    const base = `vfp-bridge-base-${suffix}:v1`;
    await makeImage(base);
    const repo = `vfp-bridge-pod-${suffix}`;
    const v1 = await buildOnBase(base, `${repo}:v1`);
    const namespace = await createNamespace("bridge-pod");
    const object = workloadObject("Deployment", namespace, "web", [
      { name: "app", image: `${repo}:v1`, imagePullPolicy: "IfNotPresent" },
    ]);
    const spec = podTemplate(object).spec;
    spec.containers[0].command = ["sleep", "1000000"];
    spec.terminationGracePeriodSeconds = 1;
    // Applied after the build, before veryfreshpod: only Docker has the image.
    await createWorkload(object);
    const loop = await startLoop([
      "--namespace",
      namespace,
      "--containerd-socket",
      containerdSocket,
    ]);
    try {
      // The image the workload references reaches the node without a load: the pod runs it.
      await waitForPodsOn(namespace, "app=web", await podImageId(v1));
      // A new tag: the Deployment moves to it and its new pod runs Docker's image.
      const v2 = await buildOnBase(base, `${repo}:v2`);
      await waitForImages("Deployment", namespace, "web", { app: `${repo}:v2` });
      await waitForPodsOn(namespace, "app=web", await podImageId(v2));
      // A rebuild of the same tag: a new pod on the new ID.
      const [before] = await listPods(namespace, "app=web");
      const rebuilt = await buildOnBase(base, `${repo}:v2`);
      const [after] = await waitForPodsOn(namespace, "app=web", await podImageId(rebuilt));
      assert.notEqual(after!.uid, before!.uid, "a new pod");
    } finally {
      await loop.stop();
    }
  },
);

e2eTest(
  "a node container that dies in the middle of an import is reported in words at once, not as a connection reset",
  async () => {
    const engine = await docker();
    const suffix = unique();
    const image = `vfp-kind-node:${suffix}`;
    await buildNodeImage(image);
    const node = await startKindNode(`vfp-${suffix}-dying`, `vfp-${suffix}`, image);
    // An image large enough that the import is still streaming when the node goes.
    const context = await Deno.makeTempDir({ prefix: "vfp-bridge-dying-" });
    const payload = new Uint8Array(64 << 20);
    for (let at = 0; at < payload.length; at += 65_536) {
      crypto.getRandomValues(payload.subarray(at, at + 65_536));
    }
    await Deno.writeFile(`${context}/payload`, payload);
    await Deno.writeTextFile(`${context}/Dockerfile`, "FROM scratch\nCOPY payload /payload\n");
    const ref = `vfp-bridge-dying-${suffix}:v1`;
    await engine.run(["build", "--quiet", "--tag", ref, context]);
    const id = await engine.run(["image", "inspect", "--format", "{{.Id}}", ref]);
    const client = new DockerClient(parseDockerHost(engine.host, "--docker-host"));
    try {
      const feed = new ContainerFeed(node.name, node.name, "kind cluster", client, {
        os: "linux",
        architecture: "amd64",
      });
      const signal = new AbortController().signal;
      const copying = feed.copy({ name: `docker.io/library/${ref}`, id }, signal);
      copying.catch(() => {});
      // Killed once `ctr images import` runs in the node (the archive is streaming into it).
      await eventually("the import running in the node", async () => {
        const processes = await engine.run(["top", node.name, "-o", "pid,args"]);
        return /ctr .*images import/.test(processes) || undefined;
      }, 60_000);
      await engine.run(["kill", node.name]);
      // Not a speed check: before, the copy waited minutes for a write nobody would read.
      let timer: ReturnType<typeof setTimeout> | undefined;
      const hung = new Promise<"hung">((resolve) => timer = setTimeout(resolve, 60_000, "hung"));
      const error = await Promise.race([copying.then(() => undefined, (error) => error), hung]);
      clearTimeout(timer);
      assert.notEqual(error, "hung", "the copy ended when the node did");
      assert.ok(error instanceof Error, "the copy failed");
      // Not the socket's own error (ctr's stderr may well speak of a reset: its words are fine).
      assert.doesNotMatch(error.message, /^Connection reset by peer|os error 104/);
      // ctr's exit and its stderr, or, when the feed tries the import again (the whole archive
      // after one without the blobs the node holds), Docker saying the container is gone.
      assert.match(error.message, /ctr images import exited with \d+|is not running/);
    } finally {
      client.close();
      await engine.run(["rm", "--force", "--volumes", node.name]).catch(() => "");
      await Deno.remove(context, { recursive: true });
    }
  },
);
