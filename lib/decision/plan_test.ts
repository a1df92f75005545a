import assert from "node:assert/strict";
import type {
  ImageChange,
  ImageSnapshot,
  TagChanged,
  TaggedImage,
} from "../model/image_snapshot.ts";
import { splitImageKey } from "../model/image_ref.ts";
import type { TrackedContainer, TrackedWorkload } from "../model/workload.ts";
import {
  DEFAULT_EXCLUDED_NAMESPACES,
  naturalCompare,
  plan,
  planMissedRebuilds,
  type PlanOptions,
  type PlanResult,
} from "./plan.ts";
import { ENABLED_ANNOTATION, IGNORE_ANNOTATION, ROLLOUT_ANNOTATION } from "../model/plan_types.ts";

const APP = "docker.io/library/app";
const OPTIONS: PlanOptions = { namespaces: [], excludeNamespaces: DEFAULT_EXCLUDED_NAMESPACES };
const DIGEST = `sha256:${"0123456789abcdef".repeat(4)}`;

/** A container; `init` and `pullPolicy` via the second argument. */
function c(image: string, extra: Partial<TrackedContainer> = {}): TrackedContainer {
  return { name: "web", init: false, image, pullPolicy: "IfNotPresent", ...extra };
}

/** A Deployment default/web running `containers`, overridable. */
function w(
  containers: TrackedContainer[],
  extra: Partial<Omit<TrackedWorkload, "key">> & { name?: string; namespace?: string } = {},
): TrackedWorkload {
  const { name = "web", namespace = "default", ...rest } = extra;
  return {
    key: { kind: "Deployment", namespace, name },
    resourceVersion: "7",
    labels: {},
    annotations: {},
    templateAnnotations: {},
    containers,
    ...rest,
  };
}

function change(kind: "added" | "moved", key: string, id: string, previousId?: string) {
  const { repository, tag } = splitImageKey(key)!;
  return { kind, key, repository, tag, id, previousId, fromRegistry: false } as TagChanged;
}
const added = (key: string, id: string) => change("added", key, id);
const moved = (key: string, id: string, previousId: string) => change("moved", key, id, previousId);

/** The snapshot after the changes: their tags plus `extra` (id, or full entry). */
function after(changes: ImageChange[], extra: Record<string, string | TaggedImage> = {}) {
  const map = new Map<string, TaggedImage>();
  for (const ch of changes) {
    if (ch.kind !== "removed") map.set(ch.key, { id: ch.id, fromRegistry: ch.fromRegistry });
  }
  for (const [key, v] of Object.entries(extra)) {
    map.set(key, typeof v === "string" ? { id: v, fromRegistry: false } : v);
  }
  return map as ImageSnapshot;
}

/** One line per decision, so a table row states the whole outcome readably. */
function summary(result: PlanResult): string[] {
  const lines: string[] = [];
  for (const u of result.updates) {
    const who =
      `${u.workload.kind} ${u.workload.namespace}/${u.workload.name}@${u.resourceVersion}`;
    for (const i of u.imageUpdates) {
      lines.push(`${who} update ${i.init ? "init " : ""}${i.container}: ${i.from} -> ${i.to}`);
    }
    for (const r of u.rebuilds) {
      const ids = `${r.previousId ?? "none"} -> ${r.id}`;
      lines.push(`${who} rebuild ${r.init ? "init " : ""}${r.container}: ${r.image} ${ids}`);
    }
    if (u.rolloutAnnotation !== undefined) lines.push(`${who} record ${u.rolloutAnnotation}`);
    for (const warning of u.warnings) lines.push(`${who} warning ${warning}`);
  }
  return lines;
}

interface Case {
  name: string;
  changes: ImageChange[];
  workloads: TrackedWorkload[];
  /** Extra snapshot entries on top of the changes' own. */
  snapshot?: Record<string, string | TaggedImage>;
  options?: PlanOptions;
  expected: string[];
}

/** `change` with the engine's time for it. */
function at(change: TagChanged, time: number): TagChanged {
  return { ...change, time };
}

async function runCases(t: Deno.TestContext, cases: Case[]) {
  for (const k of cases) {
    await t.step(k.name, () => {
      const result = plan(
        k.changes,
        k.workloads,
        after(k.changes, k.snapshot),
        k.options ?? OPTIONS,
      );
      assert.deepEqual(summary(result), k.expected);
    });
  }
}

const D = "Deployment default/web@7";

Deno.test("a new tag moves every container on another tag of the repository", async (t) => {
  await runCases(t, [
    {
      name: "a container on another tag is moved to the new tag",
      changes: [added(`${APP}:v2`, "sha256:2")],
      workloads: [w([c("app:v1")])],
      expected: [`${D} update web: app:v1 -> app:v2`],
    },
    {
      name: "a container with no tag is moved, keeping its spelling",
      changes: [added(`${APP}:v2`, "sha256:2")],
      workloads: [w([c("app")])],
      expected: [`${D} update web: app -> app:v2`],
    },
    {
      name: "a fully qualified spelling stays fully qualified",
      changes: [added(`${APP}:v2`, "sha256:2")],
      workloads: [w([c("docker.io/library/app:v1")]), w([c("index.docker.io/app")], { name: "b" })],
      expected: [
        "Deployment default/b@7 update web: index.docker.io/app -> index.docker.io/app:v2",
        `${D} update web: docker.io/library/app:v1 -> docker.io/library/app:v2`,
      ],
    },
    {
      name: "a registry repository is another repository than the Docker Hub one",
      changes: [added("localhost:5000/app:v2", "sha256:2")],
      workloads: [w([c("localhost:5000/app:v1"), c("app:v1", { name: "hub" })])],
      expected: [`${D} update web: localhost:5000/app:v1 -> localhost:5000/app:v2`],
    },
    {
      name: "containers of other repositories are untouched and give no update",
      changes: [added(`${APP}:v2`, "sha256:2")],
      workloads: [w([c("other:v1"), c("team/app:v1", { name: "b" })])],
      expected: [],
    },
    {
      name: "a rebuilt latest moves containers on other tags to latest",
      changes: [moved(`${APP}:latest`, "sha256:2", "sha256:1")],
      workloads: [w([c("app:v1")])],
      expected: [`${D} update web: app:v1 -> app:latest`],
    },
    {
      name: "a container whose tag already names the new image is left alone",
      changes: [added(`${APP}:v2`, "sha256:1")],
      snapshot: { [`${APP}:v1`]: "sha256:1" },
      workloads: [w([c("app:v1")])],
      expected: [],
    },
    {
      name: "a container whose tag is not in the snapshot is moved",
      changes: [added(`${APP}:v2`, "sha256:2")],
      workloads: [w([c("app:gone")])],
      expected: [`${D} update web: app:gone -> app:v2`],
    },
    {
      name: "containers and initContainers of one workload make one update",
      changes: [added(`${APP}:v2`, "sha256:2")],
      workloads: [w([
        c("app:v1", { name: "migrate", init: true }),
        c("app:v0"),
        c("busybox", { name: "sidecar" }),
      ])],
      expected: [
        `${D} update init migrate: app:v1 -> app:v2`,
        `${D} update web: app:v0 -> app:v2`,
      ],
    },
    {
      name: "a batch with only removals does nothing",
      changes: [{ kind: "removed", key: `${APP}:v1`, repository: APP, tag: "v1", previousId: "x" }],
      workloads: [w([c("app:v1")])],
      expected: [],
    },
    {
      name: "an empty batch does nothing",
      changes: [],
      workloads: [w([c("app:v1")])],
      expected: [],
    },
    {
      name: "updates come sorted by kind, namespace and name",
      changes: [added(`${APP}:v2`, "sha256:2")],
      workloads: [
        w([c("app:v1")], { name: "z" }),
        {
          ...w([c("app:v1")], { name: "a" }),
          key: { kind: "StatefulSet", namespace: "a", name: "a" },
        },
        w([c("app:v1")], { name: "a", namespace: "b" }),
      ],
      expected: [
        "Deployment b/a@7 update web: app:v1 -> app:v2",
        "Deployment default/z@7 update web: app:v1 -> app:v2",
        "StatefulSet a/a@7 update web: app:v1 -> app:v2",
      ],
    },
  ]);
});

Deno.test("one build is one rollout", async (t) => {
  const build = [added(`${APP}:v2`, "sha256:2"), moved(`${APP}:latest`, "sha256:2", "sha256:1")];
  await runCases(t, [
    {
      name: "build -t app:v2 -t app:latest moves other tags to v2, not latest",
      changes: build,
      workloads: [w([c("app:v1")])],
      expected: [`${D} update web: app:v1 -> app:v2`],
    },
    {
      name: "the same build in the other order chooses v2 as well",
      changes: [...build].reverse(),
      workloads: [w([c("app:v1")])],
      expected: [`${D} update web: app:v1 -> app:v2`],
    },
    {
      name: "a workload on latest is rolled once, by the rebuild, not moved to v2",
      changes: build,
      workloads: [w([c("app:latest")])],
      expected: [
        `${D} rebuild web: app:latest sha256:1 -> sha256:2`,
        `${D} record {"${APP}:latest":"sha256:2"}`,
      ],
    },
    {
      name: "several tags other than latest for one image: the newest wins",
      changes: [
        at(added(`${APP}:v2`, "sha256:2"), 1),
        at(added(`${APP}:stable`, "sha256:2"), 2),
        ...build,
      ],
      workloads: [w([c("app:v1")])],
      expected: [`${D} update web: app:v1 -> app:stable`],
    },
    {
      name: "several tags other than latest for one image, no times: the last in natural order",
      changes: [added(`${APP}:v10`, "sha256:2"), added(`${APP}:v9`, "sha256:2")],
      workloads: [w([c("app:v1")])],
      expected: [`${D} update web: app:v1 -> app:v10`],
    },
    {
      name: "only latest for the newest image: latest is the target",
      changes: [
        at(added(`${APP}:v2`, "sha256:9"), 1),
        at(moved(`${APP}:latest`, "sha256:2", "sha256:1"), 2),
      ],
      workloads: [w([c("app:v1")])],
      expected: [`${D} update web: app:v1 -> app:latest`],
    },
    {
      name: "several images for one repository, no times: the later tag decides",
      changes: [added(`${APP}:v2`, "sha256:2"), added(`${APP}:v3`, "sha256:3")],
      workloads: [w([c("app:v1")]), w([c("app:v2")], { name: "b" })],
      expected: [
        "Deployment default/b@7 update web: app:v2 -> app:v3",
        `${D} update web: app:v1 -> app:v3`,
      ],
    },
    {
      name: "a container that is moved to a new tag is not also rebuilt",
      changes: [moved(`${APP}:latest`, "sha256:1", "sha256:0"), added(`${APP}:v2`, "sha256:2")],
      workloads: [w([c("app:latest")])],
      expected: [`${D} update web: app:latest -> app:v2`],
    },
    {
      name: "repositories in one batch are decided independently",
      changes: [added(`${APP}:v2`, "sha256:2"), added("docker.io/library/db:v9", "sha256:9")],
      workloads: [w([c("app:v1"), c("db:v1", { name: "db" })])],
      expected: [`${D} update web: app:v1 -> app:v2`, `${D} update db: db:v1 -> db:v9`],
    },
  ]);
});

Deno.test("the tag made last wins", async (t) => {
  const v9 = added(`${APP}:v9`, "sha256:9");
  const v10 = added(`${APP}:v10`, "sha256:10");
  await runCases(t, [
    {
      name: "tag a R:v9; tag b R:v10 (the events' times): v10",
      // In key order, as diffSnapshots gives them: "v10" sorts before "v9".
      changes: [at(v10, 2_000.5), at(v9, 2_000.25)],
      workloads: [w([c("app:v1")])],
      expected: [`${D} update web: app:v1 -> app:v10`],
    },
    {
      name: "tag b R:v10; tag a R:v9: v9, whatever the names say",
      changes: [at(v10, 1_000), at(v9, 2_000)],
      workloads: [w([c("app:v1")])],
      expected: [`${D} update web: app:v1 -> app:v9`],
    },
    {
      name: "no times: never v9 over v10",
      changes: [v10, v9],
      workloads: [w([c("app:v1")])],
      expected: [`${D} update web: app:v1 -> app:v10`],
    },
    {
      name: "equal times: the natural order decides",
      changes: [at(v10, 5), at(v9, 5)],
      workloads: [w([c("app:v1")])],
      expected: [`${D} update web: app:v1 -> app:v10`],
    },
    {
      name: "a tag with a time beats one without",
      changes: [v10, at(v9, 5)],
      workloads: [w([c("app:v1")])],
      expected: [`${D} update web: app:v1 -> app:v9`],
    },
    {
      name: "200 builds v1..v200 in one read, in key order, no times: v200 (not v99)",
      changes: Array.from({ length: 200 }, (_, i) => added(`${APP}:v${i + 1}`, `sha256:${i + 1}`))
        .sort((a, b) => (a.key < b.key ? -1 : 1)),
      workloads: [w([c("app:v0")])],
      expected: [`${D} update web: app:v0 -> app:v200`],
    },
    {
      name: "200 builds with times out of name order: the last made",
      changes: Array.from(
        { length: 200 },
        (_, i) => at(added(`${APP}:v${i + 1}`, `sha256:${i + 1}`), i === 41 ? 1e9 : i),
      ),
      workloads: [w([c("app:v0")])],
      expected: [`${D} update web: app:v0 -> app:v42`],
    },
  ]);
});

Deno.test("naturalCompare() orders runs of digits by value", () => {
  const sorted = ["v10", "v9", "v1", "v10a", "v2-rc1", "v2", "a", "v010", "1.10", "1.9"]
    .sort(naturalCompare);
  assert.deepEqual(sorted, ["1.9", "1.10", "a", "v1", "v2", "v2-rc1", "v9", "v010", "v10", "v10a"]);
  assert.equal(naturalCompare("v" + "9".repeat(40), "v1" + "0".repeat(40)), -1, "beyond 2^53");
  assert.equal(naturalCompare("v1", "v1"), 0);
});

Deno.test("a rebuild rolls only workloads that ran the tag before it", async (t) => {
  const seen = (change: TagChanged, seenAt: number): TagChanged => ({ ...change, seenAt });
  const since = (image: string, time: number) => c(image, { since: time });
  await runCases(t, [
    {
      name: "a Deployment applied 0.1 s after its image was built is not rolled",
      changes: [seen(added(`${APP}:v1`, "sha256:2"), 1_000)],
      workloads: [w([since("app:v1", 1_100)])],
      expected: [],
    },
    {
      name: "one that was there before the build is rolled",
      changes: [seen(added(`${APP}:v1`, "sha256:2"), 1_000)],
      workloads: [w([since("app:v1", 900)])],
      expected: [
        `${D} rebuild web: app:v1 none -> sha256:2`,
        `${D} record {"${APP}:v1":"sha256:2"}`,
      ],
    },
    {
      name: "a rebuilt tag rolls only the workloads seen before the rebuild",
      changes: [seen(moved(`${APP}:v1`, "sha256:2", "sha256:1"), 1_000)],
      workloads: [w([since("app:v1", 1_000)]), w([since("app:v1", 999)], { name: "old" })],
      expected: [
        "Deployment default/old@7 rebuild web: app:v1 sha256:1 -> sha256:2",
        `Deployment default/old@7 record {"${APP}:v1":"sha256:2"}`,
      ],
    },
    {
      name: "moving another tag to the new one does not depend on when it was seen",
      changes: [seen(added(`${APP}:v2`, "sha256:2"), 1_000)],
      workloads: [w([since("app:v1", 2_000)])],
      expected: [`${D} update web: app:v1 -> app:v2`],
    },
  ]);
});

Deno.test("a rebuilt tag rolls the workloads running exactly that tag", async (t) => {
  const rebuilt = [moved(`${APP}:v1`, "sha256:2", "sha256:1")];
  const record = (value: string) => ({ templateAnnotations: { [ROLLOUT_ANNOTATION]: value } });
  await runCases(t, [
    {
      name: "a moved tag rolls a container on it and records the new image ID",
      changes: rebuilt,
      workloads: [w([c("app:v1")])],
      expected: [
        `${D} rebuild web: app:v1 sha256:1 -> sha256:2`,
        `${D} record {"${APP}:v1":"sha256:2"}`,
      ],
    },
    {
      name: "any spelling of the same tag matches, and is reported as spelled",
      changes: [moved(`${APP}:latest`, "sha256:2", "sha256:1")],
      workloads: [w([c("docker.io/library/app")])],
      expected: [
        `${D} rebuild web: docker.io/library/app sha256:1 -> sha256:2`,
        `${D} record {"${APP}:latest":"sha256:2"}`,
      ],
    },
    {
      name: "an added tag rolls a workload that ran it before it existed",
      changes: [added(`${APP}:v1`, "sha256:2")],
      workloads: [w([c("app:v1")])],
      expected: [
        `${D} rebuild web: app:v1 none -> sha256:2`,
        `${D} record {"${APP}:v1":"sha256:2"}`,
      ],
    },
    {
      name: "nothing happens when the record already names the new image",
      changes: rebuilt,
      workloads: [w([c("app:v1")], record(`{"${APP}:v1":"sha256:2"}`))],
      expected: [],
    },
    {
      name: "other entries of the record are kept, in key order",
      changes: rebuilt,
      workloads: [w([c("app:v1")], record(`{"z:1":"a","${APP}:v1":"sha256:1","a:1":"b"}`))],
      expected: [
        `${D} rebuild web: app:v1 sha256:1 -> sha256:2`,
        `${D} record {"a:1":"b","${APP}:v1":"sha256:2","z:1":"a"}`,
      ],
    },
    ...["not json", "[1]", "null", '"s"', '{"a":1}'].map((value) => ({
      name: `an unreadable record (${value}) is replaced, with a warning`,
      changes: rebuilt,
      workloads: [w([c("app:v1")], record(value))],
      expected: [
        `${D} rebuild web: app:v1 sha256:1 -> sha256:2`,
        `${D} record {"${APP}:v1":"sha256:2"}`,
        `${D} warning pod-template annotation ${ROLLOUT_ANNOTATION} was not a JSON object of ` +
        "image IDs; it is replaced",
      ],
    })),
    {
      name: "two containers on the tag are both rolled, with one record entry",
      changes: rebuilt,
      workloads: [w([c("app:v1", { name: "a", init: true }), c("app:v1", { name: "b" })])],
      expected: [
        `${D} rebuild init a: app:v1 sha256:1 -> sha256:2`,
        `${D} rebuild b: app:v1 sha256:1 -> sha256:2`,
        `${D} record {"${APP}:v1":"sha256:2"}`,
      ],
    },
    {
      name: "a rebuild and a move in one workload make one update",
      changes: [...rebuilt, added("docker.io/library/db:v2", "sha256:9")],
      workloads: [w([c("app:v1"), c("db:v1", { name: "db" })])],
      expected: [
        `${D} update db: db:v1 -> db:v2`,
        `${D} rebuild web: app:v1 sha256:1 -> sha256:2`,
        `${D} record {"${APP}:v1":"sha256:2"}`,
      ],
    },
  ]);
});

Deno.test("some references and workloads are left alone and reported", async (t) => {
  const batch = [added(`${APP}:v2`, "sha256:2")];
  const skips = (
    workloads: TrackedWorkload[],
    options: PlanOptions = OPTIONS,
    changes: ImageChange[] = batch,
  ) => plan(changes, workloads, after(changes), options);
  await t.step("a reference pinned by digest is untouched", () => {
    const result = skips([w([c(`app@${DIGEST}`), c(`app:v1@${DIGEST}`, { name: "b" })])]);
    assert.deepEqual(result.updates, []);
    assert.deepEqual(result.skipped.map((s) => [s.container, s.reason]), [
      ["web", "the image is pinned by digest"],
      ["b", "the image is pinned by digest"],
    ]);
    assert.equal(result.skipped[0]?.image, `app@${DIGEST}`);
  });
  await t.step("a reference pinned by digest to another repository is not reported", () => {
    assert.deepEqual(skips([w([c(`other@${DIGEST}`)])]).skipped, []);
  });
  await t.step("an invalid reference is reported and the rest of the workload updated", () => {
    const result = skips([w([c("Bad:Ref"), c("app:v1", { name: "ok" })])]);
    assert.deepEqual(summary(result), [`${D} update ok: app:v1 -> app:v2`]);
    assert.deepEqual(result.skipped, [{
      workload: { kind: "Deployment", namespace: "default", name: "web" },
      container: "web",
      image: "Bad:Ref",
      reason: 'Invalid image reference "Bad:Ref": repository name must be lowercase',
    }]);
  });
  await t.step("an excluded namespace is reported when it uses the repository", () => {
    const result = skips([
      w([c("app:v1")], { namespace: "kube-system" }),
      w([c("other:v1")], { namespace: "kube-public" }),
    ]);
    assert.deepEqual(result.updates, []);
    assert.deepEqual(result.skipped, [{
      workload: { kind: "Deployment", namespace: "kube-system", name: "web" },
      reason: "namespace kube-system is excluded",
    }]);
  });
  await t.step("only the listed namespaces are touched when some are listed", () => {
    const options = { namespaces: ["dev"], excludeNamespaces: [] };
    const result = skips([w([c("app:v1")], { namespace: "dev" }), w([c("app:v1")])], options);
    assert.deepEqual(summary(result), ["Deployment dev/web@7 update web: app:v1 -> app:v2"]);
    assert.deepEqual(result.skipped.map((s) => s.reason), [
      "namespace default is not among the watched namespaces",
    ]);
  });
  await t.step("an exclusion wins over a listed namespace", () => {
    const options = { namespaces: ["dev"], excludeNamespaces: ["dev"] };
    const result = skips([w([c("app:v1")], { namespace: "dev" })], options);
    assert.deepEqual(result.updates, []);
    assert.deepEqual(result.skipped.map((s) => s.reason), ["namespace dev is excluded"]);
  });
  for (const [value, ignored] of [["true", true], ["True", true], ["false", false], ["", false]]) {
    await t.step(`the ignore annotation "${value}" ${ignored ? "opts out" : "does not"}`, () => {
      const result = skips([
        w([c("app:v1")], { annotations: { [IGNORE_ANNOTATION]: `${value}` } }),
      ]);
      assert.equal(result.updates.length, ignored ? 0 : 1);
      assert.deepEqual(
        result.skipped.map((s) => s.reason),
        ignored ? [`annotation ${IGNORE_ANNOTATION} is "true"`] : [],
      );
    });
  }
  await t.step("the ignore annotation also opts out of rebuilds", () => {
    const changes = [moved(`${APP}:v1`, "sha256:2", "sha256:1")];
    const annotations = { [IGNORE_ANNOTATION]: "true" };
    assert.deepEqual(skips([w([c("app:v1")], { annotations })], OPTIONS, changes).updates, []);
  });
  await t.step("--opt-in touches only workloads annotated enabled, for tags and rebuilds", () => {
    const options = { ...OPTIONS, optIn: true };
    const enabled = { annotations: { [ENABLED_ANNOTATION]: "true" } };
    const result = skips([
      w([c("app:v1")], { ...enabled, name: "on" }),
      w([c("app:v1")], { annotations: { [ENABLED_ANNOTATION]: "false" }, name: "off" }),
      w([c("app:v1")], { name: "unmarked" }),
    ], options);
    assert.deepEqual(summary(result), ["Deployment default/on@7 update web: app:v1 -> app:v2"]);
    assert.deepEqual(result.skipped.map((s) => `${s.workload?.name}: ${s.reason}`), [
      `off: annotation ${ENABLED_ANNOTATION} is not "true" (--opt-in)`,
      `unmarked: annotation ${ENABLED_ANNOTATION} is not "true" (--opt-in)`,
    ]);
    const rebuilt = [moved(`${APP}:v1`, "sha256:2", "sha256:1")];
    assert.equal(skips([w([c("app:v1")])], options, rebuilt).updates.length, 0);
    assert.equal(skips([w([c("app:v1")], enabled)], options, rebuilt).updates.length, 1);
    // The ignore annotation still wins.
    const both = { annotations: { [ENABLED_ANNOTATION]: "true", [IGNORE_ANNOTATION]: "true" } };
    assert.equal(skips([w([c("app:v1")], both)], options).updates.length, 0);
  });
  await t.step("an invalid tag from the engine is reported, not acted on", () => {
    const bad = { ...added(`${APP}:v2`, "sha256:2"), tag: "bad tag", key: `${APP}:bad tag` };
    const result = skips([w([c("app:v1")])], OPTIONS, [bad]);
    assert.deepEqual(result.updates, []);
    assert.deepEqual(result.skipped, [{
      image: `${APP}:bad tag`,
      reason: "the engine reported an invalid tag",
    }]);
  });
  await t.step("the default exclusions are the cluster's namespaces and veryfreshpod's own", () => {
    assert.deepEqual(DEFAULT_EXCLUDED_NAMESPACES, [
      "kube-system",
      "kube-public",
      "kube-node-lease",
      "veryfreshpod",
    ]);
  });
});

Deno.test("an update warns about pull policy Always on an image only on this node", async (t) => {
  const LOCAL = "but app:v2 exists only on this node: the new pods cannot start; " +
    "set imagePullPolicy to IfNotPresent or Never";
  const cases: [string, string | undefined, boolean, string | undefined][] = [
    ["Always and a local image", "Always", false, `imagePullPolicy Always, ${LOCAL}`],
    ["Always and a registry image", "Always", true, undefined],
    ["IfNotPresent and a local image", "IfNotPresent", false, undefined],
    ["Never and a local image", "Never", false, undefined],
    ["no pull policy and tag v2", undefined, false, undefined],
  ];
  for (const [name, pullPolicy, fromRegistry, warning] of cases) {
    await t.step(name, () => {
      const changes = [{ ...added(`${APP}:v2`, "sha256:2"), fromRegistry }];
      const result = plan(changes, [w([c("app:v1", { pullPolicy })])], after(changes), OPTIONS);
      const expected = warning === undefined ? [] : [`container web has ${warning}`];
      assert.deepEqual(result.updates[0]?.warnings, expected);
    });
  }
  await t.step("no pull policy and tag latest counts as Always", () => {
    const changes = [moved(`${APP}:latest`, "sha256:2", "sha256:1")];
    const workloads = [w([c("app:v1", { pullPolicy: undefined })])];
    assert.deepEqual(plan(changes, workloads, after(changes), OPTIONS).updates[0]?.warnings, [
      'container web has no imagePullPolicy, which Kubernetes treats as Always for tag "latest", ' +
      "but app:latest exists only on this node: the new pods cannot start; " +
      "set imagePullPolicy to IfNotPresent or Never",
    ]);
  });
  await t.step("a rebuild with Always on a local image warns too", () => {
    const changes = [moved(`${APP}:v1`, "sha256:2", "sha256:1")];
    const workloads = [w([c("app:v1", { pullPolicy: "Always" })])];
    assert.deepEqual(plan(changes, workloads, after(changes), OPTIONS).updates[0]?.warnings, [
      "container web has imagePullPolicy Always, but app:v1 exists only on this node: " +
      "the new pods cannot start; set imagePullPolicy to IfNotPresent or Never",
    ]);
  });
  await t.step("the snapshot entry, not the change, says where the image is from", () => {
    const changes = [added(`${APP}:v2`, "sha256:2")];
    const snapshot = after(changes, { [`${APP}:v2`]: { id: "sha256:2", fromRegistry: true } });
    const workloads = [w([c("app:v1", { pullPolicy: "Always" })])];
    assert.deepEqual(plan(changes, workloads, snapshot, OPTIONS).updates[0]?.warnings, []);
  });
});

Deno.test("an update warns when another tool manages the workload", async (t) => {
  const helm = "managed by Helm, which may revert this change on its next sync";
  const cases: [string, Record<string, string>, Record<string, string>, string[]][] = [
    ["the Helm managed-by label", { "app.kubernetes.io/managed-by": "Helm" }, {}, [helm]],
    ["the Helm release annotation", {}, { "meta.helm.sh/release-name": "web" }, [helm]],
    ["another managed-by label", { "app.kubernetes.io/managed-by": "kustomize" }, {}, []],
    ["Argo CD's instance label alone", { "app.kubernetes.io/instance": "web" }, {}, []],
    [
      "Argo CD's instance label and tracking id",
      { "app.kubernetes.io/instance": "web" },
      { "argocd.argoproj.io/tracking-id": "web:apps/Deployment:default/web" },
      ["managed by Argo CD, which may revert this change on its next sync"],
    ],
    [
      "Argo CD's tracking id alone",
      {},
      { "argocd.argoproj.io/tracking-id": "web:apps/Deployment:default/web" },
      ["managed by Argo CD, which may revert this change on its next sync"],
    ],
    [
      "a Flux Kustomization label",
      { "kustomize.toolkit.fluxcd.io/name": "apps" },
      {},
      ["managed by Flux, which may revert this change on its next sync"],
    ],
    [
      "a Flux HelmRelease (Helm and Flux labels)",
      { "helm.toolkit.fluxcd.io/name": "web", "app.kubernetes.io/managed-by": "Helm" },
      {},
      ["managed by Helm and Flux, which may revert this change on its next sync"],
    ],
  ];
  for (const [name, labels, annotations, warnings] of cases) {
    await t.step(name, () => {
      const changes = [added(`${APP}:v2`, "sha256:2")];
      const workloads = [w([c("app:v1")], { labels, annotations })];
      assert.deepEqual(
        plan(changes, workloads, after(changes), OPTIONS).updates[0]?.warnings,
        warnings,
      );
    });
  }
});

Deno.test("the update carries the workload's identity and the full record", () => {
  const changes = [moved(`${APP}:v1`, "sha256:2", "sha256:1"), added("localhost:5000/db:v2", "d2")];
  const workload: TrackedWorkload = {
    key: { kind: "CronJob", namespace: "jobs", name: "nightly" },
    resourceVersion: "42",
    labels: {},
    annotations: {},
    templateAnnotations: { [ROLLOUT_ANNOTATION]: '{"x:1":"y"}', other: "kept" },
    containers: [c("app:v1"), c("localhost:5000/db:v1", { name: "db", init: true })],
  };
  const result = plan(changes, new Set([workload]).values(), after(changes), OPTIONS);
  assert.deepEqual(result, {
    updates: [{
      workload: workload.key,
      resourceVersion: "42",
      imageUpdates: [{
        container: "db",
        init: true,
        from: "localhost:5000/db:v1",
        to: "localhost:5000/db:v2",
        id: "d2",
      }],
      rebuilds: [{
        container: "web",
        init: false,
        image: "app:v1",
        previousId: "sha256:1",
        id: "sha256:2",
      }],
      rolloutAnnotation: `{"${APP}:v1":"sha256:2","x:1":"y"}`,
      warnings: [],
    }],
    skipped: [],
  });
});

Deno.test("plan never throws on whatever images workloads hold", () => {
  const changes = [added(`${APP}:v2`, "sha256:2"), moved(`${APP}:v1`, "sha256:3", "sha256:1")];
  const images = ["", " ", ":", "@", "app:", "/", "app@", "a".repeat(300), "\u0000", "app:v1\n"];
  for (let i = 0; i < 200; i++) {
    images.push(
      String.fromCharCode(...Array.from({ length: i % 13 }, (_, j) => 32 + (i * 7 + j * 13) % 95)),
    );
  }
  const workloads = images.map((image, i) =>
    w([c(image), c("app:v0", { name: "ok" })], {
      name: `w${i}`,
      templateAnnotations: { [ROLLOUT_ANNOTATION]: image },
    })
  );
  const result = plan(changes, workloads, after(changes), OPTIONS);
  assert.equal(result.updates.length, workloads.length);
});

Deno.test("a rebuild missed while veryfreshpod was down is rolled at start", async (t) => {
  const record = (json: string) => ({ templateAnnotations: { [ROLLOUT_ANNOTATION]: json } });
  const snapshot = after([], { [`${APP}:v1`]: "sha256:2" });
  const cases: [string, TrackedWorkload[], PlanOptions, string[]][] = [
    [
      "a recorded tag that now names another image is rolled",
      [w([c("app:v1")], record(`{"${APP}:v1":"sha256:1"}`))],
      OPTIONS,
      [
        `${D} rebuild web: app:v1 sha256:1 -> sha256:2`,
        `${D} record {"${APP}:v1":"sha256:2"}`,
      ],
    ],
    [
      "a record that matches does nothing",
      [w([c("app:v1")], record(`{"${APP}:v1":"sha256:2"}`))],
      OPTIONS,
      [],
    ],
    ["a workload without a record is not restarted", [w([c("app:v1")])], OPTIONS, []],
    ["an unreadable record does nothing", [w([c("app:v1")], record("nope"))], OPTIONS, []],
    [
      "a tag gone from the engine does nothing",
      [w([c("app:v9")], record(`{"${APP}:v9":"x"}`))],
      OPTIONS,
      [],
    ],
    [
      "a record for a tag no container runs does nothing",
      [w([c("app:v2")], record(`{"${APP}:v1":"sha256:1"}`))],
      OPTIONS,
      [],
    ],
    [
      "an excluded namespace is left alone",
      [w([c("app:v1")], { ...record(`{"${APP}:v1":"sha256:1"}`), namespace: "kube-system" })],
      OPTIONS,
      [],
    ],
  ];
  for (const [name, workloads, options, expected] of cases) {
    await t.step(name, () => {
      assert.deepEqual(summary(planMissedRebuilds(workloads, snapshot, options)), expected);
    });
  }
});
