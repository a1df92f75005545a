/**
 * The outcome users care about, on a real node (tests/env/node.ts): after an
 * image appears in the node's containerd, veryfreshpod (`run --runtime
 * containerd` on the node's socket) changes the workload and the new pods run
 * the new image. Asserted on the cluster's state: the pods the kubelet runs,
 * their `containerStatuses[].imageID` (the image's config digest, which
 * `makeImageOnNode` returns), the old pods gone, and
 * the Events veryfreshpod records.
 */
import assert from "node:assert/strict";
import { e2eTest, importIntoContainerd, makeImageOnNode, node } from "./env/mod.ts";
import { startLoopOnNode, uniqueRepository, waitForImages } from "./helpers/loop.ts";
import { eventually } from "./helpers/eventually.ts";
import { listPods, waitForPodsOn, waitForWaitingPod } from "./helpers/pods.ts";
import {
  createNamespace,
  createWorkload,
  eventsIn,
  getWorkload,
  nodeWorkload,
} from "./helpers/workloads.ts";
import type { WorkloadKind } from "../lib/model/workload.ts";

/** A workload of `kind` whose one container runs `image` and keeps running. */
function runningWorkload(
  kind: WorkloadKind,
  namespace: string,
  name: string,
  image: string,
  pullPolicy = "IfNotPresent",
) {
  return nodeWorkload(kind, namespace, name, image, { command: ["sleep", "1000000"], pullPolicy });
}

e2eTest("node: a new tag imported into the node: the new pod runs the new image", async () => {
  await node();
  const namespace = await createNamespace("node-tag");
  const repository = uniqueRepository("node-app");
  const v1 = await makeImageOnNode(`${repository}:v1`);
  await createWorkload(runningWorkload("Deployment", namespace, "web", `${repository}:v1`));
  const [first] = await waitForPodsOn(namespace, "app=web", v1);

  await using _loop = await startLoopOnNode(namespace);
  const v2 = await makeImageOnNode(`${repository}:v2`);
  await waitForImages("Deployment", namespace, "web", { app: `${repository}:v2` });
  const [second] = await waitForPodsOn(namespace, "app=web", v2);
  assert.equal(second!.image, `${repository}:v2`);
  assert.notEqual(second!.uid, first!.uid);
  assert.notEqual(v2, v1);
});

e2eTest(
  "node: the same tag rebuilt: a new pod runs the new ID; a re-read rolls nothing",
  async () => {
    await node();
    const namespace = await createNamespace("node-rebuild");
    const repository = uniqueRepository("node-app");
    const ref = `${repository}:dev`;
    const old = await makeImageOnNode(ref);
    await createWorkload(runningWorkload("Deployment", namespace, "web", ref));
    const [first] = await waitForPodsOn(namespace, "app=web", old);
    const sentinelRepository = uniqueRepository("node-sentinel");
    await makeImageOnNode(`${sentinelRepository}:v1`);
    await createWorkload(
      runningWorkload("Deployment", namespace, "sentinel", `${sentinelRepository}:v1`),
    );

    await using _loop = await startLoopOnNode(namespace);
    const rebuilt = await makeImageOnNode(ref);
    assert.notEqual(rebuilt, old);
    const [second] = await waitForPodsOn(namespace, "app=web", rebuilt);
    assert.notEqual(second!.uid, first!.uid);
    assert.equal(second!.image, ref, "a rebuild keeps the reference");
    const rolled = await getWorkload("Deployment", namespace, "web");

    // The same image imported again: an event and a re-read with nothing new. A change
    // of another repository afterwards proves that re-read was done before we look.
    await importIntoContainerd(ref);
    await makeImageOnNode(`${sentinelRepository}:v2`);
    await waitForImages("Deployment", namespace, "sentinel", { app: `${sentinelRepository}:v2` });
    const after = await getWorkload("Deployment", namespace, "web");
    assert.equal(after.metadata.generation, rolled.metadata.generation);
    assert.deepEqual(
      after.spec.template.metadata.annotations,
      rolled.spec.template.metadata.annotations,
    );
    const pods = await listPods(namespace, "app=web");
    assert.deepEqual(pods.map((pod) => pod.uid), [second!.uid]);
  },
);

e2eTest(
  "node: a Deployment, a StatefulSet, a DaemonSet and a CronJob's next Job run the new image",
  async () => {
    const { kubectl } = await node();
    const namespace = await createNamespace("node-kinds");
    const repository = uniqueRepository("node-app");
    const v1 = await makeImageOnNode(`${repository}:v1`);
    const kinds = ["Deployment", "StatefulSet", "DaemonSet"] as const;
    for (const kind of kinds) {
      await createWorkload(
        runningWorkload(kind, namespace, kind.toLowerCase(), `${repository}:v1`),
      );
    }
    await createWorkload(runningWorkload("CronJob", namespace, "cronjob", `${repository}:v1`));
    for (const kind of kinds) await waitForPodsOn(namespace, `app=${kind.toLowerCase()}`, v1);

    await using _loop = await startLoopOnNode(namespace);
    const v2 = await makeImageOnNode(`${repository}:v2`);
    for (const kind of [...kinds, "CronJob" as const]) {
      await waitForImages(kind, namespace, kind.toLowerCase(), { app: `${repository}:v2` });
    }
    for (const kind of kinds) {
      const pods = await waitForPodsOn(namespace, `app=${kind.toLowerCase()}`, v2);
      assert.equal(pods[0]!.image, `${repository}:v2`, kind);
    }
    // The CronJob's next Job, made from its jobTemplate as the schedule would.
    await kubectl(["-n", namespace, "create", "job", "next", "--from=cronjob/cronjob"]);
    const [job] = await waitForPodsOn(namespace, "job-name=next", v2);
    assert.equal(job!.image, `${repository}:v2`);
  },
);

e2eTest(
  "node: imagePullPolicy Always on a local-only image: the pod cannot pull, and the warning says so",
  async () => {
    await node();
    const namespace = await createNamespace("node-always");
    const repository = uniqueRepository("node-app");
    await makeImageOnNode(`${repository}:v1`);
    await createWorkload(
      runningWorkload("Deployment", namespace, "web", `${repository}:v1`, "Always"),
    );

    await using loop = await startLoopOnNode(namespace);
    await makeImageOnNode(`${repository}:v2`);
    const warning = await loop.waitForLine(/web.*imagePullPolicy Always.*exists only on this node/);
    assert.match(warning, new RegExp(`${repository}:v2`));
    await waitForImages("Deployment", namespace, "web", { app: `${repository}:v2` });
    // What the warning predicts: the kubelet tries to pull it, and fails.
    const pod = await waitForWaitingPod(namespace, "app=web", `${repository}:v2`, [
      "ErrImagePull",
      "ImagePullBackOff",
    ]);
    assert.equal(pod.phase, "Pending");
    const events = await eventually(
      "the Warning Event",
      async () =>
        (await eventsIn(namespace)).find((event) =>
          event.startsWith("Deployment/web ImageUpdated") && /imagePullPolicy Always/.test(event)
        ),
    );
    assert.match(events, /exists only on this node/);
  },
);
