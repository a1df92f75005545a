import assert from "node:assert/strict";
import { describeObject, resourceOf } from "./apply.ts";

Deno.test("objects are named the way kubectl names them", () => {
  const object = (apiVersion: string, kind: string) => ({
    apiVersion,
    kind,
    metadata: { name: "veryfreshpod" },
  });
  assert.equal(describeObject(object("v1", "Namespace")), "namespace/veryfreshpod");
  assert.equal(describeObject(object("apps/v1", "Deployment")), "deployment.apps/veryfreshpod");
  assert.equal(
    describeObject(object("rbac.authorization.k8s.io/v1", "ClusterRole")),
    "clusterrole.rbac.authorization.k8s.io/veryfreshpod",
  );
  assert.equal(resourceOf(object("v1", "ServiceAccount")), "serviceaccounts");
  assert.equal(
    resourceOf(object("rbac.authorization.k8s.io/v1", "ClusterRoleBinding")),
    "clusterrolebindings.rbac.authorization.k8s.io",
  );
});
