import assert from "node:assert/strict";
import { crashLoop, cs, deployment, NOW, oldPod, pod, waiting } from "./fixtures_test.ts";
import type { Pod, WorkloadObject } from "./objects.ts";
import { problemText } from "./report.ts";
import { decide, isNewPod, type RolloutTarget, type Verdict } from "./verdict.ts";

const TARGET: RolloutTarget = {
  kind: "Deployment",
  generation: 2,
  images: [{ container: "web", image: "app:v2" }],
  rolloutAnnotation: undefined,
};

/** The verdict as one line, so that each row states the whole outcome. */
function summary(verdict: Verdict): string {
  switch (verdict.state) {
    case "done":
      return `done ${verdict.ready}/${verdict.desired}` +
        (verdict.held ? `; held ${verdict.held.pods.join(",")}: ${verdict.held.why}` : "") +
        (verdict.job ? `; Job ${verdict.job.name}` : "");
    case "paused":
      return "paused";
    case "progressing":
      return `progressing ${verdict.ready}/${verdict.desired}` +
        (verdict.waitingFor ? ` (${verdict.waitingFor})` : "");
    case "deferred":
      return `deferred: ${verdict.why}`;
    case "failed":
      return (verdict.job ? `Job ${verdict.job.name} ` : "") +
        (verdict.problem
          ? `failed: ${problemText(verdict.problem)}`
          : `failed: ${verdict.reason}: ${verdict.detail}`);
  }
}

interface Case {
  name: string;
  target?: Partial<RolloutTarget>;
  workload: WorkloadObject;
  pods: Pod[];
  expected: string;
}

async function runCases(t: Deno.TestContext, cases: Case[]) {
  for (const k of cases) {
    await t.step(k.name, () => {
      const verdict = decide({ ...TARGET, ...k.target }, k.workload, k.pods, NOW);
      assert.equal(summary(verdict), k.expected);
    });
  }
}

const complete = { replicas: 2, updatedReplicas: 2, availableReplicas: 2, readyReplicas: 2 };
const two = [pod({ name: "web-new-1" }), pod({ name: "web-new-2" })];

Deno.test("decide() follows a Deployment the way kubectl rollout status does", async (t) => {
  await runCases(t, [
    {
      name: "all replicas updated and available: done",
      workload: deployment(2, complete),
      pods: two,
      expected: "done 2/2",
    },
    {
      name: "the controller has not seen the new generation yet: in progress",
      workload: { ...deployment(2, complete), status: { ...complete, observedGeneration: 1 } },
      pods: [oldPod("web-old-1"), oldPod("web-old-2")],
      expected: "progressing 0/2 (no pod of the new revision yet)",
    },
    {
      name: "an old replica still runs: in progress",
      workload: deployment(2, { ...complete, replicas: 3 }),
      pods: [...two, oldPod()],
      expected: "progressing 2/2 (1 old pod still running)",
    },
    {
      name: "a new pod not available yet: in progress, saying what it waits for",
      workload: deployment(2, { ...complete, availableReplicas: 1 }),
      pods: [
        pod({ name: "web-new-1" }),
        pod({ name: "web-new-2", statuses: [waiting("ContainerCreating")] }),
      ],
      expected: "progressing 1/2 (pod web-new-2: container web ContainerCreating)",
    },
    {
      name: "a new pod in a crash loop: failed at once, whatever the status says",
      workload: deployment(2, { ...complete, updatedReplicas: 1, replicas: 3 }),
      pods: [oldPod(), oldPod("web-old-2"), pod({ statuses: [crashLoop(1, "boom")] })],
      expected: "failed: pod web-new-1 container web: CrashLoopBackOff, exited with code 1, " +
        "restarted 3 times: boom; fix the program and build again",
    },
    {
      name: "an old pod in a crash loop is not this rollout's failure",
      workload: deployment(1, { replicas: 2, updatedReplicas: 1, availableReplicas: 0 }),
      pods: [
        pod({ name: "web-old-1", image: "app:v1", statuses: [crashLoop(1)] }),
        pod({ statuses: [waiting("ContainerCreating")] }),
      ],
      expected: "progressing 0/1 (pod web-new-1: container web ContainerCreating)",
    },
    {
      name: "a terminating new pod is not looked at",
      workload: deployment(1, { replicas: 1, updatedReplicas: 1, availableReplicas: 0 }),
      pods: [pod({ terminating: true, statuses: [crashLoop(1)] })],
      expected: "progressing 0/1 (no pod of the new revision yet)",
    },
    {
      name: "the progress deadline passed: failed with the controller's words",
      workload: deployment(1, {
        replicas: 2,
        updatedReplicas: 1,
        conditions: [{
          type: "Progressing",
          status: "False",
          reason: "ProgressDeadlineExceeded",
          message: 'ReplicaSet "web-5d8f" has timed out progressing.',
        }],
      }),
      pods: [oldPod(), pod({ statuses: [waiting("ContainerCreating")] })],
      expected:
        'failed: ProgressDeadlineExceeded: ReplicaSet "web-5d8f" has timed out progressing.',
    },
    {
      name: "a replica the controller cannot create: failed with its reason",
      workload: deployment(1, {
        replicas: 1,
        conditions: [{
          type: "ReplicaFailure",
          status: "True",
          reason: "FailedCreate",
          message: 'pods "web-5d8f-x" is forbidden: exceeded quota',
        }],
      }),
      pods: [oldPod()],
      expected: 'failed: FailedCreate: pods "web-5d8f-x" is forbidden: exceeded quota',
    },
    {
      name: "a stale condition of an older generation does not count",
      workload: {
        ...deployment(1, {}),
        status: {
          observedGeneration: 1,
          conditions: [{
            type: "Progressing",
            status: "False",
            reason: "ProgressDeadlineExceeded",
          }],
        },
      },
      pods: [oldPod()],
      expected: "progressing 0/1 (no pod of the new revision yet)",
    },
    {
      name: "scaled to zero: nothing runs the build, said at once",
      workload: deployment(0, { replicas: 0, updatedReplicas: 0, availableReplicas: 0 }),
      pods: [],
      expected: "deferred: it has 0 replicas, so nothing runs this build; to run it: kubectl " +
        "scale deployment/web -n dev --replicas=1",
    },
    {
      name: "paused: said at once, whatever the status",
      workload: { ...deployment(2, {}), spec: { replicas: 2, paused: true } },
      pods: [oldPod()],
      expected: "paused",
    },
    {
      name: "a running pod that crashed 4 s after it started is failing, not ready",
      workload: deployment(1, { replicas: 1, updatedReplicas: 1, availableReplicas: 1 }),
      pods: [pod({
        statuses: [cs("web", {
          restartCount: 1,
          lastState: {
            terminated: {
              exitCode: 1,
              startedAt: "2026-11-25T11:59:40Z",
              finishedAt: "2026-11-25T11:59:44Z",
            },
          },
        })],
      })],
      expected: "failed: pod web-new-1 container web: Error, exited with code 1 after 4 s, " +
        "restarted 1 time; fix the program and build again",
    },
    {
      name: "a crash within a longer minReadySeconds is a crash too",
      workload: {
        ...deployment(1, { replicas: 1, updatedReplicas: 1, availableReplicas: 1 }),
        spec: { replicas: 1, minReadySeconds: 60 },
      },
      pods: [pod({
        statuses: [cs("web", {
          restartCount: 1,
          lastState: {
            terminated: {
              exitCode: 1,
              startedAt: "2026-11-25T11:58:00Z",
              finishedAt: "2026-11-25T11:58:45Z",
            },
          },
        })],
      })],
      expected: "failed: pod web-new-1 container web: Error, exited with code 1 after 45 s, " +
        "restarted 1 time; fix the program and build again",
    },
    {
      name: "the surge pod that does not fit while the old pod holds the room says so",
      workload: deployment(1, { replicas: 2, updatedReplicas: 1, availableReplicas: 1 }),
      pods: [oldPod(), pod({ unschedulableSince: NOW - 10_000 })],
      expected: "failed: pod web-new-1: Unschedulable, cannot be scheduled: 0/1 nodes are " +
        "available: 1 Insufficient cpu.; it is the surge pod, and the 1 old pod holds the room " +
        "it needs; set the Deployment's strategy.rollingUpdate.maxSurge to 0 (or strategy " +
        "Recreate) so an old pod makes room first, or free or add capacity",
    },
    {
      name: "with maxSurge 0 an unschedulable pod is just too big",
      workload: {
        ...deployment(1, { replicas: 1, updatedReplicas: 1, availableReplicas: 0 }),
        spec: { replicas: 1, strategy: { type: "RollingUpdate", rollingUpdate: { maxSurge: 0 } } },
      },
      pods: [oldPod(), pod({ unschedulableSince: NOW - 10_000 })],
      expected: "failed: pod web-new-1: Unschedulable, cannot be scheduled: 0/1 nodes are " +
        "available: 1 Insufficient cpu.; free or add capacity, or relax the pod's requests, " +
        "nodeSelector, affinity or tolerations",
    },
    {
      name: "an unknown generation relies on the status alone",
      target: { generation: undefined },
      workload: deployment(2, complete),
      pods: two,
      expected: "done 2/2",
    },
  ]);
});

Deno.test("decide() tells the pods of a rebuild by the record the patch wrote", async (t) => {
  const record = '{"docker.io/library/app:v2":"sha256:new"}';
  await runCases(t, [
    {
      name: "a pod with the old record is old, even on the same image",
      target: { rolloutAnnotation: record },
      workload: deployment(1, { replicas: 2, updatedReplicas: 1, availableReplicas: 1 }),
      pods: [
        pod({
          name: "web-old-1",
          record: '{"docker.io/library/app:v2":"sha256:old"}',
          statuses: [crashLoop(1)],
        }),
        pod({ record, statuses: [waiting("ContainerCreating")] }),
      ],
      expected: "progressing 0/1 (pod web-new-1: container web ContainerCreating)",
    },
    {
      name: "a pod with the new record that crashes fails the rollout",
      target: { rolloutAnnotation: record },
      workload: deployment(1, { replicas: 1, updatedReplicas: 1 }),
      pods: [pod({ record, statuses: [crashLoop(2)] })],
      expected: "failed: pod web-new-1 container web: CrashLoopBackOff, exited with code 2, " +
        "restarted 3 times; fix the program and build again",
    },
  ]);
  assert.equal(isNewPod(pod({ record }), { ...TARGET, rolloutAnnotation: record }), true);
  assert.equal(isNewPod(pod(), { ...TARGET, rolloutAnnotation: record }), false);
  assert.equal(isNewPod(pod({ image: "app:v1" }), TARGET), false);
});

const cron: WorkloadObject = {
  metadata: { name: "nightly", namespace: "dev" },
  spec: { schedule: "30 3 * * *", timeZone: "Europe/Berlin" },
  status: {},
};

/** A pod of the CronJob's Job `nightly-now`, on the new build. */
function jobPod(options: { phase?: string; exitCode?: number }): Pod {
  const base = pod({
    name: "nightly-now-x1",
    phase: options.phase ?? "Running",
    statuses: options.exitCode === undefined ? [cs("web", { ready: true })] : [cs("web", {
      ready: false,
      state: {
        terminated: {
          exitCode: options.exitCode,
          reason: options.exitCode === 0 ? "Completed" : "Error",
        },
      },
    })],
  });
  return {
    ...base,
    metadata: { ...base.metadata, labels: { "batch.kubernetes.io/job-name": "nightly-now" } },
  };
}

Deno.test("decide() follows StatefulSets, DaemonSets and CronJobs", async (t) => {
  const sts = (spec: Record<string, unknown>, status: Record<string, unknown>) => ({
    metadata: { generation: 2 },
    spec: { replicas: 2, ...spec },
    status: { observedGeneration: 2, ...status },
  });
  const ds = (status: Record<string, unknown>, spec: Record<string, unknown> = {}) => ({
    metadata: { generation: 2 },
    spec,
    status: { observedGeneration: 2, desiredNumberScheduled: 1, ...status },
  });
  await runCases(t, [
    {
      name: "a StatefulSet whose revisions agree and whose replicas are ready: done",
      target: { kind: "StatefulSet" },
      workload: sts({}, {
        readyReplicas: 2,
        updatedReplicas: 2,
        currentRevision: "web-2",
        updateRevision: "web-2",
      }),
      pods: two,
      expected: "done 2/2",
    },
    {
      name: "a StatefulSet still on its old revision: in progress",
      target: { kind: "StatefulSet" },
      workload: sts({}, {
        readyReplicas: 2,
        updatedReplicas: 1,
        currentRevision: "web-1",
        updateRevision: "web-2",
      }),
      pods: [pod(), oldPod()],
      expected: "progressing 1/2 (1 old pod still running)",
    },
    {
      name: "a partitioned StatefulSet is done once the pods above the partition are updated",
      target: { kind: "StatefulSet" },
      workload: sts(
        { updateStrategy: { type: "RollingUpdate", rollingUpdate: { partition: 1 } } },
        {
          readyReplicas: 2,
          updatedReplicas: 1,
          currentRevision: "web-1",
          updateRevision: "web-2",
        },
      ),
      pods: [pod({ name: "web-1" }), oldPod("web-0")],
      expected: "done 1/2; held web-0: partition: 1 keeps pods with an ordinal below 1 on the " +
        "old build",
    },
    {
      name: "a StatefulSet with OnDelete and no pod deleted yet: deferred, naming one to delete",
      target: { kind: "StatefulSet" },
      workload: {
        ...sts({ updateStrategy: { type: "OnDelete" } }, {}),
        metadata: { namespace: "dev" },
      },
      pods: [oldPod("web-0")],
      expected: "deferred: its updateStrategy is OnDelete, so each pod changes only once it is " +
        "deleted (kubectl delete pod web-0 -n dev)",
    },
    {
      name:
        "OnDelete: the deleted pod came back on the build and is ready; the other keeps the old",
      target: { kind: "StatefulSet" },
      workload: sts({ updateStrategy: { type: "OnDelete" } }, {}),
      pods: [pod({ name: "web-0" }), oldPod("web-1")],
      expected: "done 1/2; held web-1: updateStrategy OnDelete: each changes once it is deleted",
    },
    {
      name: "OnDelete: the deleted pod came back on the build and crashes",
      target: { kind: "StatefulSet" },
      workload: sts({ updateStrategy: { type: "OnDelete" } }, {}),
      pods: [pod({ name: "web-0", statuses: [crashLoop(1)] }), oldPod("web-1")],
      expected: "failed: pod web-0 container web: CrashLoopBackOff, exited with code 1, " +
        "restarted 3 times; fix the program and build again",
    },
    {
      name: "a DaemonSet updated and available on every node: done",
      target: { kind: "DaemonSet" },
      workload: ds({ updatedNumberScheduled: 1, numberAvailable: 1 }),
      pods: [pod()],
      expected: "done 1/1",
    },
    {
      name: "a DaemonSet whose new pod cannot get its image: failed",
      target: { kind: "DaemonSet" },
      workload: ds({ updatedNumberScheduled: 1, numberAvailable: 0 }),
      pods: [pod({ statuses: [waiting("ErrImageNeverPull")], pullPolicy: "Never" })],
      expected: "failed: pod web-new-1 container web: ErrImageNeverPull, image app:v2 is not on " +
        "node node-1 and imagePullPolicy is Never; build, load or import app:v2 into the node's " +
        "container engine (the one the kubelet uses), or point the workload at a tag the node has",
    },
    {
      name: "a DaemonSet with OnDelete is not followed",
      target: { kind: "DaemonSet" },
      workload: ds({}, { updateStrategy: { type: "OnDelete" } }),
      pods: [],
      expected:
        "deferred: its updateStrategy is OnDelete, so each pod changes only once it is deleted",
    },
    {
      name: "a DaemonSet on no node: nothing runs the build",
      target: { kind: "DaemonSet" },
      workload: ds({ desiredNumberScheduled: 0 }),
      pods: [],
      expected: "deferred: no node runs its pods (its nodeSelector, affinity or tolerations " +
        "match none), so nothing runs this build",
    },
    {
      name: "a CronJob: its next run from the schedule and time zone, and how to run one now",
      target: { kind: "CronJob" },
      workload: cron,
      pods: [],
      expected: 'deferred: its next Job will use it, at 2026-11-26 02:30 UTC (schedule "30 3 * * ' +
        '*", time zone Europe/Berlin); to run one now: kubectl create job nightly-now ' +
        "--from=cronjob/nightly -n dev",
    },
    {
      name: "a CronJob whose Job on the new build runs: in progress",
      target: { kind: "CronJob" },
      workload: cron,
      pods: [jobPod({})],
      expected: "progressing 0/1 (Job nightly-now: running)",
    },
    {
      name: "a CronJob whose Job on the new build succeeded: done, naming the Job",
      target: { kind: "CronJob" },
      workload: cron,
      pods: [jobPod({ phase: "Succeeded", exitCode: 0 })],
      expected: "done 1/1; Job nightly-now",
    },
    {
      name: "a CronJob whose Job on the new build exited 4: failed, naming the Job",
      target: { kind: "CronJob" },
      workload: cron,
      pods: [jobPod({ phase: "Failed", exitCode: 4 })],
      expected: "Job nightly-now failed: pod nightly-now-x1 container web: Error, exited with " +
        "code 4; fix the program and build again",
    },
    {
      name: "a CronJob's Job of the old build is not the new build's outcome",
      target: { kind: "CronJob" },
      workload: cron,
      pods: [{ ...jobPod({ phase: "Failed", exitCode: 4 }), spec: oldPod().spec }],
      expected: 'deferred: its next Job will use it, at 2026-11-26 02:30 UTC (schedule "30 3 * * ' +
        '*", time zone Europe/Berlin); to run one now: kubectl create job nightly-now ' +
        "--from=cronjob/nightly -n dev",
    },
  ]);
});

Deno.test("decide() names a probe that keeps failing when the deadline passed", () => {
  const stuck = deployment(1, {
    replicas: 2,
    updatedReplicas: 1,
    availableReplicas: 1,
    conditions: [{
      type: "Progressing",
      status: "False",
      reason: "ProgressDeadlineExceeded",
      message: 'ReplicaSet "web-5d9" has timed out progressing.',
    }],
  });
  const running = pod({ statuses: [cs("web", { ready: false })], ready: false });
  const probeEvents = [{
    pod: "web-new-1",
    container: "web",
    message: "Readiness probe failed: cat: can't open '/etc/ready': No such file or directory\n",
    count: 12,
  }];
  const verdict = decide(TARGET, stuck, [oldPod(), running], NOW, { probeEvents });
  assert.equal(
    summary(verdict),
    "failed: pod web-new-1 container web: Unhealthy, its readiness probe keeps failing (12 " +
      "times): cat: can't open '/etc/ready': No such file or directory; fix what the readiness " +
      "probe checks, or the probe",
  );
  // Without the Events: the controller's words.
  assert.equal(
    summary(decide(TARGET, stuck, [oldPod(), running], NOW)),
    'failed: ProgressDeadlineExceeded: ReplicaSet "web-5d9" has timed out progressing.',
  );
});
