import assert from "node:assert/strict";
import { FakeClock as SharedFakeClock, settle as settleTurns } from "../testing/fake_clock.ts";
import { setupLogging } from "../util/log.ts";
import { Metrics } from "../util/metrics.ts";
import type { WorkloadEvent } from "../kube/events.ts";
import type { LabelSelector } from "../model/rollout_fields.ts";
import { workloadId, type WorkloadKey } from "../model/workload.ts";
import type { TrackedWorkload } from "../model/workload.ts";
import { crashLoop, cs, deployment, oldPod, pod, waiting } from "./fixtures_test.ts";
import { UPDATES_ANNOTATION } from "../model/record.ts";
import {
  type LogReader,
  RECHECK_MS,
  RolloutFollower,
  SETTLE_MS,
  type WorkloadStates,
} from "./follower.ts";
import { type FollowRequest, followRequest } from "./follow_request.ts";
import { defineRolloutMetrics } from "./rollout_reporter.ts";
import type { Pod, WorkloadObject } from "./objects.ts";
import type { PodListener, PodStates } from "./pod_store.ts";
import { CRASH_WINDOW_MS } from "./pod_diagnosis.ts";
import type { ProbeEvent } from "./probe_failures.ts";

const KEY: WorkloadKey = { kind: "Deployment", namespace: "dev", name: "web" };
const T0 = 1_000_000;

/** The shared fake clock (lib/testing/fake_clock.ts), read as milliseconds since T0. */
class FakeClock extends SharedFakeClock {
  constructor() {
    super(T0);
  }
  get time(): number {
    return this.now();
  }
  /** Moves time to `T0 + ms`, waking each sleeper at its own time. */
  advanceTo(ms: number): Promise<void> {
    return this.advance(T0 + ms - this.now());
  }
}

/** Lets the crash window after a success pass, so that the follow ends. */
async function pastCrashWindow(clock: FakeClock): Promise<void> {
  await clock.advanceTo(clock.time - T0 + CRASH_WINDOW_MS);
}

/** Lets every pending promise chain run (no timers involved). */
function settle(): Promise<void> {
  return settleTurns(20);
}

type State = { workload: WorkloadObject; pods: Pod[] } | undefined;

/** The app label a workload's selector names: the workload's own name in these tests. */
const appOf = (selector: LabelSelector) => selector.matchLabels?.app ?? "";

/**
 * The cluster as the watches keep it, set by the test: `change()` is what the
 * workload watch and the shared pod watch would say. Every workload selects
 * the pods labelled `app=<its name>`.
 */
class FakeCluster {
  readonly #workloads = new Map<string, WorkloadObject>();
  readonly #pods = new Map<string, Pod[]>();
  readonly #workloadListeners = new Set<(key: WorkloadKey) => void>();
  readonly #podListeners = new Set<PodListener>();
  /** How often the pod watch was asked to start, and each follow's reads of its pods. */
  podStarts = 0;
  /** Whether the pod watch's first list came. */
  podsListed = true;
  readonly selects: string[] = [];
  readonly logs: Array<{ pod: string; container: string; previous: boolean; lines: number }> = [];
  logText = "starting\nloading config\nerror: cannot open /etc/app.conf\n";

  readonly workloads: WorkloadStates = {
    get: (key) => this.#workloads.get(workloadId(key)),
    listen: (listener) => {
      this.#workloadListeners.add(listener);
      return () => this.#workloadListeners.delete(listener);
    },
  };

  readonly pods: PodStates = (() => {
    // deno-lint-ignore no-this-alias -- the getter below reads the fake's own flag
    const cluster = this;
    return {
      get listed() {
        return cluster.podsListed;
      },
      start: () => void cluster.podStarts++,
      select: (_namespace: string, selector: LabelSelector) => {
        this.selects.push(appOf(selector));
        return this.#pods.get(appOf(selector)) ?? [];
      },
      listen: (listener) => {
        this.#podListeners.add(listener);
        return () => this.#podListeners.delete(listener);
      },
    } satisfies PodStates;
  })();

  /** The probe failures the fake API server holds, as Events. */
  probeEvents: ProbeEvent[] = [];

  readonly logReader: LogReader = {
    logTail: (_key, pod, container, previous, lines) => {
      this.logs.push({ pod, container, previous, lines });
      return Promise.resolve(this.logText);
    },
    probeEvents: (_namespace, pods) =>
      Promise.resolve(this.probeEvents.filter((e) => pods.includes(e.pod))),
  };

  /** Sets a workload's state without telling anyone (what a missed event would leave). */
  set(state: State, key = KEY): void {
    if (state === undefined) {
      this.#workloads.delete(workloadId(key));
      return;
    }
    const spec = { selector: { matchLabels: { app: key.name } }, ...state.workload.spec };
    this.#workloads.set(workloadId(key), { ...state.workload, spec });
    this.#pods.set(key.name, state.pods);
  }

  /** Sets a workload's state and tells the listeners, as both watches would. */
  change(state: State, key = KEY): void {
    this.set(state, key);
    for (const listener of this.#workloadListeners) listener(key);
    this.changePods(key.name, state?.pods ?? []);
  }

  /** A pod event for the pods labelled `app=<app>` only. */
  changePods(app: string, pods: Pod[]): void {
    this.#pods.set(app, pods);
    for (const listener of this.#podListeners) {
      listener("dev", (selector) => appOf(selector) === app);
    }
  }
}

function setup(state: State, timeoutMs = 120_000) {
  const lines: string[] = [];
  setupLogging({ level: "info", format: "text", write: (line) => lines.push(line.slice(25)) });
  const clock = new FakeClock();
  const reader = new FakeCluster();
  reader.set(state);
  const events: WorkloadEvent[] = [];
  const metrics = new Metrics();
  defineRolloutMetrics(metrics);
  const stop = new AbortController();
  const follower = new RolloutFollower(
    {
      workloads: reader.workloads,
      pods: reader.pods,
      logs: reader.logReader,
      clock,
      metrics,
      events: { record: (e) => Promise.resolve(void events.push(e)) },
    },
    { timeoutMs },
    stop.signal,
  );
  return { lines, clock, reader, events, metrics, stop, follower };
}

function request(extra: Partial<FollowRequest["target"]> = {}, key = KEY): FollowRequest {
  return {
    key,
    target: {
      kind: key.kind,
      generation: 2,
      images: [{ container: "web", image: "app:v2" }],
      rolloutAnnotation: undefined,
      ...extra,
    },
    startedAt: T0,
    uid: "uid-1",
  };
}

const progressing = {
  workload: deployment(2, { replicas: 3, updatedReplicas: 1, availableReplicas: 1 }),
  pods: [oldPod(), pod({ statuses: [waiting("ContainerCreating")] })],
};
const complete = {
  workload: deployment(2, { replicas: 2, updatedReplicas: 2, availableReplicas: 2 }),
  pods: [pod({ name: "web-new-1" }), pod({ name: "web-new-2" })],
};

Deno.test("a rollout that completes is one line with the time since the patch", async () => {
  const { lines, clock, reader, events, metrics, follower } = setup(progressing);
  follower.follow(request());
  await clock.advanceTo(1_000);
  assert.deepEqual(lines, []);
  await clock.advanceTo(1_800);
  reader.change(complete);
  // Reported once it has stayed done for SETTLE_MS, with the time it was first done.
  await clock.advanceTo(1_800 + SETTLE_MS - 1);
  assert.deepEqual(lines, []);
  await clock.advanceTo(1_800 + SETTLE_MS);
  await pastCrashWindow(clock);
  await follower.settled();
  assert.deepEqual(lines, ["INFO  Rolled out Deployment dev/web: 2/2 pods on app:v2 in 1.8 s\n"]);
  assert.deepEqual(events, []);
  assert.equal(metrics.get("veryfreshpod_rollouts_total", { result: "done" }), 1);
  assert.equal(
    metrics.observations("veryfreshpod_rollout_duration_seconds", { result: "done" }),
    1,
  );
});

Deno.test("a build that looks done for a moment and then crashes is a failure, not a rollout", async () => {
  // Seen on the real node: the container starts, counts as available, the old pod goes,
  // and the program exits 1 a moment later.
  const { lines, clock, reader, events, follower } = setup(progressing);
  follower.follow(request());
  await clock.advanceTo(1_000);
  reader.change({ workload: complete.workload, pods: [pod({ name: "web-new-1" })] });
  await clock.advanceTo(1_500);
  reader.change({
    workload: complete.workload,
    pods: [pod({ name: "web-new-1", statuses: [crashLoop(1)] })],
  });
  await clock.advanceTo(1_500 + SETTLE_MS);
  await follower.settled();
  assert.match(
    lines[0] ?? "",
    /^ERROR Rollout of Deployment dev\/web to app:v2 failed after 1\.5 s: pod web-new-1 container web: CrashLoopBackOff, exited with code 1/,
  );
  assert.ok(!lines.some((l) => l.includes("Rolled out")), lines.join(""));
  assert.equal(events.length, 1);
});

Deno.test("a workload that is done without news is reported once it has stayed done", async () => {
  // A status update that arrived before anyone listened (or got lost) changes nothing:
  // the follow decides again from memory about once a second.
  const { lines, clock, reader, follower } = setup(progressing);
  follower.follow(request());
  await clock.advanceTo(500);
  reader.set(complete);
  await clock.advanceTo(RECHECK_MS + SETTLE_MS - 1);
  assert.deepEqual(lines, []);
  await clock.advanceTo(RECHECK_MS + SETTLE_MS);
  await pastCrashWindow(clock);
  await follower.settled();
  assert.deepEqual(lines, ["INFO  Rolled out Deployment dev/web: 2/2 pods on app:v2 in 1.0 s\n"]);
});

Deno.test("following reads only the watches' state: a change of the workload wakes it at once", async () => {
  const { lines, clock, reader, follower } = setup(progressing);
  follower.follow(request());
  await clock.advanceTo(0);
  // The shared pod watch is started (once, by the first follow that needs pods).
  assert.ok(reader.podStarts >= 1);
  // The controller-manager's status update comes through the workload watch.
  await clock.advanceTo(300);
  reader.change({ workload: complete.workload, pods: progressing.pods });
  reader.changePods("web", complete.pods);
  await clock.advanceTo(300 + SETTLE_MS);
  await pastCrashWindow(clock);
  await follower.settled();
  assert.deepEqual(lines, ["INFO  Rolled out Deployment dev/web: 2/2 pods on app:v2 in 0.3 s\n"]);
  // No log was read: a follow's only request is the log of a failing container.
  assert.deepEqual(reader.logs, []);
});

Deno.test("a pod event wakes only the follows whose selector picks the pod", async () => {
  const { clock, reader, follower } = setup(progressing);
  const other: WorkloadKey = { ...KEY, name: "api" };
  reader.set(progressing, other);
  follower.follow(request());
  follower.follow(request({}, other));
  await clock.advanceTo(100);
  reader.selects.length = 0;
  // Before the next recheck: only the follow of `web` looks at its pods again.
  reader.changePods("web", [pod({ statuses: [waiting("ContainerCreating")] })]);
  await clock.advanceTo(200);
  assert.deepEqual(reader.selects, ["web"]);
  reader.changePods("nobody", []);
  await clock.advanceTo(300);
  assert.deepEqual(reader.selects, ["web"]);
});

Deno.test("a CronJob's follow watches the pods of its Jobs, by its template's labels", async () => {
  const cron = {
    workload: { metadata: {}, spec: { jobPodLabels: { app: "nightly" } }, status: {} },
    pods: [],
  };
  const key: WorkloadKey = { kind: "CronJob", namespace: "dev", name: "nightly" };
  const { clock, reader, follower, stop } = setup(undefined);
  reader.set(cron, key);
  follower.follow(request({ kind: "CronJob" }, key));
  await clock.advanceTo(0);
  assert.equal(reader.podStarts, 1);
  assert.deepEqual(reader.selects, ["nightly"]);
  stop.abort();
  await follower.settled();
});

Deno.test("a pod that stays unschedulable fails the rollout after its grace, without news", async () => {
  const { lines, clock, reader, follower } = setup(progressing);
  follower.follow(request());
  await clock.advanceTo(100);
  reader.change({
    workload: progressing.workload,
    pods: [oldPod(), pod({ unschedulableSince: T0 + 100 })],
  });
  await clock.advanceTo(5_000);
  assert.deepEqual(lines, []);
  await clock.advanceTo(6_100);
  await follower.settled();
  assert.match(
    lines[0] ?? "",
    /^ERROR Rollout of Deployment dev\/web to app:v2 failed after 5\.\d s: pod web-new-1: Unschedulable/,
  );
});

Deno.test("a crashing build is one failure line, its log indented below, and an Event", async () => {
  const { lines, clock, reader, events, metrics, follower } = setup(progressing);
  follower.follow(request());
  await clock.advanceTo(2_400);
  reader.change({
    workload: progressing.workload,
    pods: [oldPod(), pod({ statuses: [crashLoop(1, "bad config")] })],
  });
  await settle();
  await follower.settled();
  const failure =
    "Rollout of Deployment dev/web to app:v2 failed after 2.4 s: pod web-new-1 container web: " +
    "CrashLoopBackOff, exited with code 1, restarted 3 times: bad config; fix the program and " +
    "build again";
  assert.deepEqual(lines, [
    `ERROR ${failure} (its log is below)\n`,
    "ERROR     starting\n",
    "ERROR     loading config\n",
    "ERROR     error: cannot open /etc/app.conf\n",
  ]);
  assert.deepEqual(reader.logs, [{ pod: "web-new-1", container: "web", previous: true, lines: 5 }]);
  assert.deepEqual(events, [{
    workload: KEY,
    uid: "uid-1",
    resourceVersion: undefined,
    reason: "RolloutFailed",
    type: "Warning",
    message: failure,
  }]);
  assert.equal(metrics.get("veryfreshpod_rollouts_total", { result: "failed" }), 1);
});

Deno.test("a termination message with braces is printed as it is, never read as a template", async () => {
  const { lines, clock, reader, follower } = setup({
    workload: progressing.workload,
    pods: [pod({ statuses: [crashLoop(2, '{"level":"fatal","msg":"{x}"}')] })],
  });
  reader.logText = '{"level":"fatal"}\n';
  follower.follow(request());
  await clock.advanceTo(0);
  await follower.settled();
  assert.match(
    lines[0]!,
    /exited with code 2, restarted 3 times: \{"level":"fatal","msg":"\{x\}"\}; /,
  );
  assert.equal(lines[1], 'ERROR     {"level":"fatal"}\n');
});

Deno.test("a rollout that does not end within --rollout-timeout fails with what it waits for", async () => {
  const sts = {
    workload: {
      metadata: { generation: 2 },
      spec: { replicas: 1 },
      status: { observedGeneration: 2, readyReplicas: 0 },
    },
    pods: [pod({ statuses: [waiting("ContainerCreating")] })],
  };
  const { lines, clock, reader, events, metrics, follower } = setup(undefined, 10_000);
  reader.set(sts, { ...KEY, kind: "StatefulSet" });
  follower.follow(request({ kind: "StatefulSet" }, { ...KEY, kind: "StatefulSet" }));
  await clock.advanceTo(9_999);
  assert.deepEqual(lines, []);
  await clock.advanceTo(10_000);
  await follower.settled();
  const line = "Rollout of StatefulSet dev/web to app:v2 did not finish in 10 s: 0/1 pods ready; " +
    "waiting for pod web-new-1: container web ContainerCreating";
  assert.deepEqual(lines, [`ERROR ${line}\n`]);
  assert.equal(events[0]?.message, line);
  assert.equal(metrics.get("veryfreshpod_rollouts_total", { result: "timeout" }), 1);
});

Deno.test("a Deployment is bounded by its own progressDeadlineSeconds, not the default", async () => {
  const slow = {
    ...progressing,
    workload: { ...progressing.workload, spec: { replicas: 2, progressDeadlineSeconds: 30 } },
  };
  const { lines, clock, follower } = setup(slow, 10_000);
  follower.follow(request());
  await clock.advanceTo(20_000);
  assert.deepEqual(lines, []);
  await clock.advanceTo(35_000);
  await follower.settled();
  assert.equal(lines.length, 1);
  assert.match(
    lines[0]!,
    /^ERROR Rollout of Deployment dev\/web to app:v2 did not finish in 35 s: 0\/2 pods/,
  );
});

Deno.test("many rollouts at once each end with their own line, and the pod watch starts once per follow at most", async () => {
  const { lines, clock, reader, follower } = setup(undefined);
  const keys = Array.from({ length: 100 }, (_, i) => ({ ...KEY, name: `web-${i}` }));
  for (const key of keys) reader.set(progressing, key);
  for (const key of keys) follower.follow(request({}, key));
  await clock.advanceTo(500);
  assert.equal(follower.active, 100);
  for (const key of keys) reader.change(complete, key);
  await clock.advanceTo(500 + SETTLE_MS);
  await pastCrashWindow(clock);
  await follower.settled();
  assert.equal(lines.length, 100);
  assert.ok(lines.every((l) => / in 0\.5 s\n$/.test(l)), lines.join(""));
});

Deno.test("a newer update of the same workload replaces the rollout being followed", async () => {
  const { lines, clock, reader, metrics, follower } = setup(progressing);
  follower.follow(request());
  await clock.advanceTo(500);
  follower.follow({
    ...request({ images: [{ container: "web", image: "app:v3" }] }),
    startedAt: T0 + 500,
  });
  await clock.advanceTo(1_000);
  assert.equal(follower.active, 1);
  reader.change({
    workload: complete.workload,
    pods: [
      pod({ name: "web-new-1", image: "app:v3" }),
      pod({ name: "web-new-2", image: "app:v3" }),
    ],
  });
  await clock.advanceTo(1_000 + SETTLE_MS);
  await pastCrashWindow(clock);
  await follower.settled();
  assert.deepEqual(lines, ["INFO  Rolled out Deployment dev/web: 2/2 pods on app:v3 in 0.5 s\n"]);
  assert.equal(metrics.get("veryfreshpod_rollouts_total", { result: "superseded" }), 1);
  assert.equal(metrics.get("veryfreshpod_rollouts_total", { result: "done" }), 1);
});

Deno.test("a CronJob's update says when its next Job runs and how to run one now", async () => {
  const cron = {
    workload: {
      metadata: { name: "nightly", namespace: "dev" },
      spec: { schedule: "0 3 1 1 *", timeZone: "Europe/Berlin" },
      status: {},
    },
    pods: [],
  };
  const key: WorkloadKey = { kind: "CronJob", namespace: "dev", name: "nightly" };
  const { lines, clock, reader, follower, stop } = setup(undefined);
  reader.set(cron, key);
  follower.follow(request({ kind: "CronJob" }, key));
  await clock.advanceTo(5_000);
  // T0 is 00:16 UTC on 1 January 1970: 03:00 in Berlin that day is 02:00 UTC.
  assert.deepEqual(lines, [
    "INFO  Updated CronJob dev/nightly to app:v2: its next Job will use it, at 1970-01-01 02:00 " +
    'UTC (schedule "0 3 1 1 *", time zone Europe/Berlin); to run one now: kubectl create job ' +
    "nightly-now --from=cronjob/nightly -n dev\n",
  ]);
  // Followed on, said once: a Job on the new build is followed to its outcome.
  assert.equal(follower.active, 1);
  stop.abort();
  await follower.settled();
});

Deno.test("a workload that is gone ends the follow quietly", async () => {
  const { lines, clock, reader, follower } = setup(progressing);
  follower.follow(request());
  await clock.advanceTo(800);
  assert.equal(follower.active, 1);
  reader.change(undefined);
  await clock.advanceTo(900);
  await follower.settled();
  assert.deepEqual(lines, []);
  assert.equal(follower.active, 0);
});

Deno.test("shutting down stops every follow without a report", async () => {
  const { lines, clock, stop, follower } = setup(progressing);
  follower.follow(request());
  await clock.advanceTo(100);
  stop.abort();
  await follower.settled();
  // The stop names the follows still open: the next start follows them again.
  assert.deepEqual(lines, [
    "INFO  Stopping with 1 rollout still followed, followed again at the next start: " +
    "Deployment dev/web\n",
  ]);
  follower.follow(request());
  assert.equal(follower.active, 0);
});

Deno.test("followRequest() takes the images, the record and the generation the patch produced", () => {
  const follow = followRequest(
    {
      workload: KEY,
      resourceVersion: "7",
      imageUpdates: [{ container: "web", init: false, from: "app:v1", to: "app:v2" }],
      rebuilds: [{ container: "side", init: false, image: "side:dev", previousId: "a", id: "b" }],
      rolloutAnnotation: '{"x":"b"}',
      warnings: [],
    },
    { metadata: { generation: 5, uid: "u" } },
    42,
  );
  assert.deepEqual(follow, {
    key: KEY,
    target: {
      kind: "Deployment",
      generation: 5,
      images: [
        { container: "web", image: "app:v2", id: undefined },
        { container: "side", image: "side:dev", id: "b" },
      ],
      rolloutAnnotation: '{"x":"b"}',
    },
    startedAt: 42,
    uid: "u",
  });
});

/** A new pod whose container runs again after it crashed `ranMs` after it started. */
function restartedPod(ranMs: number): Pod {
  const started = new Date(T0 + 1_000).toISOString();
  const finished = new Date(T0 + 1_000 + ranMs).toISOString();
  return pod({
    name: "web-new-1",
    statuses: [cs("web", {
      restartCount: 1,
      lastState: {
        terminated: { exitCode: 1, reason: "Error", startedAt: started, finishedAt: finished },
      },
    })],
  });
}

Deno.test("a crash 4 s after the start, after the success was said, takes it back: a second line and an Event", async () => {
  const { lines, clock, reader, events, metrics, follower } = setup(progressing);
  reader.logText = "error: cannot open /etc/app.conf\n";
  follower.follow(request());
  await clock.advanceTo(1_000);
  reader.change(complete);
  await clock.advanceTo(1_000 + SETTLE_MS);
  assert.deepEqual(lines, ["INFO  Rolled out Deployment dev/web: 2/2 pods on app:v2 in 1.0 s\n"]);
  // The success line is as quick as before; the follow stays open through the crash window.
  assert.equal(follower.active, 1);
  await clock.advanceTo(5_000);
  reader.change({ workload: complete.workload, pods: [restartedPod(4_000)] });
  await clock.advanceTo(5_100);
  await follower.settled();
  const correction = "Rollout of Deployment dev/web to app:v2 crashed 4.0 s after it started, " +
    "after it was said to be rolled out: pod web-new-1 container web: Error, exited with code 1 " +
    "after 4 s, restarted 1 time; fix the program and build again";
  assert.deepEqual(lines.slice(1), [
    `ERROR ${correction} (its log is below)\n`,
    "ERROR     error: cannot open /etc/app.conf\n",
  ]);
  // The crashed run's log: the previous one, since the container runs again.
  assert.deepEqual(reader.logs, [{ pod: "web-new-1", container: "web", previous: true, lines: 5 }]);
  assert.deepEqual(events.map((e) => [e.reason, e.message]), [["RolloutFailed", correction]]);
  assert.equal(metrics.get("veryfreshpod_rollouts_total", { result: "crashed" }), 1);
});

Deno.test("the crash window after a success is 30 s by default, or minReadySeconds when longer", async (t) => {
  for (
    const [name, spec, windowMs] of [
      ["default", {}, CRASH_WINDOW_MS],
      ["minReadySeconds 45", { minReadySeconds: 45 }, 45_000],
    ] as const
  ) {
    await t.step(name, async () => {
      const done = {
        ...complete,
        workload: { ...complete.workload, spec: { replicas: 2, ...spec } },
      };
      const { lines, clock, follower, stop } = setup(done);
      follower.follow(request());
      await clock.advanceTo(SETTLE_MS);
      assert.equal(lines.length, 1);
      assert.equal(CRASH_WINDOW_MS, 30_000);
      await clock.advanceTo(SETTLE_MS + windowMs - 1);
      assert.equal(follower.active, 1);
      await clock.advanceTo(SETTLE_MS + windowMs);
      await settle();
      assert.equal(follower.active, 0);
      stop.abort();
    });
  }
});

Deno.test("a success after a failure records a RolledOut Event, for kubectl describe", async () => {
  const { clock, reader, events, follower } = setup({
    workload: progressing.workload,
    pods: [oldPod(), pod({ statuses: [crashLoop(1)] })],
  });
  follower.follow(request());
  await clock.advanceTo(100);
  await follower.settled();
  reader.set(complete);
  follower.follow({ ...request(), startedAt: T0 + 100 });
  await clock.advanceTo(100 + SETTLE_MS);
  await pastCrashWindow(clock);
  await follower.settled();
  assert.deepEqual(events.map((e) => [e.reason, e.type]), [
    ["RolloutFailed", "Warning"],
    ["RolledOut", "Normal"],
  ]);
  assert.match(events[1]!.message, /^Rolled out Deployment dev\/web: 2\/2 pods on app:v2/);
});

Deno.test("a paused Deployment is said at once with the command, and followed once resumed", async () => {
  const paused = {
    workload: { ...progressing.workload, spec: { replicas: 2, paused: true } },
    pods: [oldPod()],
  };
  const { lines, clock, reader, follower } = setup(paused, 10_000);
  follower.follow(request());
  await clock.advanceTo(0);
  assert.deepEqual(lines, [
    "WARN  Rollout of Deployment dev/web to app:v2 waits: the Deployment is paused " +
    "(spec.paused); to roll it: kubectl rollout resume deployment/web -n dev\n",
  ]);
  // Paused far longer than the bound: no timeout, nothing more said.
  await clock.advanceTo(60_000);
  assert.equal(lines.length, 1);
  reader.change(progressing);
  await clock.advanceTo(61_000);
  reader.change(complete);
  await clock.advanceTo(61_000 + SETTLE_MS);
  assert.match(
    lines[1]!,
    /^INFO {2}Rolled out Deployment dev\/web: 2\/2 pods on app:v2 in 61 s\n$/,
  );
});

Deno.test("resume() follows again the rollouts the records show within their bound, and says so", async () => {
  const { lines, clock, reader, follower, stop } = setup(progressing);
  const tracked = (name: string, at: number): TrackedWorkload => ({
    key: { ...KEY, name },
    resourceVersion: "9",
    uid: `uid-${name}`,
    labels: {},
    annotations: {
      [UPDATES_ANNOTATION]: JSON.stringify({
        web: { image: "app:v2", id: "sha256:0123456789abcdef", at: new Date(at).toISOString() },
      }),
    },
    templateAnnotations: {},
    containers: [{ name: "web", init: false, image: "app:v2", pullPolicy: undefined }],
    rollout: { generation: 2, spec: {}, status: {} },
  });
  reader.set(progressing, { ...KEY, name: "recent" });
  reader.set(progressing, { ...KEY, name: "old" });
  await clock.advanceTo(200_000);
  // Within the bound (progressDeadlineSeconds 600, and the crash window): followed again.
  const count = follower.resume([tracked("recent", T0 + 150_000), tracked("old", T0 - 500_000)]);
  assert.equal(count, 1);
  assert.deepEqual(lines, [
    "INFO  Following again 1 rollout under way at the last stop: Deployment dev/recent\n",
  ]);
  reader.change({ workload: progressing.workload, pods: [pod({ statuses: [crashLoop(1)] })] }, {
    ...KEY,
    name: "recent",
  });
  reader.changePods("recent", [pod({ statuses: [crashLoop(1)] })]);
  await clock.advanceTo(200_100);
  assert.match(
    lines[1]!,
    /^ERROR Rollout of Deployment dev\/recent to app:v2 \(0123456789ab\) failed after 50 s: /,
  );
  stop.abort();
  await follower.settled();
});

Deno.test("nothing is decided from the pods before the pod watch's first list", async () => {
  const onDelete = {
    workload: {
      metadata: { generation: 2, namespace: "dev" },
      spec: { replicas: 1, updateStrategy: { type: "OnDelete" } },
      status: { observedGeneration: 2 },
    },
    pods: [oldPod("web-0")],
  };
  const key: WorkloadKey = { ...KEY, kind: "StatefulSet" };
  const { lines, clock, reader, follower, stop } = setup(undefined);
  reader.set(onDelete, key);
  reader.podsListed = false;
  follower.follow(request({ kind: "StatefulSet" }, key));
  await clock.advanceTo(2_000);
  assert.deepEqual(lines, []);
  reader.podsListed = true;
  await clock.advanceTo(3_000);
  assert.deepEqual(lines, [
    "INFO  Updated StatefulSet dev/web to app:v2: its updateStrategy is OnDelete, so each pod " +
    "changes only once it is deleted (kubectl delete pod web-0 -n dev)\n",
  ]);
  stop.abort();
  await follower.settled();
});

Deno.test("a follow on hold sets no timer, and one said done waits for the crash window's end alone", async () => {
  const paused = {
    workload: { ...progressing.workload, spec: { replicas: 2, paused: true } },
    pods: [oldPod()],
  };
  const { clock, reader, follower } = setup(paused, 10_000);
  follower.follow(request());
  await clock.advanceTo(0);
  // A thousand Deployments scaled to zero would otherwise wake a thousand times a second.
  assert.deepEqual(clock.pending, [], "paused: only a change wakes the follow");
  reader.change(complete);
  await clock.advanceTo(SETTLE_MS);
  assert.equal(follower.active, 1, "said done, watched through the crash window");
  assert.equal(clock.pending.length, 1);
  assert.ok(
    clock.pending[0]! > 1_000,
    `one wait for the window's end, not a recheck each second: ${clock.pending}`,
  );
  await pastCrashWindow(clock);
  await follower.settled();
  assert.equal(follower.active, 0);
});

Deno.test("replacing and stopping follows adds no listener per follow and aborts none without a reason", async () => {
  const { clock, stop, follower } = setup(progressing);
  await clock.advanceTo(0);
  // A listener per follow on the stop signal makes each follow's start and end walk a list as
  // long as the fan-out; an abort without a reason builds a DOMException with its stack.
  let added = 0;
  const add = stop.signal.addEventListener.bind(stop.signal);
  stop.signal.addEventListener = ((...args: Parameters<typeof add>) => {
    added++;
    add(...args);
  }) as typeof add;
  const reasons: unknown[] = [];
  const abort = AbortController.prototype.abort;
  AbortController.prototype.abort = function (this: AbortController, reason?: unknown) {
    reasons.push(reason);
    abort.call(this, reason);
  };
  try {
    for (let i = 0; i < 100; i++) follower.follow({ ...request(), startedAt: T0 + i });
    await clock.advanceTo(100);
    assert.equal(follower.active, 1, "each follow replaced the one before");
    stop.abort("test");
    await follower.settled();
  } finally {
    AbortController.prototype.abort = abort;
  }
  assert.equal(follower.active, 0);
  assert.equal(added, 0, "no listener per follow on the stop signal");
  assert.ok(reasons.length >= 100, `the replaced follows and the stop: ${reasons.length}`);
  assert.deepEqual(reasons.filter((reason) => reason === undefined), []);
});
