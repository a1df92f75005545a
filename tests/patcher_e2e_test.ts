/**
 * The patcher against the real API server: a conflicting writer leads to a
 * fresh plan, not an overwrite; a missing permission is one clear line; a
 * deleted workload is dropped.
 */
import assert from "node:assert/strict";
import { e2eTest, kubernetes, serviceAccountToken } from "./env/mod.ts";
import {
  api,
  createNamespace,
  createWorkload,
  eventsIn,
  getWorkload,
  imagesOf,
} from "./helpers/workloads.ts";
import { workloadObject } from "./helpers/workloads.ts";
import { loadKubeConfig } from "../lib/kube/config.ts";
import { KubeClient } from "../lib/kube/rest.ts";
import { EventRecorder } from "../lib/kube/events.ts";
import { realClock } from "../lib/util/clock.ts";
import { PatchQueue } from "../lib/kube/patch_queue.ts";
import { WorkloadPatcher } from "../lib/kube/patcher.ts";
import { captureLogs } from "../lib/testing/log_capture.ts";
import type { WorkloadUpdate } from "../lib/model/plan_types.ts";

/** The patcher behind the queue that retries it, as the controller uses it. */
async function patcherFor(kubeconfig: string): Promise<PatchQueue & Disposable> {
  const client = await KubeClient.create(loadKubeConfig({ kubeconfig, env: () => undefined }));
  const patcher = new WorkloadPatcher(client, new EventRecorder(client, "test"), {
    dryRun: false,
  });
  const queue = new PatchQueue((update) => patcher.attempt(update), realClock, {
    concurrency: 2,
  });
  return Object.assign(queue, { [Symbol.dispose]: () => client.close() });
}

function update(namespace: string, resourceVersion: string): WorkloadUpdate {
  return {
    workload: { kind: "Deployment", namespace, name: "web" },
    resourceVersion,
    imageUpdates: [{ container: "app", init: false, from: "conflict:v1", to: "conflict:v2" }],
    rebuilds: [],
    rolloutAnnotation: undefined,
    warnings: [],
  };
}

e2eTest("a patch that conflicts with another writer is planned again, not forced", async () => {
  const kube = await kubernetes();
  const ns = await createNamespace();
  const created = await createWorkload(
    workloadObject("Deployment", ns, "web", [{ name: "app", image: "conflict:v1" }]),
  );
  // Someone else changes the workload after veryfreshpod read it.
  await api(
    "PATCH",
    `/apis/apps/v1/namespaces/${ns}/deployments/web`,
    { metadata: { labels: { edited: "yes" } } },
    "application/merge-patch+json",
  );
  using patcher = await patcherFor(kube.kubeconfig);
  const replanned: string[] = [];
  const result = await patcher.apply(
    update(ns, created.metadata.resourceVersion),
    async (key) => {
      replanned.push(key.name);
      const fresh = await getWorkload("Deployment", ns, "web");
      return update(ns, fresh.metadata.resourceVersion);
    },
  );
  assert.equal(result, "applied");
  // At least once: the controller-manager's status updates may conflict again.
  assert.ok(replanned.length >= 1 && replanned.every((name) => name === "web"), "planned again");
  const now = await getWorkload("Deployment", ns, "web");
  assert.equal(imagesOf(now).app, "conflict:v2");
  assert.equal(now.metadata.labels.edited, "yes", "the other writer's change is kept");
  // The Event is recorded after the patch, by the time the queue is idle.
  await patcher.idle();
  const events = await eventsIn(ns);
  assert.ok(events.some((e) => e.startsWith("Deployment/web ImageUpdated")), events.join("; "));
});

e2eTest(
  "a patch without permission is one clear line, and a deleted workload is dropped",
  async () => {
    const kube = await kubernetes();
    const ns = await createNamespace();
    const created = await createWorkload(
      workloadObject("Deployment", ns, "web", [{ name: "app", image: "conflict:v1" }]),
    );
    await api("POST", `/api/v1/namespaces/${ns}/serviceaccounts`, { metadata: { name: "reader" } });
    await api("POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/roles`, {
      metadata: { name: "reader" },
      rules: [{ apiGroups: ["apps"], resources: ["deployments"], verbs: ["get", "list", "watch"] }],
    });
    await api("POST", `/apis/rbac.authorization.k8s.io/v1/namespaces/${ns}/rolebindings`, {
      metadata: { name: "reader" },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "reader" },
      subjects: [{ kind: "ServiceAccount", name: "reader", namespace: ns }],
    });
    const admin = JSON.parse(await Deno.readTextFile(kube.kubeconfig));
    admin.users[0].user.token = await serviceAccountToken(ns, "reader");
    const kubeconfig = await Deno.makeTempFile({ suffix: ".kubeconfig" });
    await Deno.writeTextFile(kubeconfig, JSON.stringify(admin));
    using logs = captureLogs("info");
    const lines = logs.lines;
    try {
      using patcher = await patcherFor(kubeconfig);
      const result = await patcher.apply(
        update(ns, created.metadata.resourceVersion),
        () => Promise.resolve(undefined),
      );
      assert.equal(result, "forbidden");
      assert.equal(imagesOf(await getWorkload("Deployment", ns, "web")).app, "conflict:v1");
      const refused = lines.filter((line) => line.includes("refused"));
      assert.equal(refused.length, 1, lines.join(""));
      assert.match(
        refused[0]!,
        new RegExp(
          `ERROR Kubernetes refused to patch deployments.apps in namespace "${ns}" \\(403 Forbidden\\)`,
        ),
      );

      using admins = await patcherFor(kube.kubeconfig);
      const gone = await admins.apply(
        { ...update(ns, "1"), workload: { kind: "Deployment", namespace: ns, name: "never-was" } },
        () => Promise.resolve(undefined),
      );
      assert.equal(gone, "gone");
    } finally {
      await Deno.remove(kubeconfig);
    }
  },
);
