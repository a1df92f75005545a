/**
 * Each Docker image store, each way of building: what veryfreshpod records
 * and says must hold on both. Docker's containerd store (Docker 29's
 * default) names an image by its manifest or index digest and gives every tag
 * a repo digest; the classic store names it by its config digest and gives
 * repo digests only to pulled or pushed images (FACTS.md, "Today's engines").
 *
 * - Through the bridge to the real containerd node, a pod running the build
 *   counts as running it in `veryfreshpod status`: the record's config digest
 *   against the `imageID` the kubelet reports (like with like), for the
 *   classic builder (a manifest) and BuildKit (an index with an attestation
 *   manifest).
 * - The warning about `imagePullPolicy: Always` fires for a build or a load,
 *   which the node cannot pull, and not for an image pulled from a registry.
 *
 * Asserted on the cluster's state: the workload, its pods and their image
 * IDs, the Events, and `status` read from the cluster.
 */
import assert from "node:assert/strict";
import {
  type Docker,
  docker,
  e2eTest,
  kubernetes,
  makeImage,
  node,
  registry,
  saveImage,
} from "./env/mod.ts";
import { buildIn, dockerStores } from "./helpers/docker_stores.ts";
import { eventually } from "./helpers/eventually.ts";
import { startLoop, uniqueRepository, waitForImages } from "./helpers/loop.ts";
import { listPods } from "./helpers/pods.ts";
import { runVeryfreshpod } from "./helpers/veryfreshpod_process.ts";
import { api, createNamespace, createWorkload, nodeWorkload } from "./helpers/workloads.ts";

/** A runnable base image (busybox) in `daemon`, made in the test dockerd and loaded there. */
async function baseImage(daemon: Docker): Promise<string> {
  const base = `${uniqueRepository("vfp-stores-base")}:v1`;
  await makeImage(base);
  if (daemon.socket === (await docker()).socket) return base;
  const tarball = await saveImage(base);
  try {
    await daemon.run(["load", "-i", tarball]);
  } finally {
    await Deno.remove(tarball.slice(0, tarball.lastIndexOf("/")), { recursive: true });
  }
  return base;
}

/** `veryfreshpod status -o json -n namespace`, parsed. */
// deno-lint-ignore no-explicit-any
async function status(namespace: string): Promise<any[]> {
  const { kubeconfig } = await kubernetes();
  const result = await runVeryfreshpod([
    ...["status", "--kubeconfig", kubeconfig, "-n", namespace, "-o", "json"],
  ]);
  assert.equal(result.code, 0, result.stderr);
  return JSON.parse(result.stdout);
}

for (const { name: store, daemon: daemonOf } of dockerStores()) {
  for (const buildkit of [false, true]) {
    const builder = buildkit ? "BuildKit" : "the classic builder";
    e2eTest(
      `${store}, ${builder}, through the bridge: status counts the pod running the build`,
      async () => {
        const [daemon, { containerdSocket }] = await Promise.all([daemonOf(), node()]);
        const base = await baseImage(daemon);
        const repository = uniqueRepository("vfp-stores-app");
        await buildIn(daemon, `${repository}:v1`, { buildkit, from: base });
        const namespace = await createNamespace("stores");
        await createWorkload(
          nodeWorkload("Deployment", namespace, "web", `${repository}:v1`, {
            command: ["sleep", "1000000"],
          }),
        );
        await using loop = await startLoop(
          ["--namespace", namespace, "--containerd-socket", containerdSocket],
          { engineArgs: ["--docker-host", daemon.host] },
        );
        const id = await buildIn(daemon, `${repository}:v2`, { buildkit, from: base });
        await waitForImages("Deployment", namespace, "web", { app: `${repository}:v2` });
        await loop.waitForLine(/Rolled out Deployment .*\/web: 1\/1 pods? on/, 120_000);

        const [row, ...more] = await status(namespace);
        assert.deepEqual(more, []);
        assert.equal(row.image, `${repository}:v2`);
        assert.equal(row.id, id, "the record names Docker's own image ID");
        assert.equal(row.rollout.state, "done");
        // What the kubelet reports for the pod is one of the record's digests, and status agrees.
        const pods = (await listPods(namespace, "app=web")).filter((p) => !p.deleting);
        assert.equal(pods.length, 1, JSON.stringify(pods));
        const reported = pods[0]!.imageId.replace(/^.*[@]|^[a-z-]+:\/\//, "");
        assert.ok(
          reported === row.id || reported === row.configId,
          `the pod reports ${pods[0]!.imageId}; the record holds ${row.id} and ${row.configId}`,
        );
        assert.deepEqual(row.pods, { onImage: 1, total: 1 }, JSON.stringify(row));
      },
    );
  }

  e2eTest(
    `${store}: the Always-pull warning fires for a build and a load, not for a pull from the registry`,
    async () => {
      const daemon = await daemonOf();
      const base = await baseImage(daemon);
      const namespace = await createNamespace("stores-pull");
      const built = uniqueRepository("vfp-stores-built");
      const loaded = uniqueRepository("vfp-stores-loaded");
      const remote = `${(await registry()).address}/${uniqueRepository("vfp-stores-pulled")}`;
      await buildIn(daemon, `${built}:v1`, { buildkit: false, from: base });
      await buildIn(daemon, `${loaded}:v1`, { buildkit: false, from: base });
      // What `buildx build --load` with another driver does: a load, which names no tags in
      // its event, so only the read of the image list can tell where the image came from.
      const tarball = `${await Deno.makeTempDir({ prefix: "vfp-stores-load-" })}/image.tar`;
      await buildIn(daemon, `${loaded}:v2`, { buildkit: false, from: base });
      await daemon.run(["save", "-o", tarball, `${loaded}:v2`]);
      await daemon.run(["rmi", `${loaded}:v2`]);
      // v1 and v2 of the remote repository exist only in the registry until pulled.
      for (const tag of ["v1", "v2"]) {
        await buildIn(daemon, `${remote}:${tag}`, { buildkit: false, from: base });
        await daemon.run(["push", "--quiet", `${remote}:${tag}`]);
        await daemon.run(["rmi", `${remote}:${tag}`]);
      }
      await daemon.run(["pull", "--quiet", `${remote}:v1`]);
      const workloads = { built: built, loaded: loaded, pulled: remote };
      for (const [name, repository] of Object.entries(workloads)) {
        await createWorkload(
          nodeWorkload("Deployment", namespace, name, `${repository}:v1`, {
            command: ["true"],
            pullPolicy: "Always",
          }),
        );
      }
      await using loop = await startLoop(["--namespace", namespace], {
        engineArgs: ["--docker-host", daemon.host],
      });
      await buildIn(daemon, `${built}:v2`, { buildkit: false, from: base });
      await daemon.run(["load", "--quiet", "-i", tarball]);
      await Deno.remove(tarball.slice(0, tarball.lastIndexOf("/")), { recursive: true });
      await daemon.run(["pull", "--quiet", `${remote}:v2`]);
      for (const [name, repository] of Object.entries(workloads)) {
        await waitForImages("Deployment", namespace, name, { app: `${repository}:v2` });
      }

      const updated = await eventually("the three ImageUpdated Events", async () => {
        const list = await api("GET", `/api/v1/namespaces/${namespace}/events`);
        // deno-lint-ignore no-explicit-any
        const events = list.items.filter((e: any) => e.reason === "ImageUpdated");
        return events.length >= 3 ? events : undefined;
      });
      // deno-lint-ignore no-explicit-any
      const on = (name: string) => updated.filter((e: any) => e.involvedObject.name === name);
      for (const local of ["built", "loaded"]) {
        assert.equal(on(local).length, 1, JSON.stringify(updated));
        assert.equal(on(local)[0].type, "Warning", `${local}: ${on(local)[0].message}`);
        assert.match(on(local)[0].message, /imagePullPolicy Always/);
      }
      assert.equal(on("pulled").length, 1, JSON.stringify(updated));
      assert.equal(on("pulled")[0].type, "Normal", on("pulled")[0].message);
      assert.doesNotMatch(on("pulled")[0].message, /imagePullPolicy/);
      const warnings = loop.lines.filter((line) => /imagePullPolicy Always/.test(line));
      assert.equal(warnings.length, 2, warnings.join("\n"));
      assert.ok(!warnings.some((line) => line.includes("/pulled")), warnings.join("\n"));
    },
  );
}
