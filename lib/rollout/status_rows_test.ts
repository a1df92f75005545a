import assert from "node:assert/strict";
import { ROLLOUT_ANNOTATION } from "../model/plan_types.ts";
import { crashLoop, cs, NOW, oldPod, pod } from "./fixtures_test.ts";
import type { Pod, WorkloadObject } from "./objects.ts";
import { UPDATES_ANNOTATION } from "../model/record.ts";
import { hasRecord, reportedDigest, type StatusRow, statusRows } from "./status_rows.ts";

const AT = "2026-11-25T11:58:00.000Z";
const RECORD = { image: "app:v2", id: "sha256:m4n1f35t", configId: "sha256:c0nf19", at: AT };

function web(
  status: Record<string, unknown>,
  record: object | null = { web: RECORD },
  image = "app:v2",
  templateAnnotations: Record<string, string> = {},
): WorkloadObject {
  return {
    metadata: {
      name: "web",
      namespace: "dev",
      generation: 2,
      annotations: record ? { [UPDATES_ANNOTATION]: JSON.stringify(record) } : {},
    },
    spec: {
      replicas: 2,
      template: {
        metadata: { annotations: templateAnnotations },
        spec: { containers: [{ name: "web", image }] },
      },
    },
    status: { observedGeneration: 2, ...status },
  };
}

/** A row as one line: what, state, pods. */
function line(row: StatusRow): string {
  const pods = row.pods ? `${row.pods.onImage}/${row.pods.total}` : "-";
  return `${row.kind} ${row.namespace}/${row.name} ${row.container} ${row.image} ${
    row.at ?? "-"
  } | ${row.rollout.state}: ${row.rollout.detail ?? ""} | pods ${pods}`;
}

const complete = { replicas: 2, updatedReplicas: 2, availableReplicas: 2 };

Deno.test("statusRows() tells each changed container's rollout and which pods run its image", async (t) => {
  const cases: Array<[string, WorkloadObject, Pod[], string[]]> = [
    [
      "a finished rollout whose pods report the config digest (containerd)",
      web(complete),
      [pod({ name: "web-1" }), pod({ name: "web-2" })],
      [`Deployment dev/web web app:v2 ${AT} | done: 2/2 ready | pods 2/2`],
    ],
    [
      "pods that report the manifest digest as a repo digest count too",
      web(complete),
      [
        pod({
          name: "web-1",
          statuses: [cs("web", { imageID: "docker.io/library/app@sha256:m4n1f35t" })],
        }),
        pod({
          name: "web-2",
          statuses: [cs("web", { imageID: "docker-pullable://app@sha256:m4n1f35t" })],
        }),
      ],
      [`Deployment dev/web web app:v2 ${AT} | done: 2/2 ready | pods 2/2`],
    ],
    [
      "a pod on the same tag but another image ID does not run what was set",
      web(complete),
      [
        pod({ name: "web-1" }),
        pod({ name: "web-2", statuses: [cs("web", { imageID: "sha256:0ther" })] }),
      ],
      [`Deployment dev/web web app:v2 ${AT} | done: 2/2 ready | pods 1/2`],
    ],
    [
      "a rollout in progress says what it waits for",
      web({ replicas: 3, updatedReplicas: 1, availableReplicas: 2 }),
      [oldPod("web-old-1"), oldPod("web-old-2"), pod({ name: "web-1" })],
      [
        `Deployment dev/web web app:v2 ${AT} | in progress: 1/2 ready; waiting for 2 old pods ` +
        "still running | pods 1/3",
      ],
    ],
    [
      "a failing rollout gives the pod's reason",
      web({ replicas: 3, updatedReplicas: 1, availableReplicas: 2 }),
      [oldPod("web-old-1"), oldPod("web-old-2"), pod({ name: "web-1", statuses: [crashLoop(1)] })],
      [
        `Deployment dev/web web app:v2 ${AT} | failing: pod web-1 container web: CrashLoopBackOff, ` +
        "exited with code 1, restarted 3 times; fix the program and build " +
        "again | pods 0/3",
      ],
    ],
    [
      "a workload someone moved to another image since",
      web(complete, { web: RECORD }, "app:v3"),
      [pod({ name: "web-1", image: "app:v3" })],
      [`Deployment dev/web web app:v2 ${AT} | replaced: the workload now runs app:v3 | pods 0/1`],
    ],
    [
      "a workload rolled before the record existed shows the rollout annotation's IDs",
      web(complete, null, "app:v2", {
        [ROLLOUT_ANNOTATION]: '{"docker.io/library/app:v2":"sha256:c0nf19"}',
      }),
      [
        pod({ name: "web-1", record: '{"docker.io/library/app:v2":"sha256:c0nf19"}' }),
        pod({ name: "web-2", record: '{"docker.io/library/app:v2":"sha256:c0nf19"}' }),
      ],
      ["Deployment dev/web web app:v2 - | done: 2/2 ready | pods 2/2"],
    ],
  ];
  for (const [name, workload, pods, expected] of cases) {
    await t.step(name, () => {
      assert.deepEqual(statusRows("Deployment", workload, pods, NOW).map(line), expected);
    });
  }
});

Deno.test("statusRows() says a CronJob's next Job uses the image, without pods", () => {
  const cron: WorkloadObject = {
    metadata: {
      name: "nightly",
      namespace: "dev",
      annotations: { [UPDATES_ANNOTATION]: JSON.stringify({ job: { image: "app:v2", at: AT } }) },
    },
    spec: {
      schedule: "0 0 1 1 *",
      jobTemplate: {
        spec: { template: { spec: { containers: [{ name: "job", image: "app:v2" }] } } },
      },
    },
  };
  assert.equal(hasRecord("CronJob", cron), true);
  assert.deepEqual(statusRows("CronJob", cron, [], NOW).map(line), [
    `CronJob dev/nightly job app:v2 ${AT} | deferred: its next Job will use it, at 2027-01-01 ` +
    '00:00 UTC (schedule "0 0 1 1 *"); to run one now: kubectl create job nightly-now ' +
    "--from=cronjob/nightly -n dev | pods -",
  ]);
});

Deno.test("hasRecord() is false for workloads veryfreshpod never changed", () => {
  assert.equal(hasRecord("Deployment", web(complete, null)), false);
  assert.equal(hasRecord("Deployment", web(complete)), true);
});

Deno.test("reportedDigest() reads every imageID form a kubelet reports", () => {
  assert.equal(reportedDigest("sha256:abc"), "sha256:abc");
  assert.equal(reportedDigest("docker.io/library/app@sha256:abc"), "sha256:abc");
  assert.equal(reportedDigest("docker-pullable://app@sha256:abc"), "sha256:abc");
  assert.equal(reportedDigest("docker://sha256:abc"), "sha256:abc");
  assert.equal(reportedDigest(""), undefined);
});

Deno.test("statusRows() shows the image restore would put back, none for a container changed by hand", () => {
  const record = { web: { ...RECORD, original: "app:test" } };
  const [kept] = statusRows("Deployment", web(complete, record), [], NOW);
  assert.equal(kept!.original, "app:test");
  const [byHand] = statusRows("Deployment", web(complete, record, "app:v3"), [], NOW);
  assert.equal(byHand!.original, undefined);
  const [old] = statusRows("Deployment", web(complete), [], NOW);
  assert.equal(old!.original, undefined, "a record that predates the original");
});
