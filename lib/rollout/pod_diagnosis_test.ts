import assert from "node:assert/strict";
import { crashLoop, cs, NOW, pod, waiting } from "./fixtures_test.ts";
import type { Pod } from "./objects.ts";
import {
  diagnosePod,
  oneLine,
  podWaitingFor,
  schedulerReason,
  UNSCHEDULABLE_GRACE_MS,
} from "./pod_diagnosis.ts";
import { problemText } from "./report.ts";

/** The diagnosis as one line (or "none"), plus where the log is read from. */
function summary(p: Pod): string {
  const problem = diagnosePod(p, NOW);
  if (!problem) return "none";
  const log = problem.log
    ? ` [log ${problem.log.container}${problem.log.previous ? " previous" : ""}]`
    : "";
  return `${problemText(problem)}${log}`;
}

Deno.test("diagnosePod() names the problem, the container and what to do", async (t) => {
  const cases: Array<[string, Pod, string]> = [
    ["a running, ready pod has none", pod(), "none"],
    [
      "a container still being created has none",
      pod({ statuses: [waiting("ContainerCreating")] }),
      "none",
    ],
    [
      "a crash loop after exit 1 names the code, the termination message and the log of the previous run",
      pod({ statuses: [crashLoop(1, "cannot open /etc/app.conf\n")] }),
      "pod web-new-1 container web: CrashLoopBackOff, exited with code 1, restarted 3 times: " +
      "cannot open /etc/app.conf; fix the program and build again" +
      " [log web previous]",
    ],
    [
      "a crash loop after exit 0 says a workload must keep running",
      pod({ statuses: [crashLoop(0, undefined, "Completed")] }),
      "pod web-new-1 container web: CrashLoopBackOff, exited with code 0, restarted 3 times; " +
      "the program ended by itself; a workload's container must keep " +
      "running [log web previous]",
    ],
    [
      "an OOM kill says to raise the memory limit",
      pod({ statuses: [crashLoop(137, undefined, "OOMKilled")] }),
      "pod web-new-1 container web: CrashLoopBackOff, exited with code 137 (OOMKilled), " +
      "restarted 3 times; raise the container's memory limit, or use less " +
      "memory [log web previous]",
    ],
    [
      "a container that just exited with an error is a failure at once, log of the current run",
      pod({
        statuses: [cs("web", {
          ready: false,
          state: { terminated: { exitCode: 2, reason: "Error" } },
        })],
      }),
      "pod web-new-1 container web: Error, exited with code 2; fix the program and build again" +
      " [log web]",
    ],
    [
      "a workload's container that exits 0 is a failure at its first Completed",
      pod({
        statuses: [cs("web", {
          ready: false,
          state: {
            terminated: {
              exitCode: 0,
              reason: "Completed",
              startedAt: "2026-11-25T11:59:58Z",
              finishedAt: "2026-11-25T11:59:59Z",
            },
          },
        })],
      }),
      "pod web-new-1 container web: Completed, exited with code 0 after 1 s; the program ended " +
      "by itself; a workload's container must keep running [log web]",
    ],
    [
      "running again after a crash 4 s after it started is a crash, not ready",
      pod({
        statuses: [cs("web", {
          ready: true,
          restartCount: 2,
          lastState: {
            terminated: {
              exitCode: 1,
              reason: "Error",
              startedAt: "2026-11-25T11:59:50Z",
              finishedAt: "2026-11-25T11:59:54Z",
            },
          },
        })],
      }),
      "pod web-new-1 container web: Error, exited with code 1 after 4 s, restarted 2 times; fix " +
      "the program and build again [log web previous]",
    ],
    [
      "a restart after a run longer than the crash window is not the build's crash",
      pod({
        statuses: [cs("web", {
          restartCount: 1,
          lastState: {
            terminated: {
              exitCode: 1,
              reason: "Error",
              startedAt: "2026-11-25T11:00:00Z",
              finishedAt: "2026-11-25T11:30:00Z",
            },
          },
        })],
      }),
      "none",
    ],
    [
      "a command the image lacks says so in full, without a log, and never names ConfigMaps",
      pod({
        statuses: [cs("web", {
          ready: false,
          restartCount: 1,
          state: {
            waiting: {
              reason: "RunContainerError",
              message: "failed to create containerd task: failed to create shim task: OCI " +
                "runtime create failed: runc create failed: unable to start container process: " +
                'error during container init: exec: "/bin/nope": stat /bin/nope: no such file or ' +
                "directory: unknown",
            },
          },
          lastState: { terminated: { exitCode: 128, reason: "StartError" } },
        })],
      }),
      "pod web-new-1 container web: RunContainerError, the command /bin/nope is not in the " +
      'image app:v2, so the program never ran: exec: "/bin/nope": stat /bin/nope: no such file ' +
      "or directory; fix the image's ENTRYPOINT/CMD or the workload's command and args",
    ],
    [
      "a Job's container that failed is named before the pod's phase",
      pod({
        phase: "Failed",
        statuses: [cs("web", {
          ready: false,
          state: { terminated: { exitCode: 4, reason: "Error" } },
        })],
      }),
      "pod web-new-1 container web: Error, exited with code 4; fix the program and build again " +
      "[log web]",
    ],
    [
      "ErrImageNeverPull says the image is not on that node",
      pod({
        statuses: [waiting(
          "ErrImageNeverPull",
          'Container image "app:v2" is not present with pull policy of Never',
        )],
        pullPolicy: "Never",
      }),
      "pod web-new-1 container web: ErrImageNeverPull, image app:v2 is not on node node-1 and " +
      "imagePullPolicy is Never; build, load or import app:v2 into the node's container engine " +
      "(the one the kubelet uses), or point the workload at a tag the node has",
    ],
    [
      "ImagePullBackOff with pull policy Always says to use IfNotPresent or Never",
      pod({
        statuses: [waiting("ImagePullBackOff", 'Back-off pulling image "app:v2"')],
        pullPolicy: "Always",
      }),
      'pod web-new-1 container web: ImagePullBackOff, cannot pull app:v2: Back-off pulling image "app:v2"; imagePullPolicy is Always, so the kubelet pulls even an image that is ' +
      "on the node; for a local build set imagePullPolicy to IfNotPresent or Never",
    ],
    [
      "ErrImagePull with IfNotPresent says the image is on no node and no registry",
      pod({ statuses: [waiting("ErrImagePull")] }),
      "pod web-new-1 container web: ErrImagePull, cannot pull app:v2; app:v2 is not on node " +
      "node-1 and no registry serves it: build, load or import it into the node's container " +
      "engine, or push it where the node can pull it",
    ],
    [
      "InvalidImageName says to fix the reference",
      pod({ statuses: [waiting("InvalidImageName")] }),
      "pod web-new-1 container web: InvalidImageName, the image reference app:v2 is not valid; " +
      "fix the image reference in the workload",
    ],
    [
      "CreateContainerConfigError carries the kubelet's message",
      pod({ statuses: [waiting("CreateContainerConfigError", 'secret "db" not found')] }),
      'pod web-new-1 container web: CreateContainerConfigError, cannot start: secret "db" not ' +
      "found; fix what the message names (a missing ConfigMap or Secret, a bad command, a volume)",
    ],
    [
      "a pod unschedulable for less than the grace period is not yet a failure",
      pod({ unschedulableSince: NOW - UNSCHEDULABLE_GRACE_MS + 1 }),
      "none",
    ],
    [
      "a pod unschedulable for longer gives the scheduler's reason",
      pod({ unschedulableSince: NOW - UNSCHEDULABLE_GRACE_MS }),
      "pod web-new-1: Unschedulable, cannot be scheduled: 0/1 nodes are available: 1 " +
      "Insufficient cpu.; free or add capacity, or relax the pod's requests, nodeSelector, " +
      "affinity or tolerations",
    ],
    [
      "an evicted pod says the node ran short",
      pod({ phase: "Failed", reason: "Evicted", message: "The node was low on resource: memory." }),
      "pod web-new-1: Evicted, the pod failed: The node was low on resource: memory.; the node " +
      "ran short of a resource; free some or lower the pod's requests",
    ],
    [
      "a failing init container is the reason, before the others",
      pod({
        initStatuses: [cs("init", {
          ready: false,
          state: { waiting: { reason: "CrashLoopBackOff" } },
          lastState: { terminated: { exitCode: 3, reason: "Error" } },
          restartCount: 1,
        })],
        statuses: [waiting("PodInitializing")],
      }),
      "pod web-new-1 container init: CrashLoopBackOff, exited with code 3, restarted 1 time; " +
      "fix the program and build again [log init " +
      "previous]",
    ],
  ];
  for (const [name, p, expected] of cases) {
    await t.step(name, () => assert.equal(summary(p), expected));
  }
});

Deno.test("diagnosePod() with a Job's rules: exit 0 is success", () => {
  const done = pod({
    phase: "Succeeded",
    statuses: [cs("web", {
      ready: false,
      state: { terminated: { exitCode: 0, reason: "Completed" } },
    })],
  });
  assert.equal(
    diagnosePod(done, NOW, { mustKeepRunning: false, crashWindowMs: 30_000 }),
    undefined,
  );
  assert.equal(diagnosePod(done, NOW)?.reason, "Completed");
});

Deno.test("schedulerReason() drops the preemption report", () => {
  assert.equal(
    schedulerReason(
      "0/1 nodes are available: 1 Insufficient cpu. preemption: 0/1 nodes are available: 1 No " +
        "preemption victims found for incoming pod.",
    ),
    "0/1 nodes are available: 1 Insufficient cpu.",
  );
  // As the real node's scheduler (1.34) writes it, with the DRA plugin's word.
  assert.equal(
    schedulerReason(
      "0/1 nodes are available: 1 Insufficient cpu. no new claims to deallocate, preemption: " +
        "0/1 nodes are available: 1 No preemption victims found for incoming pod.",
    ),
    "0/1 nodes are available: 1 Insufficient cpu.",
  );
  assert.equal(schedulerReason(undefined), "no node fits");
});

Deno.test("podWaitingFor() says what a pod still waits for", () => {
  assert.equal(podWaitingFor(pod()), undefined);
  assert.equal(
    podWaitingFor(pod({ statuses: [waiting("ContainerCreating")] })),
    "container web ContainerCreating",
  );
  assert.equal(
    podWaitingFor(pod({ statuses: [cs("web", { ready: false })] })),
    "container web not ready",
  );
  assert.match(podWaitingFor(pod({ unschedulableSince: NOW }))!, /^not scheduled: 0\/1 nodes/);
});

Deno.test("oneLine() flattens, strips control characters and bounds a message", () => {
  assert.equal(oneLine("a\n  b\r\n\tc"), "a / b / c");
  assert.equal(oneLine("x\u001b[31my"), "x [31my");
  assert.equal(oneLine("abcdef", 4), "abc…");
});
