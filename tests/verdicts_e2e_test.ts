/**
 * Rollout verdicts that hold, on the real node (tests/env/node.ts): each
 * situation of the verdicts issue as a developer meets it, asserted on the
 * line veryfreshpod says, the Event it records and what `veryfreshpod status`
 * reads from the cluster, besides the cluster's own state (pods, their
 * containers, the workload's spec).
 */
import assert from "node:assert/strict";
import {
  docker,
  e2eTest,
  importIntoContainerd,
  kubernetes,
  makeImage,
  makeImageOnNode,
  node,
  serviceAccountToken,
} from "./env/mod.ts";
import manifestText from "../manifest/deployment.yaml" with { type: "text" };
import { parseManifest } from "../lib/install/manifest.ts";
import { eventually } from "./helpers/eventually.ts";
import { startLoopOnNode, uniqueRepository } from "./helpers/loop.ts";
import { listPods, waitForPodsOn } from "./helpers/pods.ts";
import type { VeryfreshpodProcess } from "./helpers/veryfreshpod_process.ts";
import { statusRows } from "./helpers/status_output.ts";
import {
  api,
  createNamespace,
  createWorkload,
  eventsIn,
  nodeWorkload,
  podTemplate,
} from "./helpers/workloads.ts";

const GOOD = 'echo "web starting"\nexec sleep 1000000\n';
/** Starts fine, counts as available, and crashes 5 s later: the row kubectl was also fooled by. */
const CRASH_AFTER_5S = 'echo "web starting"\nsleep 5\necho "error: lost the database" >&2\n' +
  "exit 1\n";
const CRASHING = 'echo "error: cannot open /etc/app.conf" >&2\nexit 1\n';
const EXITS_0 = 'echo "done, nothing to do"\nexit 0\n';
const EXITS_4 = 'echo "report failed: no input" >&2\nexit 4\n';

/**
 * A new image `ref` whose program is `script`, imported into the node's
 * containerd; returns what its pods report (the config digest).
 */
function buildOnNode(ref: string, script: string, files: Record<string, string> = {}) {
  return makeImageOnNode(ref, { "app/start.sh": script, ...files });
}

const escape = (text: string) => text.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
/** `repo:v2 (0123456789ab)`: every line names the build, tag and short ID. */
const build = (ref: string) => `${escape(ref)} \\([0-9a-f]{12}\\)`;

/** The Events of `reason` on `kind/name`, as their messages. */
async function eventMessages(namespace: string, object: string, reason: string) {
  return (await eventsIn(namespace))
    .filter((e) => e.startsWith(`${object} ${reason} `))
    .map((e) => e.slice(`${object} ${reason} `.length));
}

/** Waits for an Event of `reason` on `object` whose message matches; returns it. */
function waitForEvent(namespace: string, object: string, reason: string, pattern: RegExp) {
  return eventually(`a ${reason} Event on ${object} matching ${pattern}`, async () => {
    const messages = await eventMessages(namespace, object, reason);
    return messages.find((m) => pattern.test(m));
  });
}

/** A Deployment `web` on the node whose container `app` runs the image's program. */
function deployment(namespace: string, image: string, replicas = 1) {
  return nodeWorkload("Deployment", namespace, "web", image, {
    command: ["sh", "/app/start.sh"],
    replicas,
  });
}

/**
 * A fresh namespace whose Deployment `web` runs `REPOSITORY:v1` (a good
 * program, plus `files`) on the node, ready; `adjust` changes the object first.
 */
async function webOnV1(
  prefix: string,
  // deno-lint-ignore no-explicit-any
  adjust: (object: any) => void = () => {},
  files: Record<string, string> = {},
): Promise<{ namespace: string; repository: string }> {
  await node();
  const namespace = await createNamespace(prefix);
  const repository = uniqueRepository("verdict-app");
  const v1 = await buildOnNode(`${repository}:v1`, GOOD, files);
  const object = deployment(namespace, `${repository}:v1`);
  adjust(object);
  await createWorkload(object);
  await waitForPodsOn(namespace, "app=web", v1);
  return { namespace, repository };
}

/** The line after `line`, the log line under it (its chunk may come a moment later). */
function lineAfter(loop: VeryfreshpodProcess, line: string): Promise<string> {
  return eventually(
    `the line after ${line}`,
    () => Promise.resolve(loop.lines[loop.lines.indexOf(line) + 1]),
    10_000,
  );
}

e2eTest(
  "verdicts: a build that crashes 5 s after it starts is taken back after 'Rolled out', and status stays failing",
  async () => {
    const { namespace, repository } = await webOnV1("verdict-late-crash");

    await using loop = await startLoopOnNode(namespace);
    await buildOnNode(`${repository}:v2`, CRASH_AFTER_5S);
    // The success is said as quickly as before (the container is available at once)…
    const success = await loop.waitForLine(
      new RegExp(
        `INFO  Rolled out Deployment ${namespace}/web: 1/1 pod on ${build(`${repository}:v2`)}`,
      ),
      120_000,
    );
    // …and taken back when the container crashes, with the crashed run's log.
    const correction = await loop.waitForLine(
      new RegExp(
        `ERROR Rollout of Deployment ${namespace}/web to ${build(`${repository}:v2`)} crashed ` +
          "[\\d.]+ s after it started, after it was said to be rolled out: pod web-\\S+ container " +
          "app: (Error|CrashLoopBackOff), exited with code 1 after [4-7] s.*; fix the program and " +
          "build again \\(its log is below\\)$",
      ),
      60_000,
    );
    assert.ok(loop.lines.indexOf(success) < loop.lines.indexOf(correction));
    await loop.waitForLine(/ERROR {5}error: lost the database$/, 10_000);

    // The cluster agrees: the new container ended with exit code 1 and was restarted.
    const pods = await listPods(namespace, "app=web");
    assert.ok(pods.some((pod) => pod.image === `${repository}:v2`), JSON.stringify(pods));
    const event = await waitForEvent(namespace, "Deployment/web", "RolloutFailed", /crashed/);
    assert.ok(!event.includes("its log is below"), event);
    assert.match(event, /exited with code 1 after [4-7] s/);

    // `status` says failing, steadily: also while the container runs between crashes.
    for (let i = 0; i < 4; i++) {
      const [row] = await statusRows(namespace);
      assert.equal(row.rollout.state, "failing", JSON.stringify(row));
      assert.match(
        row.rollout.detail,
        /container app: (Error|CrashLoopBackOff), exited with code 1/,
      );
      await new Promise((resolve) => setTimeout(resolve, 1_500));
    }
  },
);

e2eTest(
  "verdicts: a follow survives SIGKILL and SIGTERM: the next start follows it again to its verdict",
  async () => {
    const { namespace, repository } = await webOnV1("verdict-restart");

    // SIGKILL right after the patch: nothing could be said.
    const first = await startLoopOnNode(namespace);
    await buildOnNode(`${repository}:v2`, CRASHING);
    await first.waitForLine(/Updated Deployment .*web.* -> .*:v2/, 60_000);
    Deno.kill(first.pid, "SIGKILL");
    await first.exited;
    assert.ok(!first.lines.some((l) => l.includes("Rollout of")), first.lines.join("\n"));

    const second = await startLoopOnNode(namespace);
    await second.waitForLine(
      new RegExp(
        `INFO  Following again 1 rollout under way at the last stop: Deployment ${namespace}/web$`,
      ),
      10_000,
    );
    await second.waitForLine(
      new RegExp(
        `ERROR Rollout of Deployment ${namespace}/web to ${
          build(`${repository}:v2`)
        } failed after [\\d.]+ s: pod web-\\S+ container app: (CrashLoopBackOff|Error), exited ` +
          "with code 1",
      ),
      120_000,
    );
    await waitForEvent(namespace, "Deployment/web", "RolloutFailed", new RegExp(`:v2 `));

    // SIGTERM during the follow of the next build: the stop names it.
    await buildOnNode(`${repository}:v3`, CRASHING);
    await second.waitForLine(/Updated Deployment .*web.* -> .*:v3/, 60_000);
    assert.equal(await second.stop(), 0);
    assert.ok(
      second.lines.some((l) =>
        new RegExp(
          `INFO  Stopping with 1 rollout still followed, followed again at the next start: ` +
            `Deployment ${namespace}/web$`,
        ).test(l)
      ),
      second.lines.join("\n"),
    );
    await using third = await startLoopOnNode(namespace);
    await third.waitForLine(
      new RegExp(
        `ERROR Rollout of Deployment ${namespace}/web to ${build(`${repository}:v3`)} failed`,
      ),
      120_000,
    );
    await waitForEvent(namespace, "Deployment/web", "RolloutFailed", new RegExp(`:v3 `));
    const [row] = await statusRows(namespace);
    assert.equal(row.image, `${repository}:v3`);
    assert.equal(row.rollout.state, "failing");
  },
);

e2eTest(
  "verdicts: a paused Deployment is one line at once with kubectl rollout resume, and followed once resumed",
  async () => {
    const { namespace, repository } = await webOnV1("verdict-paused");
    await api(
      "PATCH",
      `/apis/apps/v1/namespaces/${namespace}/deployments/web`,
      { spec: { paused: true } },
      "application/merge-patch+json",
    );

    await using loop = await startLoopOnNode(namespace);
    const v2 = await buildOnNode(`${repository}:v2`, GOOD);
    const updated = await loop.waitForLine(/Updated Deployment .*web.* -> .*:v2/, 60_000);
    const paused = await loop.waitForLine(
      new RegExp(
        `WARN  Rollout of Deployment ${namespace}/web to ${build(`${repository}:v2`)} waits: ` +
          "the Deployment is paused \\(spec.paused\\); to roll it: kubectl rollout resume " +
          `deployment/web -n ${namespace}$`,
      ),
      10_000,
    );
    // At once: within seconds of the patch, not at a deadline.
    assert.ok(loop.lines.indexOf(paused) > loop.lines.indexOf(updated));
    // The cluster agrees: paused, and the pod still runs v1.
    const pods = await listPods(namespace, "app=web");
    assert.ok(pods.every((pod) => pod.image === `${repository}:v1`), JSON.stringify(pods));
    const [row] = await statusRows(namespace);
    assert.equal(row.rollout.state, "paused");
    assert.equal(row.rollout.detail, `kubectl rollout resume deployment/web -n ${namespace}`);

    await api(
      "PATCH",
      `/apis/apps/v1/namespaces/${namespace}/deployments/web`,
      { spec: { paused: false } },
      "application/merge-patch+json",
    );
    await loop.waitForLine(
      new RegExp(
        `INFO  Rolled out Deployment ${namespace}/web: 1/1 pod on ${
          build(`${repository}:v2`)
        } in [\\d.]+ s$`,
      ),
      120_000,
    );
    await waitForPodsOn(namespace, "app=web", v2);
  },
);

e2eTest(
  "verdicts: a readiness probe that never passes names the pod, the container, the probe and its output",
  async () => {
    // v1 has the file its readiness probe reads; v2 lacks it.
    const { namespace, repository } = await webOnV1("verdict-probe", (object) => {
      object.spec.progressDeadlineSeconds = 20;
      podTemplate(object).spec.containers[0].readinessProbe = {
        exec: { command: ["cat", "/etc/ready"] },
        periodSeconds: 1,
      };
    }, { "etc/ready": "yes\n" });

    await using loop = await startLoopOnNode(namespace);
    await buildOnNode(`${repository}:v2`, GOOD);
    const line = await loop.waitForLine(
      new RegExp(
        `ERROR Rollout of Deployment ${namespace}/web to ${build(`${repository}:v2`)} failed ` +
          "after [\\d.]+ s: pod web-\\S+ container app: Unhealthy, its readiness probe keeps " +
          "failing \\(\\d+ times\\): cat: can't open '/etc/ready': No such file or directory; " +
          "fix what the readiness probe checks, or the probe$",
      ),
      90_000,
    );
    assert.ok(!line.includes("has timed out progressing"), line);
    // The cluster agrees: the new pod runs and is not ready; the kubelet recorded the probe.
    const pods = await listPods(namespace, "app=web");
    const fresh = pods.find((pod) => pod.image === `${repository}:v2`);
    assert.ok(fresh && fresh.phase === "Running" && !fresh.ready, JSON.stringify(pods));
    assert.ok(line.includes(fresh.name), line);
    await waitForEvent(
      namespace,
      "Deployment/web",
      "RolloutFailed",
      /readiness probe keeps failing/,
    );
    const [row] = await statusRows(namespace);
    assert.equal(row.rollout.state, "failing");
    assert.match(row.rollout.detail, /Unhealthy, its readiness probe keeps failing .*\/etc\/ready/);
  },
);

e2eTest(
  "verdicts: a command missing from the image says so in full, without the ConfigMap hint or a log",
  async () => {
    await node();
    const namespace = await createNamespace("verdict-nocmd");
    const repository = uniqueRepository("verdict-app");
    // The workload runs the image's own command (CMD), as most do.
    await makeImage(`${repository}:base`, { "app/start.sh": GOOD });
    await buildWithCommand(`${repository}:v1`, `${repository}:base`, ["sh", "/app/start.sh"]);
    const object = deployment(namespace, `${repository}:v1`);
    delete podTemplate(object).spec.containers[0].command;
    await createWorkload(object);
    await eventually("the v1 pod running", async () => {
      const pods = await listPods(namespace, "app=web");
      return pods.length === 1 && pods[0]!.ready ? pods : undefined;
    });

    await using loop = await startLoopOnNode(namespace);
    // The new build's command names a file the image lacks.
    await buildWithCommand(`${repository}:v2`, `${repository}:base`, ["/bin/nope"]);
    const line = await loop.waitForLine(
      new RegExp(
        `ERROR Rollout of Deployment ${namespace}/web to ${build(`${repository}:v2`)} failed ` +
          "after [\\d.]+ s: pod web-\\S+ container app: \\w+, the command /bin/nope is not in " +
          `the image ${escape(`${repository}:v2`)}, so the program never ran: exec: ` +
          '"/bin/nope": stat /bin/nope: no such file or directory; fix the image\'s ' +
          "ENTRYPOINT/CMD or the workload's command and args$",
      ),
      90_000,
    );
    assert.ok(!/ConfigMap|…|its log is below/.test(line), line);
    const event = await waitForEvent(namespace, "Deployment/web", "RolloutFailed", /\/bin\/nope/);
    assert.ok(!/ConfigMap|…/.test(event), event);
    const [row] = await statusRows(namespace);
    assert.equal(row.rollout.state, "failing");
    assert.match(row.rollout.detail, /the command \/bin\/nope is not in the image/);
    assert.ok(!/ConfigMap|its log is below|exited with code 128/.test(row.rollout.detail));
  },
);

/** `FROM base` with `CMD command`, built by the test dockerd and imported into the node. */
async function buildWithCommand(ref: string, base: string, command: string[]): Promise<void> {
  const context = await Deno.makeTempDir({ prefix: "vfp-cmd-" });
  try {
    await Deno.writeTextFile(
      `${context}/Dockerfile`,
      `FROM ${base}\nENTRYPOINT []\nCMD ${JSON.stringify(command)}\n`,
    );
    await (await docker()).run(["build", "--quiet", "--tag", ref, context]);
  } finally {
    await Deno.remove(context, { recursive: true });
  }
  await importIntoContainerd(ref);
}

e2eTest(
  "verdicts: a program that exits 0 at once in a Deployment fails at its first Completed",
  async () => {
    const { namespace, repository } = await webOnV1("verdict-exit0");

    await using loop = await startLoopOnNode(namespace);
    await buildOnNode(`${repository}:v2`, EXITS_0);
    const line = await loop.waitForLine(
      new RegExp(
        `ERROR Rollout of Deployment ${namespace}/web to ${build(`${repository}:v2`)} failed ` +
          "after ([\\d.]+) s: pod web-\\S+ container app: (Completed|CrashLoopBackOff), exited " +
          "with code 0.*; the program ended by itself; a workload's container must keep running " +
          "\\(its log is below\\)$",
      ),
      60_000,
    );
    // At the first Completed: no restart, no back-off waited for.
    const seconds = Number(line.match(/failed after ([\d.]+) s/)![1]);
    assert.ok(seconds < 8, line);
    assert.ok(!line.includes("restarted"), line);
    await loop.waitForLine(/ERROR {5}done, nothing to do$/, 10_000);
    await waitForEvent(namespace, "Deployment/web", "RolloutFailed", /exited with code 0/);
    const [row] = await statusRows(namespace);
    assert.equal(row.rollout.state, "failing");
    assert.match(row.rollout.detail, /exited with code 0/);
  },
);

e2eTest(
  "verdicts: two crashing builds in a row each name their build with its log; the fix leaves a RolledOut Event",
  async () => {
    const { namespace, repository } = await webOnV1("verdict-twice");

    await using loop = await startLoopOnNode(namespace);
    for (const tag of ["v2", "v3"]) {
      await buildOnNode(`${repository}:${tag}`, CRASHING.replace("app.conf", `${tag}.conf`));
      const line = await loop.waitForLine(
        new RegExp(
          `ERROR Rollout of Deployment ${namespace}/web to ${build(`${repository}:${tag}`)} ` +
            "failed after [\\d.]+ s: pod web-\\S+ container app: .*exited with code 1.* " +
            "\\(its log is below\\)$",
        ),
        120_000,
      );
      // The log below is the crashed run's (the previous one once the container restarted).
      assert.equal(
        (await lineAfter(loop, line)).replace(/^.* ERROR {5}/, ""),
        `error: cannot open /etc/${tag}.conf`,
      );
      await waitForEvent(namespace, "Deployment/web", "RolloutFailed", new RegExp(`:${tag} `));
    }
    const v4 = await buildOnNode(`${repository}:v4`, GOOD);
    await loop.waitForLine(
      new RegExp(
        `INFO  Rolled out Deployment ${namespace}/web: 1/1 pod on ${build(`${repository}:v4`)}`,
      ),
      120_000,
    );
    await waitForPodsOn(namespace, "app=web", v4);
    // kubectl describe shows the success after the failures.
    const rolledOut = await waitForEvent(namespace, "Deployment/web", "RolledOut", /:v4 /);
    assert.match(rolledOut, /^Rolled out Deployment .*: 1\/1 pod on/);
    const [row] = await statusRows(namespace);
    assert.equal(row.rollout.state, "done");
  },
);

e2eTest(
  "verdicts: scaled to 0 replicas, an update says that nothing runs the build",
  async () => {
    const { namespace, repository } = await webOnV1("verdict-zero");
    await api(
      "PATCH",
      `/apis/apps/v1/namespaces/${namespace}/deployments/web`,
      { spec: { replicas: 0 } },
      "application/merge-patch+json",
    );

    await using loop = await startLoopOnNode(namespace);
    await buildOnNode(`${repository}:v3`, GOOD);
    await loop.waitForLine(
      new RegExp(
        `INFO  Updated Deployment ${namespace}/web to ${build(`${repository}:v3`)}: it has 0 ` +
          "replicas, so nothing runs this build; to run it: kubectl scale deployment/web -n " +
          `${namespace} --replicas=1$`,
      ),
      60_000,
    );
    await new Promise((resolve) => setTimeout(resolve, 3_000));
    assert.ok(!loop.lines.some((l) => l.includes("Rolled out")), loop.lines.join("\n"));
    const [row] = await statusRows(namespace);
    assert.equal(row.rollout.state, "deferred");
    assert.match(row.rollout.detail, /nothing runs this build/);
    assert.deepEqual(row.pods, { onImage: 0, total: 0 });
  },
);

/** A StatefulSet `web` of 2 pods on the node, with `updateStrategy`. */
function statefulSet(namespace: string, image: string, updateStrategy: unknown) {
  const object = nodeWorkload("StatefulSet", namespace, "web", image, {
    command: ["sh", "/app/start.sh"],
    replicas: 2,
  }) as { spec: Record<string, unknown> };
  object.spec.updateStrategy = updateStrategy;
  object.spec.podManagementPolicy = "Parallel";
  return object;
}

e2eTest(
  "verdicts: StatefulSet OnDelete is followed on the pod that was deleted, and says which still run the old build",
  async () => {
    await node();
    const namespace = await createNamespace("verdict-ondelete");
    const repository = uniqueRepository("verdict-app");
    const v1 = await buildOnNode(`${repository}:v1`, GOOD);
    await createWorkload(statefulSet(namespace, `${repository}:v1`, { type: "OnDelete" }));
    await waitForPodsOn(namespace, "app=web", v1, { count: 2 });

    await using loop = await startLoopOnNode(namespace);
    await buildOnNode(`${repository}:v2`, CRASHING);
    await loop.waitForLine(
      new RegExp(
        `INFO  Updated StatefulSet ${namespace}/web to ${build(`${repository}:v2`)}: its ` +
          "updateStrategy is OnDelete, so each pod changes only once it is deleted \\(kubectl " +
          `delete pod web-\\d -n ${namespace}\\)$`,
      ),
      60_000,
    );
    assert.equal((await statusRows(namespace))[0].rollout.state, "deferred");

    await api("DELETE", `/api/v1/namespaces/${namespace}/pods/web-0`);
    await loop.waitForLine(
      new RegExp(
        `ERROR Rollout of StatefulSet ${namespace}/web to ${build(`${repository}:v2`)} failed ` +
          "after [\\d.]+ s: pod web-0 container app: (CrashLoopBackOff|Error), exited with code 1",
      ),
      120_000,
    );
    const pods = await listPods(namespace, "app=web");
    assert.equal(pods.find((p) => p.name === "web-1")?.image, `${repository}:v1`);
    assert.equal(pods.find((p) => p.name === "web-0")?.image, `${repository}:v2`);
    await waitForEvent(namespace, "StatefulSet/web", "RolloutFailed", /pod web-0/);
    const [row] = await statusRows(namespace);
    assert.equal(row.rollout.state, "failing");
    assert.match(row.rollout.detail, /^pod web-0 container app/);
  },
);

e2eTest(
  "verdicts: a StatefulSet partition says 1 of 2 pods on the build and which pod keeps the old one",
  async () => {
    await node();
    const namespace = await createNamespace("verdict-partition");
    const repository = uniqueRepository("verdict-app");
    const v1 = await buildOnNode(`${repository}:v1`, GOOD);
    await createWorkload(
      statefulSet(namespace, `${repository}:v1`, {
        type: "RollingUpdate",
        rollingUpdate: { partition: 1 },
      }),
    );
    await waitForPodsOn(namespace, "app=web", v1, { count: 2 });

    await using loop = await startLoopOnNode(namespace);
    await buildOnNode(`${repository}:v2`, GOOD);
    await loop.waitForLine(
      new RegExp(
        `INFO  Rolled out StatefulSet ${namespace}/web: 1/2 pods on ${
          build(`${repository}:v2`)
        } in [\\d.]+ s; pod web-0 keeps the old build \\(partition: 1 keeps pods with an ` +
          "ordinal below 1 on the old build\\)$",
      ),
      120_000,
    );
    const pods = await listPods(namespace, "app=web");
    assert.equal(pods.find((p) => p.name === "web-0")?.image, `${repository}:v1`);
    assert.equal(pods.find((p) => p.name === "web-1")?.image, `${repository}:v2`);
    const [row] = await statusRows(namespace);
    assert.equal(row.rollout.state, "done");
    assert.match(row.rollout.detail, /^1\/2 ready; web-0 on the old build \(partition: 1/);
    assert.deepEqual(row.pods, { onImage: 1, total: 2 });
  },
);

e2eTest(
  "verdicts: a CronJob says its next run and how to run one now, and a Job made from it is followed to its outcome",
  async () => {
    await node();
    const namespace = await createNamespace("verdict-cron");
    const repository = uniqueRepository("verdict-app");
    await buildOnNode(`${repository}:v1`, EXITS_4);
    const cron = nodeWorkload("CronJob", namespace, "nightly", `${repository}:v1`, {
      command: ["sh", "/app/start.sh"],
    }) as { spec: Record<string, unknown> };
    cron.spec.timeZone = "Europe/Berlin";
    const created = await createWorkload(cron);

    await using loop = await startLoopOnNode(namespace);
    await buildOnNode(`${repository}:v2`, EXITS_4);
    // 1 January, 00:00 in Berlin, is 23:00 UTC on the 31st of December before.
    const year = new Date().getUTCFullYear();
    await loop.waitForLine(
      new RegExp(
        `INFO  Updated CronJob ${namespace}/nightly to ${build(`${repository}:v2`)}: its next ` +
          `Job will use it, at ${year}-12-31 23:00 UTC \\(schedule "0 0 1 1 \\*", time zone ` +
          "Europe/Berlin\\); to run one now: kubectl create job nightly-now " +
          `--from=cronjob/nightly -n ${namespace}$`,
      ),
      60_000,
    );
    const [before] = await statusRows(namespace);
    assert.equal(before.rollout.state, "deferred");

    // What `kubectl create job nightly-now --from=cronjob/nightly` creates.
    const current = await api("GET", `/apis/batch/v1/namespaces/${namespace}/cronjobs/nightly`);
    await api("POST", `/apis/batch/v1/namespaces/${namespace}/jobs`, {
      metadata: {
        name: "nightly-now",
        annotations: { "cronjob.kubernetes.io/instantiate": "manual" },
        ownerReferences: [{
          apiVersion: "batch/v1",
          kind: "CronJob",
          name: "nightly",
          uid: created.metadata.uid,
          controller: true,
        }],
      },
      spec: { ...current.spec.jobTemplate.spec, backoffLimit: 0 },
    });
    const line = await loop.waitForLine(
      new RegExp(
        `ERROR Job nightly-now of CronJob ${namespace}/nightly on ${
          build(`${repository}:v2`)
        } failed after [\\d.]+ s: pod nightly-now-\\S+ container app: Error, exited with code 4` +
          ".*; fix the program and build again \\(its log is below\\)$",
      ),
      90_000,
    );
    assert.equal(
      (await lineAfter(loop, line)).replace(/^.* ERROR {5}/, ""),
      "report failed: no input",
    );
    // The cluster agrees: the Job's pod ran v2 and failed.
    const job = await api("GET", `/apis/batch/v1/namespaces/${namespace}/jobs/nightly-now`);
    assert.equal(job.spec.template.spec.containers[0].image, `${repository}:v2`);
    await waitForEvent(namespace, "CronJob/nightly", "RolloutFailed", /exited with code 4/);
    const [after] = await statusRows(namespace);
    assert.equal(after.rollout.state, "failing");
    assert.match(
      after.rollout.detail,
      /^Job nightly-now: pod nightly-now-\S+ container app: Error/,
    );
  },
);

e2eTest(
  "verdicts: the manifest's RBAC reads events (the probe failures) and nothing more on them",
  async () => {
    const namespace = await createNamespace("verdict-rbac");
    await api("POST", `/api/v1/namespaces/${namespace}/serviceaccounts`, {
      metadata: { name: "veryfreshpod" },
    });
    const role = parseManifest(manifestText).find((o) => o.kind === "ClusterRole") as unknown as {
      rules: unknown[];
    };
    const name = `${namespace}-role`;
    const rbac = "/apis/rbac.authorization.k8s.io/v1";
    await api("POST", `${rbac}/clusterroles`, { metadata: { name }, rules: role.rules });
    await api("POST", `${rbac}/clusterrolebindings`, {
      metadata: { name },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
      subjects: [{ kind: "ServiceAccount", namespace, name: "veryfreshpod" }],
    });
    try {
      const kube = await kubernetes();
      const token = await serviceAccountToken(namespace, "veryfreshpod");
      const as = async (method: string, path: string, body?: unknown) => {
        const response = await fetch(`${kube.server}${path}`, {
          method,
          headers: {
            authorization: `Bearer ${token}`,
            ...(body ? { "content-type": "application/json" } : {}),
          },
          ...(body ? { body: JSON.stringify(body) } : {}),
          client: Deno.createHttpClient({ caCerts: [await Deno.readTextFile(kube.caFile)] }),
        });
        await response.body?.cancel();
        return response.status;
      };
      const events = `/api/v1/namespaces/${namespace}/events`;
      // What the follower asks, with the real authorizer: allowed.
      assert.equal(
        await as("GET", `${events}?fieldSelector=involvedObject.kind%3DPod,reason%3DUnhealthy`),
        200,
      );
      const created = await api("POST", events, {
        metadata: { generateName: "x." },
        involvedObject: { kind: "Pod", name: "p", namespace },
        reason: "Test",
        message: "m",
      });
      assert.equal(await as("GET", `${events}/${created.metadata.name}`), 200);
      // Read only: no watch, no delete, no update.
      assert.equal(await as("GET", `${events}?watch=true`), 403);
      assert.equal(await as("DELETE", `${events}/${created.metadata.name}`), 403);
      assert.equal(await as("PUT", `${events}/${created.metadata.name}`, created), 403);
    } finally {
      await api("DELETE", `${rbac}/clusterrolebindings/${name}`);
      await api("DELETE", `${rbac}/clusterroles/${name}`);
    }
  },
);

e2eTest(
  "verdicts: a surge pod with no room says the old pod holds it, without the scheduler's preemption report",
  async () => {
    const { name: nodeName } = await node();
    const nodeObject = await api("GET", `/api/v1/nodes/${nodeName}`);
    const allocatable = String(nodeObject.status.allocatable.cpu);
    const millis = allocatable.endsWith("m")
      ? Number(allocatable.slice(0, -1))
      : Number(allocatable) * 1000;
    // More than half the node's CPU: the old pod fits, a second one beside it does not.
    const { namespace, repository } = await webOnV1("verdict-surge", (object) => {
      const pod = podTemplate(object).spec;
      pod.containers[0].resources = { requests: { cpu: `${Math.ceil(millis * 0.6)}m` } };
      // This node only, should another test's node be up.
      pod.affinity = {
        nodeAffinity: {
          requiredDuringSchedulingIgnoredDuringExecution: {
            nodeSelectorTerms: [{
              matchFields: [{ key: "metadata.name", operator: "In", values: [nodeName] }],
            }],
          },
        },
      };
    });

    await using loop = await startLoopOnNode(namespace);
    await buildOnNode(`${repository}:v2`, GOOD);
    const line = await loop.waitForLine(
      new RegExp(
        `ERROR Rollout of Deployment ${namespace}/web to ${build(`${repository}:v2`)} failed ` +
          "after [\\d.]+ s: pod web-\\S+: Unschedulable, cannot be scheduled: 0/\\d nodes are " +
          "available: 1 Insufficient cpu\\.; it is the surge pod, and the 1 old pod holds the room " +
          "it needs; set the Deployment's strategy.rollingUpdate.maxSurge to 0 \\(or strategy " +
          "Recreate\\) so an old pod makes room first, or free or add capacity$",
      ),
      60_000,
    );
    assert.ok(!/preemption|deallocate/i.test(line), line);
    // The cluster agrees: the old pod runs v1, the new one waits for room.
    const pods = await listPods(namespace, "app=web");
    assert.ok(pods.some((p) => p.image === `${repository}:v1` && p.ready), JSON.stringify(pods));
    assert.ok(pods.some((p) => p.image === `${repository}:v2` && p.phase === "Pending"));
    await waitForEvent(namespace, "Deployment/web", "RolloutFailed", /it is the surge pod/);
    const [row] = await statusRows(namespace);
    assert.equal(row.rollout.state, "failing");
    assert.match(row.rollout.detail, /Unschedulable, .*it is the surge pod/);
    assert.ok(!/preemption|deallocate/i.test(row.rollout.detail), row.rollout.detail);
  },
);

e2eTest(
  "verdicts: DaemonSet OnDelete names the pod to delete, then follows the one that was deleted to its outcome",
  async () => {
    await node();
    const namespace = await createNamespace("verdict-ds-ondelete");
    const repository = uniqueRepository("verdict-app");
    const v1 = await buildOnNode(`${repository}:v1`, GOOD);
    const object = nodeWorkload("DaemonSet", namespace, "web", `${repository}:v1`, {
      command: ["sh", "/app/start.sh"],
    }) as { spec: Record<string, unknown> };
    object.spec.updateStrategy = { type: "OnDelete" };
    await createWorkload(object);
    const [old] = await waitForPodsOn(namespace, "app=web", v1);

    await using loop = await startLoopOnNode(namespace);
    const v2 = await buildOnNode(`${repository}:v2`, GOOD);
    await loop.waitForLine(
      new RegExp(
        `INFO  Updated DaemonSet ${namespace}/web to ${build(`${repository}:v2`)}: its ` +
          "updateStrategy is OnDelete, so each pod changes only once it is deleted \\(kubectl " +
          `delete pod ${old!.name} -n ${namespace}\\)$`,
      ),
      60_000,
    );
    assert.equal((await statusRows(namespace))[0].rollout.state, "deferred");

    await api("DELETE", `/api/v1/namespaces/${namespace}/pods/${old!.name}`);
    await loop.waitForLine(
      new RegExp(
        `INFO  Rolled out DaemonSet ${namespace}/web: 1/1 pod on ${
          build(`${repository}:v2`)
        } in [\\d.]+ s$`,
      ),
      120_000,
    );
    await waitForPodsOn(namespace, "app=web", v2);
    const [row] = await statusRows(namespace);
    assert.equal(row.rollout.state, "done");
    assert.deepEqual(row.pods, { onImage: 1, total: 1 });
  },
);
