/**
 * The watch loop end to end: real dockerd, real API server and
 * controller-manager, veryfreshpod run from source as a user runs it.
 * Every test uses its own namespace and image repositories, so tests sharing
 * the daemons cannot see each other's changes.
 * Docker-engine tests assert the patches; pods run only on the containerd node (node_e2e_test.ts).
 */
import assert from "node:assert/strict";
import { docker, e2eTest, makeImage, pushToRegistry, saveImage } from "./env/mod.ts";
import { loadImage } from "./env/mod.ts";
import {
  buildAndTag,
  dockerBuild,
  startLoop,
  uniqueRepository,
  waitForImages,
} from "./helpers/loop.ts";
import { eventually } from "./helpers/eventually.ts";
import {
  api,
  createNamespace,
  createWorkload,
  eventsIn,
  getWorkload,
  imagesOf,
  podTemplate,
  replaceWorkload,
  workloadObject,
} from "./helpers/workloads.ts";
import { ROLLOUT_ANNOTATION } from "../lib/model/plan_types.ts";
import type { WorkloadKind } from "../lib/model/workload.ts";

e2eTest("a new tag updates every kind of workload that runs another tag of it", async () => {
  const ns = await createNamespace();
  const repo = uniqueRepository("myimage");
  await makeImage(`${repo}:test`);
  const kinds: WorkloadKind[] = ["Deployment", "StatefulSet", "DaemonSet", "CronJob"];
  for (const kind of kinds) {
    await createWorkload(workloadObject(kind, ns, kind.toLowerCase(), [
      { name: "app", image: `${repo}:test` },
    ], kind === "StatefulSet" ? { initContainers: [{ name: "setup", image: repo }] } : {}));
  }
  await using loop = await startLoop(["-n", ns]);

  await buildAndTag(`${repo}:fixed`);

  for (const kind of kinds) {
    const expected: Record<string, string> = { app: `${repo}:fixed` };
    if (kind === "StatefulSet") expected.setup = `${repo}:fixed`;
    await waitForImages(kind, ns, kind.toLowerCase(), expected);
  }
  // The controller-manager rolls the Deployment: a ReplicaSet with the new image.
  await eventually("a ReplicaSet running the new tag", async () => {
    const sets = await api("GET", `/apis/apps/v1/namespaces/${ns}/replicasets`);
    // deno-lint-ignore no-explicit-any
    return sets.items.find((rs: any) => imagesOf(rs).app === `${repo}:fixed`);
  });
  // Events are recorded right after each patch: wait for all of them.
  const wanted = [
    // Each prefix names its container: the StatefulSet's two events must both be there.
    ...kinds.map((kind) => `${kind}/${kind.toLowerCase()} ImageUpdated container "app"`),
    `StatefulSet/statefulset ImageUpdated initContainer "setup" image ${repo} -> ${repo}:fixed`,
  ];
  const events = await eventually("an ImageUpdated event for every update", async () => {
    const recorded = await eventsIn(ns);
    const found = wanted.every((prefix) =>
      recorded.some((e) => e.startsWith(prefix) && e.includes(`-> ${repo}:fixed`))
    );
    return found ? recorded : undefined;
  });
  assert.equal(events.filter((e) => e.includes(" ImageUpdated ")).length, 5, events.join("; "));
  // One readable log line per update, naming workload, container, old and new image.
  await loop.waitForLine(
    new RegExp(
      `INFO +Updated Deployment ${ns}/deployment container app: ${repo}:test -> ${repo}:fixed`,
    ),
  );
});

e2eTest("rebuilding the tag a workload runs rolls it once", async () => {
  const engine = await docker();
  const ns = await createNamespace();
  const repo = uniqueRepository("rebuilt");
  const sentinel = uniqueRepository("sentinel");
  await makeImage(`${repo}:dev`);
  await makeImage(`${sentinel}:v1`);
  await createWorkload(
    workloadObject("Deployment", ns, "web", [{ name: "app", image: `${repo}:dev` }]),
  );
  await createWorkload(
    workloadObject("Deployment", ns, "sentinel", [{ name: "app", image: `${sentinel}:v1` }]),
  );
  await using _loop = await startLoop(["-n", ns]);

  const newId = await dockerBuild(`${repo}:dev`); // the same tag, new content
  const rolled = await eventually("the rollout annotation", async () => {
    const object = await getWorkload("Deployment", ns, "web");
    const record = podTemplate(object).metadata.annotations?.[ROLLOUT_ANNOTATION];
    return record && JSON.parse(record)[`docker.io/library/${repo}:dev`] === newId
      ? object
      : undefined;
  });
  assert.equal(imagesOf(rolled).app, `${repo}:dev`, "the image reference itself stays");

  // The same event again (re-tagging the same image) must change nothing. The sentinel
  // is updated by a later event, so once it has moved the re-tag was handled too.
  await engine.run(["tag", `${repo}:dev`, `${repo}:dev`]);
  await buildAndTag(`${sentinel}:v2`);
  await waitForImages("Deployment", ns, "sentinel", { app: `${sentinel}:v2` });
  const after = await getWorkload("Deployment", ns, "web");
  assert.equal(after.metadata.generation, rolled.metadata.generation, "no second rollout");
  const rebuiltEvents = (await eventsIn(ns)).filter((e) => e.includes("ImageRebuilt"));
  assert.equal(rebuiltEvents.length, 1, `one ImageRebuilt event: ${rebuiltEvents.join("; ")}`);
});

e2eTest("pull, load and import of a new tag each update the workload", async (t) => {
  const engine = await docker();
  const ns = await createNamespace();
  const pulled = uniqueRepository("pulled");
  const loaded = uniqueRepository("loaded");
  const imported = uniqueRepository("imported");

  // Prepare what will arrive later: a tag in the registry, a saved tarball, a rootfs tarball.
  await makeImage(`${pulled}:v1`);
  await makeImage(`${pulled}:v2`);
  const remoteV1 = await pushToRegistry(`${pulled}:v1`);
  const remoteV2 = await pushToRegistry(`${pulled}:v2`);
  await engine.run(["rmi", remoteV2, `${pulled}:v2`]);
  await makeImage(`${loaded}:v1`);
  await makeImage(`${loaded}:v2`);
  const tarball = await saveImage(`${loaded}:v2`);
  await engine.run(["rmi", `${loaded}:v2`]);
  await makeImage(`${imported}:v1`);
  const exported = await saveImage(`${imported}:v1`);

  await createWorkload(
    workloadObject("Deployment", ns, "pulled", [{ name: "app", image: remoteV1 }]),
  );
  await createWorkload(
    workloadObject("Deployment", ns, "loaded", [{ name: "app", image: `${loaded}:v1` }]),
  );
  await createWorkload(
    workloadObject("Deployment", ns, "imported", [{ name: "app", image: `${imported}:v1` }]),
  );
  await using _loop = await startLoop(["-n", ns]);

  await t.step("docker pull", async () => {
    await engine.run(["pull", remoteV2]);
    await waitForImages("Deployment", ns, "pulled", { app: remoteV2 });
  });
  await t.step("docker load", async () => {
    await loadImage(tarball);
    await waitForImages("Deployment", ns, "loaded", { app: `${loaded}:v2` });
  });
  await t.step("docker import", async () => {
    // Any tarball is a root filesystem to `docker import`; the saved image will do.
    await engine.run(["import", exported, `${imported}:v2`]);
    await waitForImages("Deployment", ns, "imported", { app: `${imported}:v2` });
  });
});

e2eTest(
  "unrelated tags, system namespaces, opted-out workloads and dry runs change nothing",
  async (t) => {
    const ns = await createNamespace();
    const repo = uniqueRepository("guarded");
    const other = uniqueRepository("unrelated");
    const sentinel = uniqueRepository("sentinel");
    await makeImage(`${repo}:v1`);
    await makeImage(`${other}:v1`);
    await makeImage(`${sentinel}:v1`);
    const untouched = [
      workloadObject("Deployment", "kube-system", `${repo}-system`, [{
        name: "app",
        image: `${repo}:v1`,
      }]),
      workloadObject("Deployment", ns, "opted-out", [{ name: "app", image: `${repo}:v1` }], {
        annotations: { "veryfreshpod.io/ignore": "true" },
      }),
      workloadObject("Deployment", ns, "unrelated", [{ name: "app", image: `${other}:v1` }]),
    ];
    for (const object of untouched) await createWorkload(object);
    await createWorkload(
      workloadObject("Deployment", ns, "sentinel", [{ name: "app", image: `${sentinel}:v1` }]),
    );

    await t.step("a real run leaves them alone", async () => {
      await using _loop = await startLoop();
      await buildAndTag(`${repo}:v2`);
      await buildAndTag(`${other}-x:v2`);
      await buildAndTag(`${sentinel}:v2`);
      await waitForImages("Deployment", ns, "sentinel", { app: `${sentinel}:v2` });
      for (const object of untouched) {
        // deno-lint-ignore no-explicit-any
        const { metadata } = object as any;
        const current = await getWorkload("Deployment", metadata.namespace, metadata.name);
        assert.deepEqual(imagesOf(current), imagesOf(object), `${metadata.name} is untouched`);
      }
    });

    await t.step("--dry-run changes nothing and says what it would change", async () => {
      await using loop = await startLoop(["--dry-run", "-n", ns]);
      await buildAndTag(`${sentinel}:v3`);
      await loop.waitForLine(
        new RegExp(
          `Would update Deployment ${ns}/sentinel container app: ${sentinel}:v2 -> ${sentinel}:v3`,
        ),
      );
      const current = await getWorkload("Deployment", ns, "sentinel");
      assert.equal(imagesOf(current).app, `${sentinel}:v2`);
    });
  },
);

e2eTest("workloads created or changed after start are tracked by their current image", async () => {
  const ns = await createNamespace();
  const repo = uniqueRepository("late");
  const moved = uniqueRepository("moved");
  await makeImage(`${repo}:v1`);
  await makeImage(`${moved}:v1`);
  await createWorkload(
    workloadObject("Deployment", ns, "edited", [{ name: "app", image: "busybox:1" }]),
  );
  await using loop = await startLoop(["-n", ns, "--log-level", "debug"]);

  await createWorkload(
    workloadObject("Deployment", ns, "created", [{ name: "app", image: `${repo}:v1` }]),
  );
  const current = await getWorkload("Deployment", ns, "edited");
  podTemplate(current).spec.containers[0].image = `${moved}:v1`;
  await replaceWorkload(current);
  await loop.waitForLine(new RegExp(`Watch: ADDED Deployment ${ns}/created`));
  await loop.waitForLine(new RegExp(`Watch: MODIFIED Deployment ${ns}/edited`));

  await buildAndTag(`${repo}:v2`);
  await buildAndTag(`${moved}:v2`);
  await waitForImages("Deployment", ns, "created", { app: `${repo}:v2` });
  await waitForImages("Deployment", ns, "edited", { app: `${moved}:v2` });
});

e2eTest("SIGTERM stops the loop promptly with exit code 0", async () => {
  const loop = await startLoop();
  const started = performance.now();
  const code = await loop.stop();
  console.log(`stopped in ${Math.round(performance.now() - started)} ms`);
  assert.equal(code, 0);
  assert.ok(loop.lines.some((line) => /INFO +Stopped/.test(line)), loop.lines.join("\n"));
});

e2eTest(
  "pointing an Always-pull workload at a local-only image warns in the log and the Event",
  async () => {
    const ns = await createNamespace();
    const repo = uniqueRepository("local");
    await makeImage(`${repo}:v1`);
    await createWorkload(
      workloadObject("Deployment", ns, "web", [
        { name: "app", image: `${repo}:v1`, imagePullPolicy: "Always" },
      ]),
    );
    await using loop = await startLoop(["-n", ns]);
    await buildAndTag(`${repo}:v2`);
    await waitForImages("Deployment", ns, "web", { app: `${repo}:v2` });
    await loop.waitForLine(/WARN +Deployment .*\/web: .*imagePullPolicy Always/);
    const events = await eventually("the Warning event", async () => {
      const list = await api("GET", `/api/v1/namespaces/${ns}/events`);
      // deno-lint-ignore no-explicit-any
      return list.items.find((e: any) => e.reason === "ImageUpdated" && e.type === "Warning");
    });
    assert.match(events.message, /imagePullPolicy Always.*IfNotPresent or Never/);
  },
);
