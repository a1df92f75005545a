/**
 * How each rollout ends, on the real node (tests/env/node.ts): veryfreshpod
 * follows the rollout it started and says so in one line, records a
 * RolloutFailed Event for a failure, and `veryfreshpod status` tells the same
 * from the cluster alone. Asserted on the cluster's state (the workload's
 * status, the pods the kubelet runs and their image IDs, the Events), not only
 * on log text.
 */
import assert from "node:assert/strict";
import { e2eTest, makeImage, makeImageOnNode, node } from "./env/mod.ts";
import { eventually } from "./helpers/eventually.ts";
import { startLoop, startLoopOnNode, uniqueRepository } from "./helpers/loop.ts";
import { listPods, waitForPodsOn } from "./helpers/pods.ts";
import { statusRows, statusTable } from "./helpers/status_output.ts";
import {
  api,
  createNamespace,
  createWorkload,
  eventsIn,
  getWorkload,
  nodeWorkload,
} from "./helpers/workloads.ts";

/** The program of the test images: a script the workload runs. */
const GOOD = 'echo "web starting"\nexec sleep 1000000\n';
// Both lines on stderr: stdout and stderr reach the log through two pipes, in either order.
const CRASHING = 'echo "loading /etc/app.conf" >&2\necho "error: cannot open /etc/app.conf" >&2\n' +
  "exit 1\n";

/** A new image `ref` whose program is `script`, in the test dockerd; returns its ID. */
function build(ref: string, script: string): Promise<string> {
  return makeImage(ref, { "app/start.sh": script });
}

/** Builds `ref` and imports it into the node's containerd; returns what its pods report (the config digest). */
function buildOnNode(ref: string, script: string): Promise<string> {
  return makeImageOnNode(ref, { "app/start.sh": script });
}

/** A Deployment of `replicas` pods whose container `app` runs the image's program. */
function deployment(
  namespace: string,
  image: string,
  options: { replicas?: number; pullPolicy?: string } = {},
) {
  return nodeWorkload("Deployment", namespace, "web", image, {
    command: ["sh", "/app/start.sh"],
    replicas: options.replicas ?? 1,
    ...(options.pullPolicy === undefined ? {} : { pullPolicy: options.pullPolicy }),
  });
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");

e2eTest(
  "rollout: a good build is one line, 'Rolled out … in N s', and a complete rollout",
  async () => {
    await node();
    const namespace = await createNamespace("rollout-good");
    const repository = uniqueRepository("rollout-app");
    const v1 = await buildOnNode(`${repository}:v1`, GOOD);
    await createWorkload(deployment(namespace, `${repository}:v1`, { replicas: 2 }));
    await waitForPodsOn(namespace, "app=web", v1, { count: 2 });

    await using loop = await startLoopOnNode(namespace);
    const v2 = await buildOnNode(`${repository}:v2`, GOOD);
    const line = await loop.waitForLine(
      new RegExp(
        `INFO  Rolled out Deployment ${namespace}/web: 2/2 pods on ${
          escape(`${repository}:v2`)
        } \\([0-9a-f]{12}\\) in \\d+(\\.\\d)? s$`,
      ),
      120_000,
    );
    // The line came when the rollout was complete: the Deployment says so, and every pod runs v2.
    const object = await getWorkload("Deployment", namespace, "web");
    assert.equal(object.status.observedGeneration, object.metadata.generation);
    assert.equal(object.status.updatedReplicas, 2);
    assert.equal(object.status.availableReplicas, 2);
    const pods = await waitForPodsOn(namespace, "app=web", v2, { count: 2 });
    assert.ok(pods.every((pod) => pod.ready && pod.image === `${repository}:v2`));
    assert.equal(loop.lines.filter((l) => l.includes("Rolled out")).length, 1, line);
    assert.ok(!loop.lines.some((l) => / ERROR /.test(l)), loop.lines.join("\n"));

    const [row, ...more] = await statusRows(namespace);
    assert.deepEqual(more, []);
    assert.equal(row.kind, "Deployment");
    assert.equal(row.name, "web");
    assert.equal(row.container, "app");
    assert.equal(row.image, `${repository}:v2`);
    // The record holds the config digest, which is what the kubelet reports: like with like.
    assert.equal(row.configId, v2);
    assert.match(row.id, /^sha256:[0-9a-f]{64}$/);
    assert.equal(row.rollout.state, "done");
    assert.deepEqual(row.pods, { onImage: 2, total: 2 });
    assert.ok(Date.now() - Date.parse(row.updatedAt) < 300_000);
    const table = await statusTable(namespace);
    assert.match(
      table,
      /^NAMESPACE +WORKLOAD +CONTAINER +IMAGE +ORIGINAL +ID +UPDATED +PODS +ROLLOUT\n/,
    );
    assert.match(
      table,
      new RegExp(`deployment/web +app +${escape(`${repository}:v2`)} .* 2/2 +done`),
    );
  },
);

e2eTest(
  "rollout: a build whose program exits 1 is a failure line with the exit code, its log, and an Event",
  async () => {
    await node();
    const namespace = await createNamespace("rollout-crash");
    const repository = uniqueRepository("rollout-app");
    const v1 = await buildOnNode(`${repository}:v1`, GOOD);
    await createWorkload(deployment(namespace, `${repository}:v1`));
    await waitForPodsOn(namespace, "app=web", v1);

    await using loop = await startLoopOnNode(namespace);
    await buildOnNode(`${repository}:v2`, CRASHING);
    const failure = await loop.waitForLine(
      new RegExp(
        `ERROR Rollout of Deployment ${namespace}/web to ${
          escape(`${repository}:v2`)
        } \\([0-9a-f]{12}\\) failed after [\\d.]+ s: pod web-\\S+ ` +
          "container app: (CrashLoopBackOff|Error), exited with code 1\\b.*; fix the program " +
          "and build again \\(its log is below\\)$",
      ),
      120_000,
    );
    // Then the last lines of the container's log, indented.
    await loop.waitForLine(/ERROR {5}error: cannot open \/etc\/app\.conf$/);
    const at = loop.lines.indexOf(failure);
    const tail = loop.lines.slice(at, at + 3).join("\n");
    assert.match(loop.lines[at + 1]!, /ERROR {5}loading \/etc\/app\.conf$/, tail);
    assert.match(loop.lines[at + 2]!, /ERROR {5}error: cannot open \/etc\/app\.conf$/, tail);

    // The cluster agrees: the new pod's container ended with exit code 1; the old pod still runs v1.
    const crashed = await eventually("the new pod's exit code 1", async () => {
      const { items } = await api(
        "GET",
        `/api/v1/namespaces/${namespace}/pods?labelSelector=app%3Dweb`,
      );
      // deno-lint-ignore no-explicit-any
      return items.find((pod: any) => {
        const s = pod.status?.containerStatuses?.[0];
        return (s?.state?.terminated ?? s?.lastState?.terminated)?.exitCode === 1;
      });
    });
    assert.ok(failure.includes(crashed.metadata.name), failure);
    const pods = await listPods(namespace, "app=web");
    assert.ok(pods.some((pod) => pod.imageId === v1 && pod.ready), JSON.stringify(pods));

    // The Event, for kubectl describe.
    const event = await eventually("the RolloutFailed Event", async () => {
      const events = await eventsIn(namespace);
      return events.find((e) => e.startsWith("Deployment/web RolloutFailed "));
    });
    assert.match(event, /exited with code 1/);
    // The log is in the log, not in the Event: its text says nothing of one.
    assert.ok(!event.includes("its log is below"), event);

    const [row] = await statusRows(namespace);
    assert.equal(row.image, `${repository}:v2`);
    assert.equal(row.rollout.state, "failing");
    assert.match(row.rollout.detail, /container app: (CrashLoopBackOff|Error), exited with code 1/);
    assert.equal(row.pods.onImage, 0);
  },
);

e2eTest(
  "rollout: an image the node does not have, with imagePullPolicy Never, names the node and the fix",
  async () => {
    const { name: nodeName } = await node();
    const namespace = await createNamespace("rollout-never");
    const repository = uniqueRepository("rollout-app");
    const v1 = await buildOnNode(`${repository}:v1`, GOOD);
    await createWorkload(deployment(namespace, `${repository}:v1`, { pullPolicy: "Never" }));
    await waitForPodsOn(namespace, "app=web", v1);

    // The builds land in Docker and nothing copies them to the node (--bridge off): v2 is
    // only in Docker, so the kubelet cannot find it.
    await using loop = await startLoop(["--namespace", namespace, "--bridge", "off"]);
    await build(`${repository}:v2`, GOOD);
    const line = await loop.waitForLine(
      new RegExp(
        `ERROR Rollout of Deployment ${namespace}/web to ${
          escape(`${repository}:v2`)
        } \\([0-9a-f]{12}\\) failed after [\\d.]+ s: pod web-\\S+ ` +
          `container app: ErrImageNeverPull, image ${escape(`${repository}:v2`)} is not on node ${
            escape(nodeName)
          } and imagePullPolicy is Never; build, load or ` +
          "import",
      ),
      120_000,
    );
    const pods = await listPods(namespace, "app=web");
    assert.ok(
      pods.some((pod) => pod.image === `${repository}:v2` && pod.waiting === "ErrImageNeverPull"),
      `${line}\n${JSON.stringify(pods)}`,
    );
    const events = await eventually("the RolloutFailed Event", async () => {
      const all = await eventsIn(namespace);
      return all.some((e) => e.startsWith("Deployment/web RolloutFailed ")) ? all : undefined;
    });
    assert.ok(events.some((e) => /ErrImageNeverPull/.test(e)), events.join("\n"));

    const [row] = await statusRows(namespace);
    assert.equal(row.rollout.state, "failing");
    assert.match(row.rollout.detail, /ErrImageNeverPull, image .* is not on node/);
    assert.equal(row.pods.onImage, 0);
  },
);
