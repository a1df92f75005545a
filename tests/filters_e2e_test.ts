/**
 * Which workloads `run` may touch, end to end against the real API server:
 * opt-in by annotation (`--opt-in`, here given as VERYFRESHPOD_OPT_IN the way
 * the in-cluster Deployment would) and a label selector (`--selector`/`-l`).
 * After the new tag, a second build that does reach the selected workload
 * proves the first one was handled: only then is "left alone" checked.
 */
import assert from "node:assert/strict";
import { e2eTest, makeImage } from "./env/mod.ts";
import { buildAndTag, startLoop, uniqueRepository, waitForImages } from "./helpers/loop.ts";
import {
  createNamespace,
  createWorkload,
  eventsIn,
  getWorkload,
  imagesOf,
  replaceWorkload,
  workloadObject,
} from "./helpers/workloads.ts";
import { ENABLED_ANNOTATION } from "../lib/model/plan_types.ts";

/** Builds `repo:v2` then `repo:v3`; `chosen` follows both, the others must stay on v1. */
async function onlyChosenMove(ns: string, repo: string, chosen: string, others: string[]) {
  await buildAndTag(`${repo}:v2`);
  await waitForImages("Deployment", ns, chosen, { app: `${repo}:v2` });
  await buildAndTag(`${repo}:v3`);
  await waitForImages("Deployment", ns, chosen, { app: `${repo}:v3` });
  for (const name of others) {
    assert.deepEqual(imagesOf(await getWorkload("Deployment", ns, name)), { app: `${repo}:v1` });
  }
  const updated = (await eventsIn(ns)).filter((event) => event.includes(" ImageUpdated "));
  assert.ok(
    updated.every((event) => event.startsWith(`Deployment/${chosen} `)),
    updated.join("; "),
  );
}

e2eTest(
  "with opt-in (VERYFRESHPOD_OPT_IN), only workloads annotated enabled are updated",
  async () => {
    const ns = await createNamespace();
    const repo = uniqueRepository("optin");
    await makeImage(`${repo}:v1`);
    const deployment = (name: string, annotations?: Record<string, string>) =>
      createWorkload(
        workloadObject("Deployment", ns, name, [{ name: "app", image: `${repo}:v1` }], {
          ...(annotations && { annotations }),
        }),
      );
    await deployment("enabled", { [ENABLED_ANNOTATION]: "true" });
    await deployment("disabled", { [ENABLED_ANNOTATION]: "false" });
    await deployment("unmarked");
    await using _loop = await startLoop(["-n", ns], { env: { VERYFRESHPOD_OPT_IN: "true" } });
    await onlyChosenMove(ns, repo, "enabled", ["disabled", "unmarked"]);
  },
);

e2eTest("with -l, only workloads whose labels match are watched and updated", async () => {
  const ns = await createNamespace();
  const repo = uniqueRepository("selected");
  await makeImage(`${repo}:v1`);
  const deployment = (name: string, labels: Record<string, string>) =>
    createWorkload(
      workloadObject("Deployment", ns, name, [{ name: "app", image: `${repo}:v1` }], { labels }),
    );
  await deployment("web", { tier: "web" });
  await deployment("db", { tier: "db" });
  await deployment("moved", { tier: "web" });
  await using loop = await startLoop(["-n", ns, "-l", "tier in (web, edge)"]);
  await loop.waitForLine(/Tracking 2 workloads\b/);
  // Relabelled out of the selection while watched: the watch says DELETED, and it is dropped.
  const moved = await getWorkload("Deployment", ns, "moved");
  moved.metadata.labels = { tier: "db" };
  await replaceWorkload(moved);
  await onlyChosenMove(ns, repo, "web", ["db", "moved"]);
});
