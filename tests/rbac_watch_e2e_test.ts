/**
 * The watch loop under a service account that may not read every kind, against
 * the real API server and its RBAC authorizer: it starts without the kind,
 * says so once, and picks it up when the permission arrives.
 */
import assert from "node:assert/strict";
import { kubeconfigWithToken } from "./helpers/kubeconfig.ts";
import { e2eTest, makeImage, serviceAccountToken } from "./env/mod.ts";
import { buildAndTag, startLoop, uniqueRepository, waitForImages } from "./helpers/loop.ts";
import { api, createNamespace, createWorkload, workloadObject } from "./helpers/workloads.ts";

const WORKLOAD_RULE = {
  apiGroups: ["apps"],
  resources: ["deployments", "statefulsets", "daemonsets"],
  verbs: ["get", "list", "watch", "patch"],
};
const EVENTS_RULE = { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] };
// As the install manifest grants: a rollout, a CronJob's Job too, is followed on its pods.
const PODS_RULE = { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] };
// As the install manifest grants (there a Role in kube-public): the cluster's registry, if any.
const REGISTRY_RULE = {
  apiGroups: [""],
  resources: ["configmaps"],
  resourceNames: ["local-registry-hosting"],
  verbs: ["get"],
};
const CRONJOBS_RULE = {
  apiGroups: ["batch"],
  resources: ["cronjobs"],
  verbs: ["get", "list", "watch", "patch"],
};

/** A ClusterRole with `rules`, bound to the service account; resolves to a remover. */
async function grant(
  name: string,
  rules: unknown[],
  subject: { namespace: string; name: string },
): Promise<() => Promise<void>> {
  const rbac = "/apis/rbac.authorization.k8s.io/v1";
  await api("POST", `${rbac}/clusterroles`, { metadata: { name }, rules });
  await api("POST", `${rbac}/clusterrolebindings`, {
    metadata: { name },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
    subjects: [{ kind: "ServiceAccount", ...subject }],
  });
  return async () => {
    await api("DELETE", `${rbac}/clusterrolebindings/${name}`);
    await api("DELETE", `${rbac}/clusterroles/${name}`);
  };
}

e2eTest(
  "a kind the service account may not list does not hold up the start, and is picked up once granted",
  async () => {
    const ns = await createNamespace("rbac-watch");
    const account = { namespace: ns, name: "limited" };
    await api("POST", `/api/v1/namespaces/${ns}/serviceaccounts`, {
      metadata: { name: "limited" },
    });
    const revokers = [
      await grant(
        `${ns}-workloads`,
        [WORKLOAD_RULE, EVENTS_RULE, PODS_RULE, REGISTRY_RULE],
        account,
      ),
    ];
    const kubeconfig = await kubeconfigWithToken(await serviceAccountToken(ns, "limited"));
    try {
      const repo = uniqueRepository("vfp-rbac-job");
      await makeImage(`${repo}:v1`);
      await createWorkload(workloadObject("CronJob", ns, "nightly", [
        { name: "app", image: `${repo}:v1`, imagePullPolicy: "IfNotPresent" },
      ]));

      // Without the cronjobs permission it starts (startLoop waits for "Tracking N workloads").
      await using loop = await startLoop(["-n", ns], { kubeconfig });
      const refused =
        /refused to list cronjobs\.batch in namespace ".*" \(403 Forbidden\).*going on without CronJobs; trying again in the background/;
      await loop.waitForLine(refused, 10_000);

      revokers.push(await grant(`${ns}-cronjobs`, [CRONJOBS_RULE], account));
      await loop.waitForLine(/Can read cronjobs\.batch again: tracking 1 CronJob/, 60_000);
      // Once tracked, a new tag of its repository updates it: the cluster's own state says so.
      await buildAndTag(`${repo}:v2`);
      await waitForImages("CronJob", ns, "nightly", { app: `${repo}:v2` });

      const log = loop.lines.join("\n");
      assert.equal(loop.lines.filter((line) => refused.test(line)).length, 1, log);
      // Nothing else was refused: the other kinds were read from the start.
      assert.equal(loop.lines.filter((line) => /\b403\b|forbidden/i.test(line)).length, 1, log);
    } finally {
      for (const revoke of revokers) await revoke();
      await Deno.remove(kubeconfig);
    }
  },
);
