/**
 * veryfreshpod's own image imported into the real containerd of the test
 * environment (CRI plugin on, namespace `k8s.io`, as on a node): listed,
 * complete, runnable with `ctr run`, found by the CRI plugin under the name
 * the kubelet asks for, and a second import that changes nothing; then a
 * whole `veryfreshpod install` on a Node that reports containerd.
 *
 * The images are built from busybox, a static executable that runs `echo`
 * by its arguments (tests/env/prepare.ts installs it; without it these tests
 * fail).
 */
import assert from "node:assert/strict";
import { containerd, e2eTest, kubernetes } from "./env/mod.ts";
import { criImageStatus } from "./helpers/cri.ts";
import { runVeryfreshpod } from "./helpers/veryfreshpod_process.ts";
import { ContainerdWriter } from "../lib/engine/containerd_writer.ts";
import { ensureContainerdImage } from "../lib/install/containerd_image.ts";
import { ROOTFS_LABEL } from "../lib/install/image.ts";
import { buildRootfs } from "../lib/install/rootfs.ts";
import { VERSION } from "../lib/util/version.ts";
import { busyboxPath } from "./env/paths.ts";
import { registerNode } from "./helpers/nodes.ts";

// Static, so the image needs no libraries; tests/env/prepare.ts installs it.
const BUSYBOX = busyboxPath;

e2eTest(
  "an image built from busybox imports into containerd complete, runs with ctr, and imports only once",
  async () => {
    const ctr = await containerd();
    const reference = `vfp-import-busybox:${Date.now().toString(36)}`;
    const name = `docker.io/library/${reference}`;
    const rootfs = buildRootfs({ executable: BUSYBOX, name: "busybox" });
    const options = { architecture: rootfs.architecture ?? "amd64", labels: { a: "b" } };
    const client = new ContainerdWriter(ctr.socket, ctr.namespace);
    try {
      const first = await ensureContainerdImage(client, rootfs, reference, options);
      assert.deepEqual({ name: first.name, imported: first.imported }, { name, imported: true });

      const listed = await ctr.ctr(["images", "ls", `name==${name}`]);
      assert.match(
        listed,
        new RegExp(`^${name}\\s+\\S+oci\\.image\\.manifest\\S+\\s+${first.digest}`, "m"),
      );
      assert.match(listed, new RegExp(`${ROOTFS_LABEL}=sha256:`));
      // The import's lease is gone, and a garbage collection (a lease deleted with --sync
      // runs one) keeps every blob: the manifest's GC labels hold the config and the layer.
      assert.doesNotMatch(await ctr.ctr(["leases", "ls"]), /veryfreshpod-/);
      const gcLease = `vfp-gc-${Date.now().toString(36)}`;
      await ctr.ctr(["leases", "create", "--id", gcLease]);
      await ctr.ctr(["leases", "rm", "--sync", gcLease]);
      const check = await ctr.ctr(["images", "check", `name==${name}`]);
      // The manifest's children: the config and the one layer.
      assert.match(check, /complete \(2\/2\)/, check);

      // Without arguments, the config's entrypoint runs: busybox says who it is. (Arguments
      // to `ctr run` replace the whole command line, entrypoint included.)
      const suffix = Date.now().toString(36);
      const banner = await ctr.ctr(["run", "--rm", name, `vfp-import-a-${suffix}`]);
      assert.match(banner, /^BusyBox v\d/);
      const output = await ctr.ctr([
        ...["run", "--rm", name, `vfp-import-b-${suffix}`],
        ...["/usr/local/bin/busybox", "echo", "hi from containerd"],
      ]);
      assert.equal(output.trim(), "hi from containerd");
      const unpacked = await ctr.ctr(["images", "check", `name==${name}`]);
      assert.match(unpacked, /complete \(2\/2\).* true\s*$/m, unpacked);

      // The kubelet asks for the short name; the CRI plugin normalises it and finds the image.
      const status = await criImageStatus(ctr.socket, reference);
      assert.ok(status !== null && status.id.startsWith("sha256:"), JSON.stringify(status));
      assert.ok(status.repoTags.includes(name), JSON.stringify(status));

      const second = await ensureContainerdImage(client, rootfs, reference, options);
      assert.deepEqual(second, { ...first, imported: false });
      assert.equal(await ctr.ctr(["images", "ls", `name==${name}`]), listed);
    } finally {
      client.close();
    }
  },
);

const NODE = "vfp-containerd-node";

e2eTest(
  "install on a node that runs containerd imports its image into that containerd, once",
  async () => {
    const [kube, ctr] = await Promise.all([kubernetes(), containerd()]);
    const architecture = buildRootfs({ executable: BUSYBOX }).architecture ?? "amd64";
    await registerNode(NODE, "containerd://1.6.20", architecture);
    const install = (...extra: string[]) =>
      runVeryfreshpod([
        ...["install", "--kubeconfig", kube.kubeconfig, "--socket", ctr.socket],
        ...["--executable", BUSYBOX, ...extra],
      ]);
    const name = `docker.io/library/veryfreshpod:${VERSION}`;
    try {
      const first = await install();
      assert.equal(first.code, 0, first.stderr);
      assert.ok(
        first.stdout.includes(
          `Node "${NODE}" runs containerd://1.6.20: mounting its socket ${ctr.socket}`,
        ),
        first.stdout,
      );
      const imported = `: imported into containerd at ${ctr.socket} (namespace k8s.io) as ${name}`;
      assert.ok(first.stdout.includes(imported), first.stdout);

      assert.match(await ctr.ctr(["images", "check", `name==${name}`]), /complete \(2\/2\)/);
      const status = await criImageStatus(ctr.socket, `veryfreshpod:${VERSION}`);
      assert.ok(status?.repoTags.includes(name), JSON.stringify(status));

      const deployment = (await kube.request(
        "GET",
        "/apis/apps/v1/namespaces/veryfreshpod/deployments/veryfreshpod",
      )).body;
      const pod = deployment.spec.template.spec;
      assert.equal(pod.containers[0].image, `veryfreshpod:${VERSION}`);
      assert.equal(pod.containers[0].imagePullPolicy, "Never");
      assert.ok(pod.containers[0].args.includes("--runtime=containerd"), pod.containers[0].args);
      const socketVolume = pod.volumes.find((v: { name: string }) => v.name === "engine-socket");
      assert.equal(socketVolume.hostPath.path, ctr.socket);

      const listed = await ctr.ctr(["images", "ls", `name==${name}`]);
      const second = await install();
      assert.equal(second.code, 0, second.stderr);
      assert.ok(second.stdout.includes(": unchanged in containerd at "), second.stdout);
      const dryRun = await install("--dry-run");
      assert.equal(dryRun.code, 0, dryRun.stderr);
      assert.match(dryRun.stdout, /: unchanged in containerd at .* \(dry run\)$/m);
      assert.equal(await ctr.ctr(["images", "ls", `name==${name}`]), listed);
    } finally {
      const removed = await runVeryfreshpod(["uninstall", "--kubeconfig", kube.kubeconfig]);
      assert.equal(removed.code, 0, removed.stderr);
      await kube.request("DELETE", `/api/v1/nodes/${NODE}`);
    }
  },
);

e2eTest("install on a containerd node says in one line when the socket is not there", async () => {
  const kube = await kubernetes();
  const result = await runVeryfreshpod([
    ...["install", "--kubeconfig", kube.kubeconfig, "--runtime", "containerd"],
    ...["--socket", "/nonexistent/containerd.sock", "--executable", Deno.execPath()],
  ]);
  assert.equal(result.code, 3, result.stderr);
  assert.match(
    result.stderr,
    /^error: Cannot connect to the containerd socket "\/nonexistent\/containerd\.sock": no such file; .*--socket.*run it as root on the node, or pass --image\n$/,
  );
});
