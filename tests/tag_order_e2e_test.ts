/**
 * When things happened, end to end (issue 7): the tag made last wins when one
 * re-read brings several, and a Deployment applied right after its image was
 * built is not rolled as if it had run an older image. Real dockerd, real API
 * server and controller-manager; each test has its own namespace and
 * repositories.
 */
import assert from "node:assert/strict";
import { docker, e2eTest, makeImage, unixHttpClient } from "./env/mod.ts";
import {
  buildAndTag,
  dockerBuild,
  startLoop,
  uniqueRepository,
  waitForImages,
} from "./helpers/loop.ts";
import {
  createNamespace,
  createWorkload,
  eventsIn,
  getWorkload,
  podTemplate,
  workloadObject,
} from "./helpers/workloads.ts";
import { ROLLOUT_ANNOTATION } from "../lib/model/plan_types.ts";

/**
 * Tags each image as `repository:tag`, in order, through the Engine API: the
 * CLI would take tens of milliseconds per call, the API leaves the tags
 * microseconds apart, inside one re-read as a script's back-to-back tags are.
 */
async function tagBackToBack(pairs: Array<[image: string, ref: string]>): Promise<void> {
  const client = unixHttpClient((await docker()).socket);
  try {
    for (const [image, ref] of pairs) {
      const colon = ref.lastIndexOf(":");
      const query = new URLSearchParams({ repo: ref.slice(0, colon), tag: ref.slice(colon + 1) });
      const response = await fetch(
        `http://localhost/images/${encodeURIComponent(image)}/tag?${query}`,
        { method: "POST", client },
      );
      await response.body?.cancel();
      assert.equal(response.status, 201, `docker tag ${image} ${ref}`);
    }
  } finally {
    client.close();
  }
}

e2eTest("tag a R:v9; tag b R:v10 back to back: the workload ends on R:v10", async () => {
  const ns = await createNamespace("order");
  const repo = uniqueRepository("order");
  const sentinel = uniqueRepository("sentinel");
  await makeImage(`${repo}:v1`);
  await makeImage(`${sentinel}:v1`);
  await createWorkload(
    workloadObject("Deployment", ns, "web", [{ name: "app", image: `${repo}:v1` }]),
  );
  await createWorkload(
    workloadObject("Deployment", ns, "sentinel", [{ name: "app", image: `${sentinel}:v1` }]),
  );
  // Two new images, made before the loop starts: only the tags happen under its eyes.
  const a = `${uniqueRepository("scratch")}:a`;
  const b = `${uniqueRepository("scratch")}:b`;
  await makeImage(a);
  await makeImage(b);
  await using _loop = await startLoop(["-n", ns]);

  await tagBackToBack([[a, `${repo}:v9`], [b, `${repo}:v10`]]);

  await waitForImages("Deployment", ns, "web", { app: `${repo}:v10` });
  // Still there once a later change has been handled: nothing moved it back to v9.
  await buildAndTag(`${sentinel}:v2`);
  await waitForImages("Deployment", ns, "sentinel", { app: `${sentinel}:v2` });
  const web = await getWorkload("Deployment", ns, "web");
  assert.equal(web.spec.template.spec.containers[0].image, `${repo}:v10`);
});

e2eTest("a Deployment applied right after its image was built is not rolled", async () => {
  const ns = await createNamespace("order");
  const repo = uniqueRepository("fresh");
  const sentinel = uniqueRepository("sentinel");
  await makeImage(`${sentinel}:v1`);
  await createWorkload(
    workloadObject("Deployment", ns, "sentinel", [{ name: "app", image: `${sentinel}:v1` }]),
  );
  await using loop = await startLoop(["-n", ns]);

  // As a script does it: build, then apply at once (within ~0.2 s of the tag).
  await dockerBuild(`${repo}:dev`);
  const created = await createWorkload(
    workloadObject("Deployment", ns, "web", [{ name: "app", image: `${repo}:dev` }]),
  );

  // A later change, handled after the build's: once the sentinel moves, the build was seen.
  await buildAndTag(`${sentinel}:v2`);
  await waitForImages("Deployment", ns, "sentinel", { app: `${sentinel}:v2` });
  const web = await getWorkload("Deployment", ns, "web");
  assert.equal(web.metadata.generation, created.metadata.generation, "no rollout");
  assert.deepEqual(podTemplate(web), podTemplate(created), "the pod template is unchanged");
  assert.equal(podTemplate(web).metadata?.annotations?.[ROLLOUT_ANNOTATION], undefined);
  const rebuilt = (await eventsIn(ns)).filter((e) => e.includes("ImageRebuilt"));
  assert.deepEqual(rebuilt, [], "no ImageRebuilt Event");
  const rolled = loop.lines.filter((line) => line.includes("Rolled") && line.includes(`/web`));
  assert.deepEqual(rolled, [], "no Rolled line");
});
