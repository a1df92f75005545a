/**
 * Proves that each piece of the test environment is real: the daemons start,
 * do their job, and can be talked to the way veryfreshpod talks to them.
 * When one of these fails, every other end-to-end failure is suspect.
 */

import "../lib/util/quiet_deprecations.ts";
import assert from "node:assert/strict";
import { eventually } from "./helpers/eventually.ts";
import * as k8s from "@kubernetes/client-node";
import { ContainerdEngine } from "../lib/engine/containerd.ts";
import {
  containerd,
  daemonVersions,
  DEFAULT_DOCKER_STORE,
  docker,
  dockerClassic,
  dockerContainerdStore,
  e2eTest,
  engineSet,
  engineVersions,
  imageId,
  importIntoContainerd,
  kubernetes,
  loadImage,
  makeImage,
  pushToRegistry,
  saveImage,
  serviceAccountToken,
  unixHttpClient,
} from "./env/mod.ts";

/** A name no other test run or test uses. */
function unique(prefix: string): string {
  return `${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

e2eTest("the end-to-end daemons report their versions", async () => {
  const versions = await daemonVersions();
  console.log(versions);
  for (const name of ["dockerd", "containerd", "docker-registry", "etcd", "kube-apiserver"]) {
    assert.match(versions, new RegExp(`^${name}: .*\\d+\\.\\d+`, "m"));
  }
  if (engineSet() === "today") {
    // The versions tests/engines/versions.env pins, as the built programs report them (an
    // engine built without its version calls itself "library-import").
    const pins = engineVersions();
    const expected: [string, string | undefined][] = [
      ["dockerd", pins.DOCKER_VERSION],
      ["docker", pins.DOCKER_CLI_VERSION],
      ["buildx", pins.BUILDX_VERSION],
      ["containerd", pins.CONTAINERD_VERSION],
      ["runc", pins.RUNC_VERSION],
    ];
    for (const [name, version] of expected) {
      assert.ok(version, `tests/engines/versions.env pins ${name}`);
      const line = versions.match(new RegExp(`^${name}: (.*)$`, "m"))?.[1] ?? "";
      assert.ok(line.includes(version), `${name} reports ${version}: ${line}`);
    }
  } else {
    assert.match(versions, /^dockerd: Docker version 20\.10\./m);
    assert.match(versions, /^containerd: containerd \S+ 1\.6\./m);
  }
});

e2eTest("the Docker daemons run the image store each stands for", async () => {
  const driverType = async (engine: Awaited<ReturnType<typeof docker>>) =>
    (JSON.parse(await engine.run(["info", "--format", "{{json .DriverStatus}}"])) ??
      []) as string[][];
  const snapshotter = (status: string[][]) =>
    status.some(([key, value]) =>
      key === "driver-type" && value === "io.containerd.snapshotter.v1"
    );
  const [main, classic] = await Promise.all([docker(), dockerClassic()]);
  assert.equal(classic.store, "classic");
  assert.equal(await classic.run(["info", "--format", "{{.Driver}}"]), "vfs");
  assert.equal(
    snapshotter(await driverType(classic)),
    false,
    "the classic store is a graph driver",
  );
  if (engineSet() === "today") {
    const containerdStore = await dockerContainerdStore();
    assert.equal(containerdStore.store, "containerd");
    assert.equal(snapshotter(await driverType(containerdStore)), true, "images in containerd");
    assert.notEqual(containerdStore.socket, classic.socket);
    assert.equal(main.store, DEFAULT_DOCKER_STORE);
    assert.equal(main, DEFAULT_DOCKER_STORE === "classic" ? classic : containerdStore);
  } else {
    assert.equal(main, classic, "Docker 20.10 has only the classic store: one daemon");
    await assert.rejects(dockerContainerdStore(), /Docker 20\.10 .* has no containerd image store/);
  }
});

e2eTest("docker build is a BuildKit build on today's engines, on each store", async () => {
  const engines = engineSet() === "today"
    ? [await dockerClassic(), await dockerContainerdStore()]
    : [await docker()];
  for (const engine of engines) {
    const dir = Deno.makeTempDirSync();
    try {
      Deno.writeTextFileSync(`${dir}/Dockerfile`, "FROM scratch\nCOPY greeting /greeting\n");
      Deno.writeTextFileSync(`${dir}/greeting`, crypto.randomUUID());
      const ref = `${unique("smoke-build")}:v1`;
      if (engineSet() === "today") {
        // Only buildx knows --metadata-file; the legacy builder refuses the flag.
        const metadataFile = `${dir}/metadata.json`;
        await engine.run(["build", "-q", "--metadata-file", metadataFile, "-t", ref, dir]);
        const metadata = JSON.parse(Deno.readTextFileSync(metadataFile));
        assert.match(metadata["containerimage.digest"] ?? "", /^sha256:/, engine.store);
        assert.ok(metadata["buildx.build.ref"], `a build of the buildx plugin (${engine.store})`);
      } else {
        await engine.run(["build", "-q", "-t", ref, dir]);
      }
      const id = await engine.run(["image", "inspect", "--format", "{{.Id}}", ref]);
      assert.match(id, /^sha256:[0-9a-f]{64}$/);
    } finally {
      Deno.removeSync(dir, { recursive: true });
    }
  }
});

e2eTest(
  "the API server answers the machine's clients on loopback and the node on its veth address, nowhere else",
  async () => {
    const kube = await kubernetes();
    const server = new URL(kube.server);
    const nodeSide = new URL(kube.nodeSideServer);
    assert.equal(server.hostname, "127.0.0.1");
    assert.notEqual(nodeSide.hostname, "127.0.0.1");
    const kubeconfig = JSON.parse(Deno.readTextFileSync(kube.kubeconfig));
    assert.equal(kubeconfig.clusters[0].cluster.server, kube.server);
    const caCert = Deno.readTextFileSync(kube.caFile);
    for (const url of [kube.server, kube.nodeSideServer]) {
      const client = Deno.createHttpClient({ caCerts: [caCert] });
      try {
        const response = await fetch(`${url}/readyz`, {
          client,
          headers: { authorization: `Bearer ${kube.adminToken}` },
        });
        assert.equal(response.status, 200, url);
        await response.body?.cancel();
      } finally {
        client.close();
      }
    }
    // Every listening socket on the API server's port, by local address.
    const listening = (await new Deno.Command("ss", {
      args: ["-Hltn", `sport = :${server.port}`],
      stdout: "piped",
    }).output()).stdout;
    const addresses = new TextDecoder().decode(listening).trim().split("\n")
      .map((line) => line.split(/\s+/)[3]?.replace(/:\d+$/, ""));
    assert.deepEqual(addresses.sort(), [nodeSide.hostname, "127.0.0.1"].sort());
  },
);

e2eTest("a test image runs a command in a container without network", async () => {
  const ref = `${unique("smoke-run")}:v1`;
  await makeImage(ref, { "/etc/greeting": "hello from the image" });
  const output = await (await docker()).run([
    ...["run", "--rm", "--network", "none", ref, "cat", "/etc/greeting"],
  ]);
  assert.equal(output, "hello from the image");
});

e2eTest("each test image gets an image ID of its own", async () => {
  const repo = unique("smoke-ids");
  const first = await makeImage(`${repo}:a`);
  const second = await makeImage(`${repo}:b`);
  assert.match(first, /^sha256:[0-9a-f]{64}$/);
  assert.notEqual(first, second);
});

interface DockerEvent {
  Type?: string;
  Action?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

e2eTest("docker tag shows up as a tag event on the engine's event stream", async () => {
  const engine = await docker();
  const source = `${unique("smoke-events")}:v1`;
  const id = await makeImage(source);
  const target = `${unique("smoke-events-new")}:v2`;
  const client = unixHttpClient(engine.socket);
  const abort = new AbortController();
  try {
    // `since` replays from the daemon's ring buffer, so a tag made before the
    // subscription is in place is not lost.
    const since = Math.floor(Date.now() / 1000) - 1;
    const filters = encodeURIComponent(JSON.stringify({ type: ["image"], event: ["tag"] }));
    const response = await fetch(
      `http://localhost/v1.41/events?since=${since}&filters=${filters}`,
      { client, signal: abort.signal },
    );
    assert.equal(response.status, 200);
    await engine.run(["tag", source, target]);
    // Bounded: a tag event that never comes ends the stream and fails the test.
    const timer = setTimeout(() => abort.abort(), 30_000);
    const found = await (async () => {
      let buffered = "";
      const decoder = new TextDecoder();
      for await (const chunk of response.body!) {
        buffered += decoder.decode(chunk, { stream: true });
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        for (const line of lines.filter((l) => l.trim())) {
          const event = JSON.parse(line) as DockerEvent;
          if (event.Actor?.Attributes?.name === target) return event;
        }
      }
      return undefined;
    })().catch((error) => {
      if (abort.signal.aborted) return undefined;
      throw error;
    }).finally(() => clearTimeout(timer));
    assert.ok(found, `no tag event for ${target} within 30 s`);
    assert.equal(found.Type, "image");
    assert.equal(found.Action, "tag");
    assert.equal(found.Actor?.ID, id);
  } finally {
    abort.abort();
    client.close();
  }
});

e2eTest("an image pushed to the private registry can be pulled back after removal", async () => {
  const engine = await docker();
  const ref = `${unique("smoke-pull")}:v1`;
  const id = await makeImage(ref);
  const remote = await pushToRegistry(ref);
  await engine.run(["rmi", remote, ref]);
  await assert.rejects(imageId(remote), /No such image/i);
  await engine.run(["pull", remote]);
  assert.equal(await imageId(remote), id);
});

e2eTest("an image saved to a tarball can be loaded back after removal", async () => {
  const engine = await docker();
  const ref = `${unique("smoke-load")}:v1`;
  const id = await makeImage(ref);
  const tarball = await saveImage(ref);
  await engine.run(["rmi", ref]);
  await assert.rejects(imageId(ref), /No such image/i);
  await loadImage(tarball);
  assert.equal(await imageId(ref), id);
});

e2eTest("an image imported into containerd is listed over containerd's gRPC API", async () => {
  const repo = unique("smoke-ctr");
  await makeImage(`${repo}:v1`);
  const name = `docker.io/library/${repo}:v1`;
  assert.deepEqual(await importIntoContainerd(`${repo}:v1`), [name]);
  const ctr = await containerd();
  // ctr's row for the image: REF TYPE DIGEST SIZE PLATFORMS LABELS.
  const row = (await ctr.ctr(["images", "ls", `name==${name}`])).split("\n")
    .find((line) => line.startsWith(`${name} `));
  const digest = row?.split(/\s+/)[2];
  assert.match(digest ?? "", /^sha256:[0-9a-f]{64}$/);

  const engine = ContainerdEngine.create({ socket: ctr.socket, namespace: ctr.namespace });
  const elsewhere = ContainerdEngine.create({ socket: ctr.socket, namespace: "default" });
  try {
    const snapshot = await engine.snapshot();
    assert.equal(snapshot.get(name)?.id, digest, "gRPC and ctr see the same image");
    assert.equal(snapshot.get(name)?.fromRegistry, false);
    const other = await elsewhere.snapshot();
    assert.equal(other.has(name), false, "the image is only in the namespace it was imported into");
  } finally {
    engine.close();
    elsewhere.close();
  }
});

e2eTest(
  "a Deployment makes the controller-manager create a ReplicaSet with its image",
  async () => {
    const kube = await kubernetes();
    const config = new k8s.KubeConfig();
    config.loadFromFile(kube.kubeconfig);
    const core = config.makeApiClient(k8s.CoreV1Api);
    const apps = config.makeApiClient(k8s.AppsV1Api);
    const namespace = unique("smoke-deploy");
    await core.createNamespace({ body: { metadata: { name: namespace } } });
    const image = "registry.local/team/app:v1";
    const labels = { app: "smoke" };
    await apps.createNamespacedDeployment({
      namespace,
      body: {
        metadata: { name: "app" },
        spec: {
          selector: { matchLabels: labels },
          template: {
            metadata: { labels },
            spec: { containers: [{ name: "app", image, imagePullPolicy: "IfNotPresent" }] },
          },
        },
      },
    });
    const replicaSet = await eventually("a ReplicaSet of the Deployment", async () => {
      const list = await apps.listNamespacedReplicaSet({ namespace });
      return list.items.find((rs) => rs.metadata?.ownerReferences?.some((o) => o.name === "app"));
    }, 60_000);
    assert.equal(replicaSet.spec?.template?.spec?.containers[0]?.image, image);
  },
);

e2eTest("a service-account token is refused with 403 where RBAC grants nothing", async () => {
  const kube = await kubernetes();
  const namespace = unique("smoke-rbac");
  const created = (path: string, body: unknown) =>
    kube.request("POST", path, { body }).then((r) => assert.equal(r.status, 201, r.body?.message));
  await created("/api/v1/namespaces", { metadata: { name: namespace } });
  await created(`/api/v1/namespaces/${namespace}/serviceaccounts`, { metadata: { name: "bot" } });
  const rbac = `/apis/rbac.authorization.k8s.io/v1/namespaces/${namespace}`;
  await created(`${rbac}/roles`, {
    metadata: { name: "read-configmaps" },
    rules: [{ apiGroups: [""], resources: ["configmaps"], verbs: ["list"] }],
  });
  await created(`${rbac}/rolebindings`, {
    metadata: { name: "bot-reads-configmaps" },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name: "read-configmaps" },
    subjects: [{ kind: "ServiceAccount", name: "bot", namespace }],
  });
  const token = await serviceAccountToken(namespace, "bot");
  // Granted, so the token itself is valid (not 401) and RBAC really decides.
  const allowed = await kube.request("GET", `/api/v1/namespaces/${namespace}/configmaps`, {
    token,
  });
  assert.equal(allowed.status, 200, allowed.body?.message);
  const refused = await kube.request("GET", `/api/v1/namespaces/${namespace}/secrets`, { token });
  assert.equal(refused.status, 403);
  assert.match(refused.body?.message ?? "", new RegExp(`system:serviceaccount:${namespace}:bot`));
});
