/**
 * Nodes for end-to-end tests of install: the test cluster has no kubelet, so a
 * test registers a Node object the way a kubelet would, with the runtime the
 * test needs in its status.
 */
import assert from "node:assert/strict";
import { kubernetes } from "../env/mod.ts";

/** Creates (or reuses) Node `name` and sets its nodeInfo. */
export async function registerNode(
  name: string,
  containerRuntimeVersion: string,
  architecture = "amd64",
): Promise<void> {
  const kube = await kubernetes();
  const created = await kube.request("POST", "/api/v1/nodes", {
    body: { apiVersion: "v1", kind: "Node", metadata: { name } },
  });
  assert.ok([201, 409].includes(created.status), JSON.stringify(created.body));
  const patched = await kube.request("PATCH", `/api/v1/nodes/${name}/status`, {
    body: {
      status: {
        nodeInfo: {
          containerRuntimeVersion,
          architecture,
          kubeletVersion: "v1.34.4",
          operatingSystem: "linux",
        },
      },
    },
    contentType: "application/merge-patch+json",
  });
  assert.equal(patched.status, 200, JSON.stringify(patched.body));
}
