/**
 * veryfreshpod finishes what it starts: a SIGTERM in the middle of a fan-out
 * applies every planned update before it exits 0, and a restart after a
 * SIGKILL completes the fan-out from the workloads' own record.
 */
import assert from "node:assert/strict";
import { e2eTest, makeImage } from "./env/mod.ts";
import { buildAndTag, startLoop, uniqueRepository } from "./helpers/loop.ts";
import { eventually, within } from "./helpers/eventually.ts";
import {
  api,
  createNamespace,
  createWorkload,
  imagesOf,
  workloadObject,
} from "./helpers/workloads.ts";

const COUNT = 100;

/** `COUNT` Deployments of `repo:v1` in a new namespace. */
async function fanOut(repo: string): Promise<string> {
  const ns = await createNamespace();
  await makeImage(`${repo}:v1`);
  for (let start = 0; start < COUNT; start += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, COUNT - start) }, (_, i) =>
        createWorkload(
          workloadObject("Deployment", ns, `web-${start + i}`, [{
            name: "app",
            image: `${repo}:v1`,
          }]),
        )),
    );
  }
  return ns;
}

/** How many Deployments of `ns` run each image. */
async function imageCounts(ns: string): Promise<Record<string, number>> {
  const list = await api("GET", `/apis/apps/v1/namespaces/${ns}/deployments`);
  const counts: Record<string, number> = {};
  for (const item of list.items) {
    const image = imagesOf(item).app ?? "none";
    counts[image] = (counts[image] ?? 0) + 1;
  }
  return counts;
}

e2eTest("a SIGTERM during a fan-out applies every planned update, then exits 0", async () => {
  const repo = uniqueRepository("sigterm");
  const ns = await fanOut(repo);
  await using loop = await startLoop(["-n", ns, "--resync-period", "3600"]);
  await buildAndTag(`${repo}:v2`);
  await loop.waitForLine(/Updated Deployment /, 30_000);
  // Sent here, not by loop.stop(), which kills after 10 s: the bound is 20 s, under the 30 s grace.
  Deno.kill(loop.pid, "SIGTERM");
  const code = await within("veryfreshpod to exit after SIGTERM", loop.exited, 30_000);
  assert.equal(code, 0, loop.lines.slice(-5).join(""));
  assert.deepEqual(await imageCounts(ns), { [`${repo}:v2`]: COUNT });
});

e2eTest("a restart completes a fan-out that a SIGKILL cut short", async () => {
  const repo = uniqueRepository("sigkill");
  const ns = await fanOut(repo);
  {
    await using loop = await startLoop(["-n", ns, "--resync-period", "3600"]);
    await buildAndTag(`${repo}:v2`);
    await loop.waitForLine(/Updated Deployment /, 30_000);
    Deno.kill(loop.pid, "SIGKILL");
    await loop.exited;
  }
  const left = (await imageCounts(ns))[`${repo}:v1`] ?? 0;
  console.log(`${left} of ${COUNT} Deployments left on v1 by the SIGKILL`);
  await using restarted = await startLoop(["-n", ns, "--resync-period", "3600"]);
  try {
    await eventually(`every Deployment of ${ns} on v2`, async () => {
      assert.deepEqual(await imageCounts(ns), { [`${repo}:v2`]: COUNT });
      return true;
    }, 60_000);
  } catch (error) {
    console.log(restarted.lines.filter((l) => !/Updated Deployment/.test(l)).slice(0, 40).join(""));
    throw error;
  }
});

e2eTest("a rollback after a whole fan-out is not undone by a restart", async () => {
  const repo = uniqueRepository("rollback");
  const ns = await fanOut(repo);
  {
    await using _loop = await startLoop(["-n", ns, "--resync-period", "3600"]);
    await buildAndTag(`${repo}:v2`);
    await eventually(`every Deployment of ${ns} on v2`, async () => {
      assert.deepEqual(await imageCounts(ns), { [`${repo}:v2`]: COUNT });
      return true;
    }, 60_000);
  }
  // Someone rolls every Deployment back (kubectl set image, kubectl rollout undo). The fan-out's
  // patches were milliseconds apart: only the last one's record is as new as the move.
  for (let start = 0; start < COUNT; start += 20) {
    await Promise.all(
      Array.from({ length: Math.min(20, COUNT - start) }, (_, i) =>
        api(
          "PATCH",
          `/apis/apps/v1/namespaces/${ns}/deployments/web-${start + i}`,
          { spec: { template: { spec: { containers: [{ name: "app", image: `${repo}:v1` }] } } } },
          "application/strategic-merge-patch+json",
        )),
    );
  }
  await using restarted = await startLoop(["-n", ns, "--resync-period", "3600"]);
  // A restart completes a fan-out cut short within a second of its start (the test above).
  await new Promise((resolve) => setTimeout(resolve, 5_000));
  assert.deepEqual(await imageCounts(ns), { [`${repo}:v1`]: COUNT });
  assert.deepEqual(restarted.lines.filter((line) => /Updated Deployment/.test(line)), []);
});
