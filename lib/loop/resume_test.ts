import assert from "node:assert/strict";
import { deployment, key } from "../testing/controller_fakes.ts";
import type { TaggedImage } from "../model/image_snapshot.ts";
import type { TrackedWorkload } from "../model/workload.ts";
import { planResume, recordedMoves } from "./resume.ts";
import { RESTORED_ANNOTATION, UPDATES_ANNOTATION } from "../model/record.ts";

const OPTIONS = { namespaces: [], excludeNamespaces: [] };

function snapshot(images: Record<string, string>): Map<string, TaggedImage> {
  return new Map(
    Object.entries(images).map(([ref, id]) => [key(ref), { id, fromRegistry: false }]),
  );
}

/** A Deployment whose record says veryfreshpod set container `app` to `recorded` at `at`. */
function moved(name: string, image: string, recorded: string, at: string): TrackedWorkload {
  const workload = deployment(name, image);
  return {
    ...workload,
    annotations: { [UPDATES_ANNOTATION]: JSON.stringify({ app: { image: recorded, at } }) },
  };
}

/** `moved`, with the image ID the record names. */
function movedTo(
  name: string,
  image: string,
  recorded: string,
  id: string,
  at: string,
): TrackedWorkload {
  const workload = deployment(name, image);
  return {
    ...workload,
    annotations: { [UPDATES_ANNOTATION]: JSON.stringify({ app: { image: recorded, id, at } }) },
  };
}

/** `name: from -> to` for each image update planned. */
function resume(workloads: TrackedWorkload[], images: Record<string, string>): string[] {
  const result = planResume(recordedMoves(workloads), workloads, snapshot(images), OPTIONS);
  return result.updates.flatMap((u) =>
    u.imageUpdates.map((i) => `${u.workload.name}: ${i.from} -> ${i.to}`)
  );
}

/** `workload`, restored by `veryfreshpod restore` at `at`. */
function restored(workload: TrackedWorkload, at: string): TrackedWorkload {
  return { ...workload, annotations: { ...workload.annotations, [RESTORED_ANNOTATION]: at } };
}

const IMAGES = { "app:v1": "sha256:1", "app:v2": "sha256:2", "app:v3": "sha256:3" };
const T1 = "2026-11-25T21:00:00.000Z";
const T2 = "2026-11-25T21:05:00.000Z";
/** Some milliseconds before T1: an earlier patch of the same fan-out. */
const T1_EARLIER = "2026-11-25T20:59:59.994Z";
const T3 = "2026-11-25T21:10:00.000Z";

Deno.test("planResume() completes a fan-out from the workloads' own record", async (t) => {
  const cases: Array<{ name: string; workloads: TrackedWorkload[]; expected: string[] }> = [
    {
      name: "a workload left on the old tag is moved to the recorded one",
      workloads: [moved("a", "app:v2", "app:v2", T1), deployment("b", "app:v1")],
      expected: ["b: app:v1 -> app:v2"],
    },
    {
      name: "a plain restart moves nothing: no record, though a newer tag exists",
      workloads: [deployment("a", "app:v1"), deployment("b", "app:v1")],
      expected: [],
    },
    {
      name: "the newest recorded move of the repository wins",
      workloads: [
        moved("a", "app:v2", "app:v2", T1),
        moved("b", "app:v3", "app:v3", T2),
        deployment("c", "app:v1"),
      ],
      expected: ["a: app:v2 -> app:v3", "c: app:v1 -> app:v3"],
    },
    {
      name: "a container veryfreshpod set at the move and someone changed back is left alone",
      workloads: [moved("a", "app:v2", "app:v2", T1), moved("b", "app:v1", "app:v2", T1)],
      expected: [],
    },
    {
      name: "containers the same fan-out set milliseconds apart and someone changed back are " +
        "left alone (a rollback after the fan-out, then a restart)",
      workloads: [
        movedTo("a", "app:v2", "app:v2", "sha256:2", T1),
        movedTo("b", "app:v1", "app:v2", "sha256:2", T1_EARLIER),
        moved("c", "app:v1", "app:v2", T1_EARLIER),
      ],
      expected: [],
    },
    {
      name: "a container set to an earlier build of the moved tag is moved to the newer one",
      workloads: [
        movedTo("a", "app:v2", "app:v2", "sha256:2", T1),
        movedTo("b", "app:v1", "app:v2", "sha256:old", T1_EARLIER),
      ],
      expected: ["b: app:v1 -> app:v2"],
    },
    {
      name: "a moved tag the engine no longer has moves nothing",
      workloads: [moved("a", "app:v9", "app:v9", T1), deployment("b", "app:v1")],
      expected: [],
    },
    {
      name: "a workload restored after the move is not moved again",
      workloads: [moved("a", "app:v2", "app:v2", T1), restored(deployment("b", "app:v1"), T2)],
      expected: [],
    },
    {
      name: "a workload restored before a newer move is moved",
      workloads: [moved("a", "app:v2", "app:v2", T2), restored(deployment("b", "app:v1"), T1)],
      expected: ["b: app:v1 -> app:v2"],
    },
    {
      name: "the record a --to-last restore left is no move for the others",
      workloads: [
        restored(moved("a", "app:v2", "app:v2", T1), T3),
        moved("b", "app:v3", "app:v3", T2),
        deployment("c", "app:v1"),
      ],
      expected: ["c: app:v1 -> app:v3"],
    },
    {
      name: "other repositories are not touched",
      workloads: [moved("a", "app:v2", "app:v2", T1), deployment("db", "db:v1")],
      expected: [],
    },
  ];
  for (const c of cases) {
    await t.step(c.name, () => assert.deepEqual(resume(c.workloads, IMAGES), c.expected));
  }
});
