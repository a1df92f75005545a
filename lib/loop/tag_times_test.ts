import assert from "node:assert/strict";
import { diffSnapshots } from "./snapshot.ts";
import type { ImageSnapshot, TagChanged, TaggedImage } from "../model/image_snapshot.ts";
import { TagEventLog, timeChanges } from "./tag_times.ts";

const R = "docker.io/library/app";
const WINDOW = { previousReadAt: 1_000, readEndedAt: 2_000 };

function snapshot(entries: Record<string, TaggedImage>): ImageSnapshot {
  return new Map(Object.entries(entries));
}

/** The changes from nothing to `after`, timed; only the tag changes, by key. */
async function timed(
  after: Record<string, TaggedImage>,
  events: TagEventLog,
  tagTimes?: (ids: readonly string[]) => Promise<Map<string, number>>,
): Promise<Record<string, { time: number | undefined; seenAt: number | undefined }>> {
  const changes = await timeChanges(
    diffSnapshots(new Map(), snapshot(after)),
    events,
    WINDOW,
    tagTimes ? { tagTimes } : {},
  );
  return Object.fromEntries(
    (changes as TagChanged[]).map((c) => [c.tag, { time: c.time, seenAt: c.seenAt }]),
  );
}

Deno.test("timeChanges(): an event's time ranks the tag, its arrival says when it was seen", async () => {
  const events = new TagEventLog();
  events.record({ action: "tag", subject: "", reference: `${R}:v9`, time: 50 }, 1_500);
  events.record({ action: "untag", subject: "" }, 1_600); // names no tag: ignored
  assert.equal(events.size, 1);
  assert.deepEqual(
    await timed({ [`${R}:v9`]: { id: "a", fromRegistry: false, time: 7 } }, events),
    { v9: { time: 50, seenAt: 1_500 } },
  );
});

Deno.test("timeChanges(): without an event, the engine's time held inside the read window", async () => {
  const events = new TagEventLog();
  assert.deepEqual(
    await timed({
      [`${R}:early`]: { id: "a", fromRegistry: false, time: 10 },
      [`${R}:inside`]: { id: "a", fromRegistry: false, time: 1_200 },
      [`${R}:late`]: { id: "a", fromRegistry: false, time: 9_000 },
      [`${R}:none`]: { id: "a", fromRegistry: false },
    }, events),
    {
      early: { time: 10, seenAt: 1_000 },
      inside: { time: 1_200, seenAt: 1_200 },
      late: { time: 9_000, seenAt: 2_000 },
      none: { time: undefined, seenAt: 1_000 },
    },
  );
});

Deno.test("timeChanges(): the engine's tag times are asked only for new tags naming several images", async () => {
  const asked: string[][] = [];
  const tagTimes = (ids: readonly string[]) => {
    asked.push([...ids]);
    return Promise.resolve(new Map([["b", 300]]));
  };
  const events = new TagEventLog();
  events.record({ action: "tag", subject: "", reference: `${R}:v10`, time: 200 }, 1_100);
  // One image: nothing to rank, nothing asked.
  await timed({ [`${R}:v1`]: { id: "a", fromRegistry: false } }, events, tagTimes);
  assert.equal(asked.length, 0);
  // v10 has its event's time; v9 and v8 are asked for.
  assert.deepEqual(
    await timed(
      {
        [`${R}:v10`]: { id: "a", fromRegistry: false, time: 1 },
        [`${R}:v9`]: { id: "b", fromRegistry: false, time: 2 },
        [`${R}:v8`]: { id: "c", fromRegistry: false, time: 3 },
      },
      events,
      tagTimes,
    ),
    {
      v10: { time: 200, seenAt: 1_100 },
      v8: { time: 3, seenAt: 1_000 },
      v9: { time: 300, seenAt: 1_000 },
    },
  );
  assert.deepEqual(asked.map((ids) => ids.sort()), [["b", "c"]]);
  // A failed question only loses the refinement.
  const failing = () => Promise.reject(new Error("down"));
  const result = await timed(
    {
      [`${R}:v9`]: { id: "b", fromRegistry: false, time: 2 },
      [`${R}:v8`]: { id: "c", fromRegistry: false, time: 3 },
    },
    new TagEventLog(),
    failing,
  );
  assert.equal(result.v9?.time, 2);
});

Deno.test("TagEventLog keeps the last event per tag and forgets those a read reflects", () => {
  const events = new TagEventLog();
  events.record({ action: "tag", subject: "", reference: `${R}:v1`, time: 1 }, 10);
  events.record({ action: "tag", subject: "", reference: `${R}:v1`, time: 2 }, 20);
  events.record({ action: "tag", subject: "", reference: `${R}:v2`, time: 3 }, 30);
  assert.deepEqual(events.get(`${R}:v1`), { time: 2, arrivedAt: 20 });
  events.forgetBefore(30);
  assert.equal(events.get(`${R}:v1`), undefined);
  assert.deepEqual(events.get(`${R}:v2`), { time: 3, arrivedAt: 30 });
});
