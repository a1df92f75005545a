/**
 * The loop survives what happens on a dev box, the API server or the Docker
 * daemon restarting, and works the same with containerd as the engine.
 * Docker-engine tests assert the patches; pods run only on the containerd node (node_e2e_test.ts).
 */
import assert from "node:assert/strict";
import {
  containerd,
  docker,
  e2eTest,
  importIntoContainerd,
  kubernetes,
  makeImage,
} from "./env/mod.ts";
import { freePort } from "./env/process.ts";
import { eventually } from "./helpers/eventually.ts";
import { buildAndTag, startLoop, uniqueRepository, waitForImages } from "./helpers/loop.ts";
import {
  api,
  createNamespace,
  createWorkload,
  eventsIn,
  workloadObject,
} from "./helpers/workloads.ts";

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
  // A workload created after the restart is only known through a new watch, or through
  // the re-list after a 410: other writers (the test node's leases) move etcd's revision
  // while the API server is down, and its fresh watch cache may refuse the old one.
  await createWorkload(
    workloadObject("Deployment", ns, "after", [{ name: "app", image: `${after}:v1` }]),
  );
  await loop.waitForLine(
    new RegExp(`Watch: ADDED Deployment ${ns}/after|Listed 2 Deployments`),
    90_000,
  );

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

e2eTest(
  "a restarted Docker daemon loses no image change: the diff after reconnecting",
  async () => {
    const engine = await docker();
    const ns = await createNamespace();
    const during = uniqueRepository("during");
    const after = uniqueRepository("after");
    await makeImage(`${during}:v1`);
    await makeImage(`${after}:v1`);
    await createWorkload(
      workloadObject("Deployment", ns, "during", [{ name: "app", image: `${during}:v1` }]),
    );
    await createWorkload(
      workloadObject("Deployment", ns, "after", [{ name: "app", image: `${after}:v1` }]),
    );
    // No periodic re-read during the test: only the diff after reconnecting can catch `during`.
    await using loop = await startLoop(["-n", ns, "--resync-period", "3600"]);

    // veryfreshpod is held still while the daemon restarts and `during:v2` is tagged, so the
    // tag's event goes to no stream it follows: it learns of it only by reconnecting and diffing.
    Deno.kill(loop.pid, "SIGSTOP");
    try {
      await engine.restart();
      await buildAndTag(`${during}:v2`);
    } finally {
      Deno.kill(loop.pid, "SIGCONT");
    }
    await loop.waitForLine(/Reconnected to docker/);
    await waitForImages("Deployment", ns, "during", { app: `${during}:v2` });
    // And events flow again on the new stream.
    await buildAndTag(`${after}:v2`);
    await waitForImages("Deployment", ns, "after", { app: `${after}:v2` });
    // Each update's Event is recorded right after its patch.
    const events = await eventually("an ImageUpdated Event on both", async () => {
      const recorded = await eventsIn(ns);
      const both = ["during", "after"].every((name) =>
        recorded.some((e) => e.startsWith(`Deployment/${name} ImageUpdated`))
      );
      return both ? recorded : undefined;
    });
    assert.equal(events.filter((e) => e.includes(" ImageUpdated ")).length, 2, events.join("; "));
    assert.ok(loop.lines.some((line) => /WARN +Lost the connection to docker/.test(line)));
  },
);

e2eTest(
  "a hung Docker daemon makes veryfreshpod not ready, once, until it answers again",
  async () => {
    const engine = await docker();
    const ns = await createNamespace();
    const repo = uniqueRepository("hung");
    await makeImage(`${repo}:v1`);
    await createWorkload(
      workloadObject("Deployment", ns, "web", [{ name: "app", image: `${repo}:v1` }]),
    );
    const port = freePort();
    await using loop = await startLoop(["-n", ns, "--health-addr", `127.0.0.1:${port}`]);
    const health = async () => {
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      await ready.body?.cancel();
      const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const connected = /^veryfreshpod_engine_connected (\d+)$/m.exec(metrics)?.[1];
      return { status: ready.status, connected };
    };
    await eventually("/readyz 200", async () => (await health()).status === 200 || undefined);

    // dockerd stopped: its socket still accepts connections, nothing answers.
    Deno.kill(engine.pid, "SIGSTOP");
    try {
      await eventually("/readyz 503 with the engine marked down", async () => {
        const now = await health();
        return (now.status === 503 && now.connected === "0") || undefined;
      }, 30_000);
      // Several more re-reads time out meanwhile: still one line.
      await loop.waitForLine(/does not answer/);
      await new Promise((resolve) => setTimeout(resolve, 4_000));
    } finally {
      Deno.kill(engine.pid, "SIGCONT");
    }
    await loop.waitForLine(/answers again/, 30_000);
    await eventually("/readyz 200 again", async () => {
      const now = await health();
      return (now.status === 200 && now.connected === "1") || undefined;
    });
    assert.equal(loop.lines.filter((line) => /does not answer/.test(line)).length, 1);
    assert.match(
      loop.lines.find((line) => /does not answer/.test(line))!,
      /WARN +docker .* does not answer: no image list within 5 s; marked down/,
    );
    // And the loop works on.
    await buildAndTag(`${repo}:v2`);
    await waitForImages("Deployment", ns, "web", { app: `${repo}:v2` });
  },
);

e2eTest("an image built while the API server is down is applied once it is back", async () => {
  const kube = await kubernetes();
  const ns = await createNamespace();
  const repo = uniqueRepository("outage");
  await makeImage(`${repo}:v1`);
  await createWorkload(
    workloadObject("Deployment", ns, "web", [{ name: "app", image: `${repo}:v1` }]),
  );
  await using loop = await startLoop(["-n", ns]);

  await kube.stopApiServer();
  try {
    await buildAndTag(`${repo}:v2`);
    await loop.waitForLine(
      /WARN +Cannot update Deployment .*\/web yet: .*; will try again/,
      60_000,
    );
  } finally {
    await kube.startApiServer();
  }
  await waitForImages("Deployment", ns, "web", { app: `${repo}:v2` }, 60_000);
});

e2eTest("a watch whose history was compacted away lists again and goes on", async () => {
  const kube = await kubernetes();
  const ns = await createNamespace();
  const repo = uniqueRepository("compacted");
  await makeImage(`${repo}:v1`);
  await createWorkload(
    workloadObject("Deployment", ns, "web", [{ name: "app", image: `${repo}:v1` }]),
  );
  await using loop = await startLoop(["-n", ns, "--log-level", "debug"]);

  // A write the watch does not see, then etcd forgets all history up to now while the API
  // server is down: resuming the watch from its last resourceVersion answers 410 Gone.
  await api("POST", `/api/v1/namespaces/${ns}/configmaps`, { metadata: { name: "bump" } });
  await kube.stopApiServer();
  try {
    const etcd = async (path: string, body: unknown) => {
      const response = await fetch(`${kube.etcdUrl}${path}`, {
        method: "POST",
        body: JSON.stringify(body),
      });
      assert.ok(response.ok, `etcd ${path}: ${response.status}`);
      return await response.json();
    };
    const { header } = await etcd("/v3/kv/range", { key: btoa("\0"), limit: 1 });
    await etcd("/v3/kv/compaction", { revision: header.revision, physical: true });
  } finally {
    await kube.startApiServer();
  }
  await loop.waitForLine(/Watch of deployments expired; listing again/, 60_000);

  await createWorkload(
    workloadObject("Deployment", ns, "late", [{ name: "app", image: `${repo}:v1` }]),
  );
  await loop.waitForLine(new RegExp(`Watch: ADDED Deployment ${ns}/late`));
  await buildAndTag(`${repo}:v2`);
  await waitForImages("Deployment", ns, "web", { app: `${repo}:v2` });
  await waitForImages("Deployment", ns, "late", { app: `${repo}:v2` });
});
