import assert from "node:assert/strict";
import { diagnosePod } from "../rollout/pod_diagnosis.ts";
import { problemText } from "../rollout/report.ts";
import type { Pod } from "../rollout/objects.ts";
import { registryPullHint, setRegistryPullHelp } from "./pull_help.ts";

const DIGEST = `sha256:${"d".repeat(64)}`;

function pullingPod(image: string): Pod {
  return {
    metadata: { name: "web-1", namespace: "dev" },
    spec: { nodeName: "vfp-node-2", containers: [{ name: "app", image }] },
    status: {
      phase: "Pending",
      containerStatuses: [{
        name: "app",
        image,
        ready: false,
        restartCount: 0,
        state: { waiting: { reason: "ErrImagePull", message: "connection refused" } },
      }],
    },
  } as unknown as Pod;
}

Deno.test("a node that cannot pull from the cluster's registry: the line names the node, the image and the help", () => {
  setRegistryPullHelp("kind-registry:5000", "https://kind.sigs.k8s.io/docs/user/local-registry/");
  const image = `kind-registry:5000/app:v2@${DIGEST}`;
  const problem = diagnosePod(pullingPod(image), Date.now());
  assert.ok(problem);
  assert.equal(
    problemText(problem),
    `pod web-1 container app: ErrImagePull, cannot pull ${image}: connection refused; node ` +
      "vfp-node-2 cannot pull it from the cluster's registry kind-registry:5000: check that the " +
      "nodes reach it under that name and may pull from it " +
      "(https://kind.sigs.k8s.io/docs/user/local-registry/)",
  );
  // Other registries keep the usual hint.
  assert.equal(registryPullHint("other.example.com/app:v2", "n"), undefined);
});
