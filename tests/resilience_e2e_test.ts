/**
 * The loop survives what happens on a dev box: the API server restarting, and
 * it works the same with containerd as the engine.
 */
import { containerd, e2eTest, importIntoContainerd, kubernetes, makeImage } from "./env/mod.ts";
import { buildAndTag, startLoop, uniqueRepository, waitForImages } from "./loop.ts";
import { createNamespace, createWorkload, workloadObject } from "./workloads.ts";

e2eTest("a restarted API server loses no workload and no image change", async () => {
  const kube = await kubernetes();
  const ns = await createNamespace();
  const before = uniqueRepository("before");
  const after = uniqueRepository("after");
  await makeImage(`${before}:v1`);
  await makeImage(`${after}:v1`);
  await createWorkload(
    workloadObject("Deployment", ns, "before", [{ name: "app", image: `${before}:v1` }]),
  );
  await using loop = await startLoop(["-n", ns, "--log-level", "debug"]);

  await kube.restartApiServer();
  // A workload created after the restart is only known through a new watch.
  await createWorkload(
    workloadObject("Deployment", ns, "after", [{ name: "app", image: `${after}:v1` }]),
  );
  await loop.waitForLine(new RegExp(`Watch: ADDED Deployment ${ns}/after`), 90_000);

  await buildAndTag(`${before}:v2`);
  await buildAndTag(`${after}:v2`);
  await waitForImages("Deployment", ns, "before", { app: `${before}:v2` });
  await waitForImages("Deployment", ns, "after", { app: `${after}:v2` });
});

e2eTest("with containerd as the engine, an imported image updates the workload", async () => {
  const engine = await containerd();
  const ns = await createNamespace();
  const repo = uniqueRepository("ctrimage");
  await makeImage(`${repo}:v1`);
  await importIntoContainerd(`${repo}:v1`);
  await createWorkload(
    workloadObject("Deployment", ns, "web", [{ name: "app", image: `${repo}:v1` }]),
  );
  await using _loop = await startLoop(["-n", ns], {
    engineArgs: [
      "--runtime",
      "containerd",
      "--containerd-socket",
      engine.socket,
      "--containerd-namespace",
      engine.namespace,
    ],
  });

  await makeImage(`${repo}:v2`);
  await importIntoContainerd(`${repo}:v2`);
  await waitForImages("Deployment", ns, "web", { app: `${repo}:v2` });
});
