/**
 * `veryfreshpod restore` on the real node (tests/env/node.ts): after a day's
 * worth of new tags and a rebuild, moved by `veryfreshpod run` on the node's
 * containerd, restore puts the workload back on its original image, and the
 * new pod runs the original image ID; `kubectl diff -f` against the applied
 * manifest is clean; `--dry-run` changes nothing; `--to-last` goes back one
 * build; a container changed by hand is left alone; a running veryfreshpod,
 * and one restarted, does not move the restored workload until a new build.
 * Restore and status run with a ServiceAccount bound to exactly the
 * manifest's ClusterRole: restore needs no new permission.
 */
import assert from "node:assert/strict";
import {
  e2eTest,
  kubernetes,
  makeImage,
  makeImageOnNode,
  node,
  serviceAccountToken,
} from "./env/mod.ts";
import { kubeconfigWithToken } from "./helpers/kubeconfig.ts";
import { startLoop, startLoopOnNode, uniqueRepository, waitForImages } from "./helpers/loop.ts";
import { listPods, waitForPodsOn } from "./helpers/pods.ts";
import { runVeryfreshpod } from "./helpers/veryfreshpod_process.ts";
import {
  api,
  createNamespace,
  createWorkload,
  eventsIn,
  getWorkload,
  imagesOf,
  nodeWorkload,
  workloadObject,
} from "./helpers/workloads.ts";
import { renderObjects } from "../lib/install/manifest.ts";

/**
 * A kubeconfig of a ServiceAccount in `namespace` bound to a ClusterRole with
 * exactly the rules of the install manifest's.
 */
async function manifestRoleKubeconfig(namespace: string): Promise<string> {
  const role = renderObjects().find((o) => o.kind === "ClusterRole") as { rules: unknown };
  const name = `vfp-restore-${namespace}`;
  await api("POST", `/api/v1/namespaces/${namespace}/serviceaccounts`, { metadata: { name } });
  await api("POST", "/apis/rbac.authorization.k8s.io/v1/clusterroles", {
    metadata: { name },
    rules: role.rules,
  });
  await api("POST", "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", {
    metadata: { name },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
    subjects: [{ kind: "ServiceAccount", name, namespace }],
  });
  return await kubeconfigWithToken(await serviceAccountToken(namespace, name));
}

async function removeRole(namespace: string): Promise<void> {
  const name = `vfp-restore-${namespace}`;
  const kube = await kubernetes();
  for (const kind of ["clusterrolebindings", "clusterroles"]) {
    await kube.request("DELETE", `/apis/rbac.authorization.k8s.io/v1/${kind}/${name}`);
  }
}

/** `veryfreshpod restore` (or status) with `kubeconfig`; must succeed. */
async function vfp(kubeconfig: string, ...args: string[]) {
  const result = await runVeryfreshpod([args[0]!, "--kubeconfig", kubeconfig, ...args.slice(1)]);
  assert.equal(result.code, 0, `${args.join(" ")}: ${result.stderr}`);
  return result;
}

/** What tells whether a workload changed: its generation and veryfreshpod's annotations. */
async function state(namespace: string, name: string) {
  const object = await getWorkload("Deployment", namespace, name);
  return {
    generation: object.metadata.generation,
    image: object.spec.template.spec.containers[0].image,
    updates: object.metadata.annotations?.["veryfreshpod.io/updates"],
    restoredAt: object.metadata.annotations?.["veryfreshpod.io/restored-at"],
    imageIds: object.spec.template.metadata.annotations?.["veryfreshpod.io/image-ids"],
  };
}

/** Waits long enough for several of run's re-reads, then says the workload is as it was. */
async function assertStays(namespace: string, name: string, image: string): Promise<void> {
  await new Promise((resolve) => setTimeout(resolve, 4000)); // --resync-period 1
  assert.equal((await state(namespace, name)).image, image);
}

e2eTest(
  "restore: after new tags and a rebuild, restore brings the pod back to the original image ID; --dry-run changes nothing; --to-last goes back one build; a hand-edited container is left alone; run moves it again only on a new build",
  async () => {
    const { kubectl } = await node();
    const namespace = await createNamespace("restore");
    const repository = uniqueRepository("restore-app");
    const original = `${repository}:test`;
    const originalId = await makeImageOnNode(original);
    const manifests = await Deno.makeTempDir({ prefix: "vfp-restore-" });
    const manifest = (name: string) => `${manifests}/${name}.json`;
    const kubeconfig = await manifestRoleKubeconfig(namespace);
    try {
      // Applied the way users do, so that `kubectl diff -f` can compare with it later.
      for (const name of ["web", "side"]) {
        const object = nodeWorkload("Deployment", namespace, name, original, {
          command: ["sleep", "1000000"],
        });
        await Deno.writeTextFile(manifest(name), JSON.stringify(object));
        await kubectl(["apply", "-f", manifest(name)]);
      }
      await waitForPodsOn(namespace, "app=web", originalId);

      let loop = await startLoopOnNode(namespace);
      try {
        // A day of builds: a new tag, a rebuild of it, another new tag.
        await makeImageOnNode(`${repository}:v1`);
        await waitForImages("Deployment", namespace, "web", { app: `${repository}:v1` });
        const rebuiltV1 = await makeImageOnNode(`${repository}:v1`);
        await waitForPodsOn(namespace, "app=web", rebuiltV1);
        const v2 = await makeImageOnNode(`${repository}:v2`);
        await waitForImages("Deployment", namespace, "web", { app: `${repository}:v2` });
        await waitForImages("Deployment", namespace, "side", { app: `${repository}:v2` });
        await waitForPodsOn(namespace, "app=web", v2);
        // Someone sets side's image by hand.
        await kubectl(["-n", namespace, "set", "image", "deployment/side", `app=${repository}:v1`]);

        // status shows what restore would put back, in the table and in JSON.
        const status = JSON.parse(
          (await vfp(kubeconfig, "status", "-n", namespace, "-o", "json")).stdout,
        );
        assert.deepEqual(
          status.map((r: { name: string; original: string | null }) => [r.name, r.original]),
          [["side", null], ["web", original]],
        );
        const table = (await vfp(kubeconfig, "status", "-n", namespace)).stdout;
        assert.match(
          table,
          new RegExp(`deployment/web\\s+app\\s+${repository}:v2\\s+${original}\\s`),
        );

        // --dry-run says what it would do and changes nothing.
        const before = await state(namespace, "web");
        const dryRun = await vfp(kubeconfig, "restore", "-n", namespace, "--dry-run");
        assert.match(
          dryRun.stderr,
          new RegExp(
            `Would restore Deployment ${namespace}/web: container app ${repository}:v2 -> ${original}`,
          ),
        );
        assert.deepEqual(await state(namespace, "web"), before);

        // --to-last: back one build, to v1 as rebuilt.
        const last = await vfp(
          kubeconfig,
          "restore",
          "-n",
          namespace,
          "--to-last",
          "deployment/web",
        );
        assert.match(
          last.stderr,
          new RegExp(
            `Restored Deployment ${namespace}/web: container app ${repository}:v2 -> ${repository}:v1`,
          ),
        );
        await waitForPodsOn(namespace, "app=web", rebuiltV1);
        await assertStays(namespace, "web", `${repository}:v1`);

        // The whole restore: web back to the original; side left alone, in one line.
        const restore = await vfp(kubeconfig, "restore", "-n", namespace);
        const lines = restore.stderr.trim().split("\n");
        assert.equal(lines.length, 2, restore.stderr);
        assert.match(
          restore.stderr,
          new RegExp(
            `Restored Deployment ${namespace}/web: container app ${repository}:v1 -> ${original}`,
          ),
        );
        assert.match(
          restore.stderr,
          new RegExp(
            `Left Deployment ${namespace}/side container app alone: it runs ${repository}:v1, ` +
              `set by hand since veryfreshpod set ${repository}:v2`,
          ),
        );
        const [pod] = await waitForPodsOn(namespace, "app=web", originalId);
        assert.equal(pod!.image, original);
        const restored = await state(namespace, "web");
        assert.equal(restored.updates, undefined, "veryfreshpod's record is gone");
        assert.equal(restored.imageIds, undefined, "the rebuild annotation is gone");
        assert.ok(restored.restoredAt);
        assert.equal((await state(namespace, "side")).image, `${repository}:v1`);
        // Compared with what was applied, nothing differs (kubectl diff exits 1 otherwise).
        await kubectl(["diff", "-f", manifest("web")]);
        const events = (await eventsIn(namespace)).filter((e) => e.includes("ImageRestored"));
        assert.deepEqual(
          events.sort(),
          [
            `Deployment/web ImageRestored Restored by "veryfreshpod restore" --to-last: container ` +
            `app ${repository}:v2 -> ${repository}:v1`,
            `Deployment/web ImageRestored Restored by "veryfreshpod restore": container app ` +
            `${repository}:v1 -> ${original}`,
          ].sort(),
        );

        // A restore is not a build: the running veryfreshpod leaves web alone, and so does a
        // restarted one, though side's record still tells of the move to v2.
        await assertStays(namespace, "web", original);
        await loop.stop();
        loop = await startLoopOnNode(namespace);
        await assertStays(namespace, "web", original);
        assert.equal((await listPods(namespace, "app=web")).length, 1);

        // A new build moves it again.
        const v3 = await makeImageOnNode(`${repository}:v3`);
        await waitForImages("Deployment", namespace, "web", { app: `${repository}:v3` });
        await waitForPodsOn(namespace, "app=web", v3);
        const again = await vfp(kubeconfig, "restore", "-n", namespace, "deployment/web");
        assert.match(again.stderr, new RegExp(`container app ${repository}:v3 -> ${original}`));
        await waitForPodsOn(namespace, "app=web", originalId);
      } finally {
        await loop.stop();
      }
    } finally {
      await Deno.remove(manifests, { recursive: true });
      await Deno.remove(kubeconfig);
      await removeRole(namespace);
    }
  },
);

e2eTest(
  "restore with nothing of veryfreshpod's says so; a name it cannot find is one line",
  async () => {
    const kube = await kubernetes();
    const namespace = await createNamespace("restore-none");
    const nothing = await vfp(kube.kubeconfig, "restore", "-n", namespace);
    assert.match(nothing.stderr, /Nothing to restore/);
    const missing = await runVeryfreshpod([
      ...["restore", "--kubeconfig", kube.kubeconfig, "-n", namespace, "deployment/nope"],
    ]);
    assert.equal(missing.code, 2, missing.stderr);
    assert.equal(
      missing.stderr,
      `error: Found no deployment/nope in namespace "${namespace}"; check the name, or pass -n ` +
        "with its namespace\n",
    );
  },
);

e2eTest("restore puts a CronJob's job template back, initContainer included", async () => {
  const kube = await kubernetes();
  const namespace = await createNamespace("restore-cronjob");
  const repository = uniqueRepository("restore-job");
  const original = `${repository}:test`;
  await makeImage(original);
  await createWorkload(workloadObject("CronJob", namespace, "nightly", [
    { name: "job", image: original },
  ], { initContainers: [{ name: "init-job", image: original }] }));
  const loop = await startLoop(["--namespace", namespace]);
  try {
    await makeImage(`${repository}:v1`);
    await waitForImages("CronJob", namespace, "nightly", {
      "init-job": `${repository}:v1`,
      job: `${repository}:v1`,
    });
  } finally {
    await loop.stop();
  }
  const restore = await vfp(kube.kubeconfig, "restore", "-n", namespace, "cronjob/nightly");
  assert.match(
    restore.stderr,
    new RegExp(
      `Restored CronJob ${namespace}/nightly: initContainer init-job ${repository}:v1 -> ` +
        `${original}, container job ${repository}:v1 -> ${original}`,
    ),
  );
  const object = await getWorkload("CronJob", namespace, "nightly");
  assert.deepEqual(imagesOf(object), { "init-job": original, job: original });
  assert.equal(object.metadata.annotations?.["veryfreshpod.io/updates"], undefined);
});
