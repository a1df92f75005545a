/**
 * The plan through the cluster's registry: which workloads pull from it, what
 * they are moved to (the pushed build, pinned by digest), and what is left.
 */
import assert from "node:assert/strict";
import type { ImageSnapshot, TagChanged } from "../model/image_snapshot.ts";
import { splitImageKey } from "../model/image_ref.ts";
import type { TrackedContainer, TrackedWorkload } from "../model/workload.ts";
import { DEFAULT_EXCLUDED_NAMESPACES, plan, type PlanOptions } from "./plan.ts";
import { awaitingPush } from "../model/plan_types.ts";

const ID1 = `sha256:${"1".repeat(64)}`;
const ID2 = `sha256:${"2".repeat(64)}`;
const PUSHED1 = `sha256:${"a".repeat(64)}`;
const PUSHED2 = `sha256:${"b".repeat(64)}`;

function workload(image: string, name = "web"): TrackedWorkload {
  const container: TrackedContainer = {
    name: "app",
    init: false,
    image,
    pullPolicy: "IfNotPresent",
  };
  return {
    key: { kind: "Deployment", namespace: "default", name },
    resourceVersion: "7",
    labels: {},
    annotations: {},
    templateAnnotations: {},
    containers: [container],
  };
}

function change(key: string, id: string, previousId?: string): TagChanged {
  const { repository, tag } = splitImageKey(key)!;
  const kind = previousId === undefined ? "added" : "moved";
  return { kind, key, repository, tag, id, previousId, fromRegistry: false };
}

function options(pushed: Record<string, string> = {}): PlanOptions {
  return {
    namespaces: [],
    excludeNamespaces: DEFAULT_EXCLUDED_NAMESPACES,
    registry: {
      host: "localhost:5001",
      fromRuntime: "kind-registry:5000",
      pushed: (key, id) => pushed[`${key} ${id}`],
    },
  };
}

function snapshotOf(changes: TagChanged[]): ImageSnapshot {
  return new Map(changes.map((c) => [c.key, { id: c.id, fromRegistry: false }]));
}

/** `name: from -> to` per image update, and whether the update waits for its push. */
function outcome(changes: TagChanged[], workloads: TrackedWorkload[], opts: PlanOptions) {
  return plan(changes, workloads, snapshotOf(changes), opts).updates.map((u) => {
    const i = u.imageUpdates[0]!;
    return `${u.workload.name}: ${i.from} -> ${i.to}${awaitingPush(u) ? " (awaiting push)" : ""}`;
  });
}

Deno.test("a new tag in the engine, tagged either way, moves registry workloads to the pushed build", () => {
  for (const key of ["docker.io/library/app:v2", "localhost:5001/app:v2"]) {
    const changes = [change(key, ID2)];
    const workloads = [
      workload("localhost:5001/app:v1", "by-host"),
      workload("kind-registry:5000/app:v1", "by-runtime-name"),
      workload("other.example.com/app:v1", "other-registry"),
    ];
    assert.deepEqual(outcome(changes, workloads, options()), [
      "by-host: localhost:5001/app:v1 -> kind-registry:5000/app:v2 (awaiting push)",
      "by-runtime-name: kind-registry:5000/app:v1 -> kind-registry:5000/app:v2 (awaiting push)",
    ], key);
    const pinned = options({ [`${key} ${ID2}`]: PUSHED2 });
    assert.deepEqual(outcome(changes, workloads, pinned), [
      `by-host: localhost:5001/app:v1 -> kind-registry:5000/app:v2@${PUSHED2}`,
      `by-runtime-name: kind-registry:5000/app:v1 -> kind-registry:5000/app:v2@${PUSHED2}`,
    ], key);
  }
});

Deno.test("the update records the push and the digest the nodes will report", () => {
  const key = "docker.io/library/app:v2";
  const [update] = plan(
    [change(key, ID2)],
    [workload("localhost:5001/app:v1")],
    snapshotOf([change(key, ID2)]),
    options({ [`${key} ${ID2}`]: PUSHED2 }),
  ).updates;
  assert.deepEqual(update!.imageUpdates[0], {
    container: "app",
    init: false,
    from: "localhost:5001/app:v1",
    to: `kind-registry:5000/app:v2@${PUSHED2}`,
    id: PUSHED2,
    configId: ID2,
    push: { source: key, id: ID2, repository: "app", tag: "v2", digest: PUSHED2 },
  });
  assert.equal(update!.rolloutAnnotation, undefined, "a new digest rolls without the annotation");
});

Deno.test("a workload veryfreshpod pinned stays updatable: a rebuild of its tag is a new digest", () => {
  const key = "docker.io/library/app:v2";
  const rebuilt = [change(key, ID2, ID1)];
  const running = workload(`kind-registry:5000/app:v2@${PUSHED1}`);
  assert.deepEqual(outcome(rebuilt, [running], options({ [`${key} ${ID2}`]: PUSHED2 })), [
    `web: kind-registry:5000/app:v2@${PUSHED1} -> kind-registry:5000/app:v2@${PUSHED2}`,
  ]);
  // Already on what the push gave: nothing to do.
  const current = workload(`kind-registry:5000/app:v2@${PUSHED2}`);
  assert.deepEqual(outcome(rebuilt, [current], options({ [`${key} ${ID2}`]: PUSHED2 })), []);
});

Deno.test("left alone: a bare digest pin, repositories the registry does not serve, no registry", () => {
  const changes = [change("docker.io/library/app:v2", ID2)];
  const workloads = [
    workload(`kind-registry:5000/app@${PUSHED1}`, "bare-digest"),
    workload("kind-registry:5000/other:v1", "other-repository"),
    workload(`app:v1@${PUSHED1}`, "hub-pinned"),
  ];
  const result = plan(changes, workloads, snapshotOf(changes), options());
  assert.deepEqual(result.updates, []);
  assert.ok(
    result.skipped.some((s) => s.workload?.name === "bare-digest" && /digest alone/.test(s.reason)),
  );
  // Without a registry, registry references are plain references as before.
  const plain = plan(changes, [workload("localhost:5001/app:v1")], snapshotOf(changes), {
    namespaces: [],
    excludeNamespaces: [],
  });
  assert.deepEqual(plain.updates, []);
});

Deno.test("local workloads of the same repository still get the tag as before, beside registry ones", () => {
  const changes = [change("docker.io/library/app:v2", ID2)];
  assert.deepEqual(
    outcome(
      changes,
      [workload("app:v1", "local"), workload("localhost:5001/app:v1", "remote")],
      options(),
    ),
    [
      "local: app:v1 -> app:v2",
      "remote: localhost:5001/app:v1 -> kind-registry:5000/app:v2 (awaiting push)",
    ],
  );
});

Deno.test("of several new tags for a registry repository, the one tagged last wins, latest last", () => {
  const changes = [
    { ...change("docker.io/library/app:v9", ID1), time: 1 },
    { ...change("localhost:5001/app:v10", ID2), time: 2 },
    { ...change("docker.io/library/app:latest", ID2), time: 2 },
  ];
  assert.deepEqual(outcome(changes, [workload("localhost:5001/app:v1")], options()), [
    "web: localhost:5001/app:v1 -> kind-registry:5000/app:v10 (awaiting push)",
  ]);
});
