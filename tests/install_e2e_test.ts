/**
 * Self-install end to end, on the real daemons: `veryfreshpod install` run
 * from source (with `--executable` naming the Deno binary, since the compiled
 * veryfreshpod cannot be built here) against the test API server and dockerd;
 * the objects as specified, a second install that changes nothing, the image
 * running under dockerd, the RBAC grant proven by the real authorizer, and
 * uninstall. The test cluster has no kubelet, so the Node whose runtime
 * install reads is created through the API.
 *
 * The tests of this file run in order and share the installed objects.
 */
import assert from "node:assert/strict";
import { kubeconfigWithToken } from "./helpers/kubeconfig.ts";
import { docker, e2eTest, kubernetes, makeImage, serviceAccountToken } from "./env/mod.ts";
import { busyboxPath, isStaticExecutable } from "./env/paths.ts";
import { runVeryfreshpod, startVeryfreshpod } from "./helpers/veryfreshpod_process.ts";
import { registerNode } from "./helpers/nodes.ts";
import { eventually } from "./helpers/eventually.ts";
import { createNamespace, createWorkload, imagesOf, workloadObject } from "./helpers/workloads.ts";
import { DockerEngine } from "../lib/engine/docker.ts";
import { importImage } from "../lib/install/image.ts";
import { buildRootfs } from "../lib/install/rootfs.ts";
import { VERSION } from "../lib/util/version.ts";

const NODE = "vfp-install-node";
const NS = "veryfreshpod";
const LABELS = {
  "app.kubernetes.io/name": "veryfreshpod",
  "app.kubernetes.io/managed-by": "veryfreshpod",
};
const OBJECT_PATHS = {
  "namespace/veryfreshpod": `/api/v1/namespaces/${NS}`,
  "serviceaccount/veryfreshpod": `/api/v1/namespaces/${NS}/serviceaccounts/veryfreshpod`,
  "clusterrole.rbac.authorization.k8s.io/veryfreshpod":
    "/apis/rbac.authorization.k8s.io/v1/clusterroles/veryfreshpod",
  "clusterrolebinding.rbac.authorization.k8s.io/veryfreshpod":
    "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/veryfreshpod",
  "role.rbac.authorization.k8s.io/veryfreshpod":
    "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-public/roles/veryfreshpod",
  "rolebinding.rbac.authorization.k8s.io/veryfreshpod":
    "/apis/rbac.authorization.k8s.io/v1/namespaces/kube-public/rolebindings/veryfreshpod",
  "deployment.apps/veryfreshpod": `/apis/apps/v1/namespaces/${NS}/deployments/veryfreshpod`,
};

/** A Node like a kubelet on Docker registers; the test cluster has none of its own. */
function ensureNode(runtimeVersion = "docker://24.0.7"): Promise<void> {
  return registerNode(NODE, runtimeVersion);
}

async function install(...extra: string[]) {
  const [kube, engine] = await Promise.all([kubernetes(), docker()]);
  await ensureNode();
  return await runVeryfreshpod([
    ...["install", "--kubeconfig", kube.kubeconfig, "--docker-host", engine.host],
    ...["--executable", Deno.execPath(), ...extra],
  ]);
}

async function uninstall(...extra: string[]) {
  const kube = await kubernetes();
  return await runVeryfreshpod(["uninstall", "--kubeconfig", kube.kubeconfig, ...extra]);
}

async function get(path: string) {
  const response = await (await kubernetes()).request("GET", path);
  assert.equal(response.status, 200, `GET ${path}: ${JSON.stringify(response.body)}`);
  return response.body;
}

/** `name -> outcome` from install's or uninstall's object lines. */
function outcomes(stdout: string): Record<string, string> {
  const result: Record<string, string> = {};
  for (const line of stdout.split("\n")) {
    const match = line.match(/^(\S+\/veryfreshpod)(?: \(namespace \S+\))? (.+?)(?: \(dry run\))?$/);
    if (match) result[match[1]!] = match[2]!;
  }
  return result;
}

e2eTest("install creates every object of the manifest as specified", async () => {
  await uninstall(); // a leftover of an interrupted run would turn "created" into "unchanged"
  const result = await install();
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(
    outcomes(result.stdout),
    Object.fromEntries(Object.keys(OBJECT_PATHS).map((name) => [name, "created"])),
  );
  assert.match(result.stdout, /Node "vfp-install-node" runs docker:\/\/24\.0\.7/);
  assert.match(
    result.stdout,
    /Image veryfreshpod:\S+ from .*: (imported into|unchanged in) docker/,
  );

  for (const path of Object.values(OBJECT_PATHS)) {
    const object = await get(path);
    for (const [key, value] of Object.entries(LABELS)) {
      assert.equal(object.metadata.labels[key], value, `label ${key} of ${path}`);
    }
  }

  const role = await get(OBJECT_PATHS["clusterrole.rbac.authorization.k8s.io/veryfreshpod"]);
  assert.deepEqual(role.rules, [
    {
      apiGroups: ["apps"],
      resources: ["deployments", "statefulsets", "daemonsets"],
      verbs: ["get", "list", "watch", "patch"],
    },
    { apiGroups: ["batch"], resources: ["cronjobs"], verbs: ["get", "list", "watch", "patch"] },
    { apiGroups: [""], resources: ["events"], verbs: ["create", "patch"] },
    { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
    { apiGroups: [""], resources: ["pods/log"], verbs: ["get"] },
    { apiGroups: [""], resources: ["events"], verbs: ["get", "list"] },
  ]);
  const binding = await get(
    OBJECT_PATHS["clusterrolebinding.rbac.authorization.k8s.io/veryfreshpod"],
  );
  assert.deepEqual(binding.subjects, [
    { kind: "ServiceAccount", name: "veryfreshpod", namespace: NS },
  ]);

  const deployment = await get(OBJECT_PATHS["deployment.apps/veryfreshpod"]);
  assert.equal(deployment.spec.replicas, 1);
  assert.equal(deployment.spec.strategy.type, "Recreate");
  const pod = deployment.spec.template.spec;
  assert.equal(pod.serviceAccountName, "veryfreshpod");
  const [container] = pod.containers;
  assert.equal(container.image, `veryfreshpod:${VERSION}`);
  assert.equal(container.imagePullPolicy, "Never");
  assert.deepEqual(container.args, [
    "run",
    "--health-addr=:8081",
    "--docker-host=unix:///var/run/docker.sock",
  ]);
  assert.deepEqual(container.securityContext, {
    runAsUser: 0,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  });
  assert.equal(container.livenessProbe.httpGet.path, "/healthz");
  assert.equal(container.readinessProbe.httpGet.path, "/readyz");
  assert.equal(container.ports[0].containerPort, 8081);
  assert.ok(container.resources.requests.memory && container.resources.limits.memory);
  assert.ok(container.resources.requests.cpu && container.resources.limits.cpu);
  const socketVolume = pod.volumes.find((v: { name: string }) => v.name === "engine-socket");
  assert.deepEqual(socketVolume.hostPath, { path: "/var/run/docker.sock", type: "Socket" });
  assert.match(
    deployment.spec.template.metadata.annotations["veryfreshpod.io/rootfs-sha256"],
    /^sha256:[0-9a-f]{64}$/,
  );

  // The controller-manager accepts the Deployment: it makes a ReplicaSet with one pod.
  await eventually("the Deployment's ReplicaSet", async () => {
    const list = await get(`/apis/apps/v1/namespaces/${NS}/replicasets`);
    return list.items.length > 0 && list.items[0].spec.replicas === 1 ? true : undefined;
  });
});

e2eTest("a second install reports every object unchanged", async () => {
  const result = await install();
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(
    outcomes(result.stdout),
    Object.fromEntries(Object.keys(OBJECT_PATHS).map((name) => [name, "unchanged"])),
  );
  assert.match(result.stdout, /Image veryfreshpod:\S+ from .*: unchanged in docker/);
  const dryRun = await install("--dry-run");
  assert.equal(dryRun.code, 0, dryRun.stderr);
  assert.deepEqual(
    new Set(Object.values(outcomes(dryRun.stdout))),
    new Set(["unchanged"]),
    dryRun.stdout,
  );
});

e2eTest("the installed image runs under the real dockerd without network", async () => {
  const engine = await docker();
  // The image install built holds the Deno executable as /usr/local/bin/veryfreshpod.
  const output = await engine.run([
    ...["run", "--rm", "--network", "none", `veryfreshpod:${VERSION}`, "--version"],
  ]);
  assert.match(output, /^deno \d+\.\d+\.\d+/);
  const script = await engine.run([
    ...["run", "--rm", "--network", "none", "--read-only", `veryfreshpod:${VERSION}`],
    ...["eval", "console.log(Deno.build.os + ' ' + 6 * 7)"],
  ]);
  assert.equal(script, "linux 42");
});

/** Deno's cache directory, which holds the npm packages veryfreshpod imports. */
async function denoDir(): Promise<string> {
  const output = await new Deno.Command(Deno.execPath(), { args: ["info", "--json"] }).output();
  return JSON.parse(new TextDecoder().decode(output.stdout)).denoDir;
}

e2eTest(
  "the image runs the watch loop the way the pod does: read-only root, no capabilities, only the engine socket",
  async () => {
    const [kube, engine] = await Promise.all([kubernetes(), docker()]);
    const installed = await install(); // idempotent: this test also runs on its own
    assert.equal(installed.code, 0, installed.stderr);
    const source = new URL("..", import.meta.url).pathname;
    const port = freePort();
    // The image holds Deno instead of the compiled veryfreshpod, so the program comes from a
    // read-only mount of the source and Deno's cache; everything else is as in the manifest.
    // (Host network only to reach the test API server on 127.0.0.1.)
    const id = await engine.run([
      ...["run", "-d", "--network", "host", "--read-only", "--tmpfs", "/tmp", "--user", "0"],
      ...["--cap-drop", "ALL", "--security-opt", "no-new-privileges"],
      ...["-v", `${engine.socket}:/var/run/docker.sock`, "-v", `${kube.kubeconfig}:/kubeconfig:ro`],
      ...["-v", `${kube.caFile}:${kube.caFile}:ro`, "-v", `${source}:/src:ro`],
      ...["-v", `${await denoDir()}:/deno:ro`, "-e", "DENO_DIR=/deno", "-e", "HOME=/tmp"],
      `veryfreshpod:${VERSION}`,
      ...["run", "-A", "--no-check", "--cached-only", "/src/main.ts", "run"],
      ...["--kubeconfig", "/kubeconfig", "--docker-host", "unix:///var/run/docker.sock"],
      ...["--health-addr", `127.0.0.1:${port}`],
    ]);
    try {
      await eventually("/readyz of the containerised loop to answer 200", async () => {
        const response = await fetch(`http://127.0.0.1:${port}/readyz`);
        await response.body?.cancel();
        return response.status === 200 ? true : undefined;
      }, 60_000).catch(async (error) => {
        throw new Error(`${error.message}; its log:\n${await engine.run(["logs", id])}`);
      });
    } finally {
      await engine.run(["rm", "-f", id]);
    }
  },
);

e2eTest("an image built from a static executable runs too", async () => {
  // prepare.ts installs it (Debian busybox-static); without it this test cannot prove anything.
  assert.ok(
    isStaticExecutable(busyboxPath),
    `${busyboxPath} is missing or not a static executable: run \`deno run -A tests/env/prepare.ts\` ` +
      "(it installs the Debian package busybox-static)",
  );
  const engine = await docker();
  const rootfs = buildRootfs({ executable: busyboxPath, name: "busybox" });
  const client = DockerEngine.create({ host: engine.host });
  try {
    await importImage(client.client, rootfs, "vfp-install-busybox:test");
  } finally {
    client.close();
  }
  const output = await engine.run([
    ...["run", "--rm", "--network", "none", "vfp-install-busybox:test", "echo", "static ok"],
  ]);
  assert.equal(output, "static ok");
});

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  listener.close();
  return port;
}

e2eTest(
  "with the installed service account's token the watch loop works, and secrets, pod deletion and Service patches are refused",
  async () => {
    const [kube, engine] = await Promise.all([kubernetes(), docker()]);
    const installed = await install(); // idempotent: this test also runs on its own
    assert.equal(installed.code, 0, installed.stderr);
    const token = await serviceAccountToken(NS, "veryfreshpod");
    const kubeconfig = await kubeconfigWithToken(token);
    const ns = await createNamespace("rbac");
    const repo = `vfp-install-rbac-${Date.now().toString(36)}`;
    await makeImage(`${repo}:v1`);
    await createWorkload(workloadObject("Deployment", ns, "app", [
      { name: "app", image: `${repo}:v1`, imagePullPolicy: "IfNotPresent" },
    ]));
    const service = await kube.request("POST", `/api/v1/namespaces/${ns}/services`, {
      body: { metadata: { name: "app" }, spec: { ports: [{ port: 80 }], selector: { app: "x" } } },
    });
    assert.equal(service.status, 201, JSON.stringify(service.body));
    // The ReplicaSet controller makes the pod once the namespace's default service account exists.
    const pod = await eventually("a pod of the Deployment", async () => {
      const list = (await kube.request("GET", `/api/v1/namespaces/${ns}/pods`)).body;
      return list.items?.[0]?.metadata?.name as string | undefined;
    }, 60_000);

    // The real authorizer refuses what the ClusterRole does not grant.
    const refused = [
      ["GET", `/api/v1/namespaces/${ns}/secrets`, undefined],
      ["GET", "/api/v1/secrets", undefined],
      ["DELETE", `/api/v1/namespaces/${ns}/pods/${pod}`, undefined],
      ["PATCH", `/api/v1/namespaces/${ns}/services/app`, { metadata: { labels: { x: "y" } } }],
      // Pods are only read (to follow rollouts), never changed.
      ["PATCH", `/api/v1/namespaces/${ns}/pods/${pod}`, { metadata: { labels: { x: "y" } } }],
      ["POST", `/api/v1/namespaces/${ns}/pods/${pod}/eviction`, {
        apiVersion: "policy/v1",
        kind: "Eviction",
        metadata: { name: pod, namespace: ns },
      }],
    ] as const;
    // The cluster's registry announcement is the one ConfigMap it may read; no other, no list.
    const announcement = await kube.request("POST", "/api/v1/namespaces/kube-public/configmaps", {
      body: {
        metadata: { name: "local-registry-hosting" },
        data: { "localRegistryHosting.v1": "host: localhost:5001\n" },
      },
    });
    assert.ok([201, 409].includes(announcement.status), JSON.stringify(announcement.body));
    const readable = await kube.request(
      "GET",
      "/api/v1/namespaces/kube-public/configmaps/local-registry-hosting",
      { token },
    );
    assert.equal(readable.status, 200, JSON.stringify(readable.body));
    await kube.request(
      "DELETE",
      "/api/v1/namespaces/kube-public/configmaps/local-registry-hosting",
    );
    for (
      const path of [
        "/api/v1/namespaces/kube-public/configmaps/cluster-info",
        "/api/v1/namespaces/kube-public/configmaps",
        `/api/v1/namespaces/${ns}/configmaps/local-registry-hosting`,
      ]
    ) {
      const response = await kube.request("GET", path, { token });
      assert.equal(response.status, 403, `GET ${path}: ${JSON.stringify(response.body)}`);
    }
    for (const [method, path, body] of refused) {
      const response = await kube.request(method, path, {
        token,
        body,
        contentType: "application/merge-patch+json",
      });
      assert.equal(response.status, 403, `${method} ${path}: ${JSON.stringify(response.body)}`);
    }
    assert.equal((await kube.request("GET", `/api/v1/namespaces/${ns}/pods/${pod}`)).status, 200);
    // What following a rollout reads is allowed: pods (get, list, watch) and their logs.
    const allowed = [
      `/api/v1/namespaces/${ns}/pods/${pod}`,
      `/api/v1/namespaces/${ns}/pods?labelSelector=app%3Dapp`,
      `/api/v1/namespaces/${ns}/pods?watch=1&timeoutSeconds=1`,
      `/api/v1/pods?limit=1`,
    ];
    for (const path of allowed) {
      const response = await kube.request("GET", path, { token });
      assert.equal(response.status, 200, `GET ${path}: ${JSON.stringify(response.body)}`);
    }
    // No container has run (no node here), so the log itself is missing; but not forbidden.
    const log = await kube.request("GET", `/api/v1/namespaces/${ns}/pods/${pod}/log`, { token });
    assert.notEqual(log.status, 403, JSON.stringify(log.body));

    // And the watch loop, run with that token, updates the Deployment when a new tag appears.
    const healthPort = freePort();
    await using loop = startVeryfreshpod([
      ...["run", "--kubeconfig", kubeconfig, "--docker-host", engine.host],
      ...["--resync-period", "1", "--health-addr", `127.0.0.1:${healthPort}`],
    ]);
    await loop.waitForLine(/Tracking \d+ workloads?/);
    await eventually("/readyz to answer 200", async () => {
      const response = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
      await response.body?.cancel();
      return response.status === 200 ? true : undefined;
    });
    // A new image (a tag of the same image ID would rightly be left alone).
    await makeImage(`${repo}:v2`);
    await eventually("the Deployment to run v2", async () => {
      const object = (await kube.request("GET", `/apis/apps/v1/namespaces/${ns}/deployments/app`))
        .body;
      return imagesOf(object).app === `${repo}:v2` ? true : undefined;
    }).catch((error) => {
      throw new Error(`${error.message}; veryfreshpod's log:\n${loop.lines.join("\n")}`);
    });
    await eventually("the update's Event", async () => {
      const events = (await kube.request("GET", `/api/v1/namespaces/${ns}/events`)).body;
      return events.items?.some((
          e: { source?: { component?: string }; reportingComponent?: string },
        ) => `${e.source?.component}${e.reportingComponent}`.includes("veryfreshpod")
        )
        ? true
        : undefined;
    });
    // Not a bare /403/: a port number like 40379 would match it.
    assert.doesNotMatch(loop.lines.join("\n"), /\b403\b|forbidden/i);
    await Deno.remove(kubeconfig);
  },
);

e2eTest("install tells in one line what a user without permissions lacks", async () => {
  const kube = await kubernetes();
  const ns = await createNamespace("nobody");
  await eventually("the namespace's default service account", async () => {
    const response = await kube.request("GET", `/api/v1/namespaces/${ns}/serviceaccounts/default`);
    return response.status === 200 ? true : undefined;
  });
  const kubeconfig = await kubeconfigWithToken(await serviceAccountToken(ns, "default"));
  const detect = await runVeryfreshpod(["install", "--kubeconfig", kubeconfig, "--image", "x:1"]);
  assert.equal(detect.code, 5, detect.stderr);
  assert.match(detect.stderr, /^error: Kubernetes refused to list nodes .*403.*--runtime/);
  const apply = await runVeryfreshpod([
    ...["install", "--kubeconfig", kubeconfig, "--image", "x:1", "--runtime", "docker"],
  ]);
  assert.equal(apply.code, 5, apply.stderr);
  assert.match(apply.stderr, /^error: Kubernetes refused to get namespaces at cluster scope \(403/);
  assert.equal(apply.stderr.trim().split("\n").length, 1, apply.stderr);
  await Deno.remove(kubeconfig);
});

e2eTest("install says in one line when the cluster is unreachable", async () => {
  const kubeconfig = await Deno.makeTempFile({ suffix: ".kubeconfig" });
  await Deno.writeTextFile(
    kubeconfig,
    JSON.stringify({
      apiVersion: "v1",
      kind: "Config",
      clusters: [{ name: "c", cluster: { server: `https://127.0.0.1:${freePort()}` } }],
      users: [{ name: "u", user: { token: "t" } }],
      contexts: [{ name: "c", context: { cluster: "c", user: "u" } }],
      "current-context": "c",
    }),
  );
  const result = await runVeryfreshpod(["install", "--kubeconfig", kubeconfig]);
  assert.equal(result.code, 4, result.stderr);
  assert.match(result.stderr, /^error: Cannot reach the Kubernetes API server at https:\/\/127/);
  assert.equal(result.stderr.trim().split("\n").length, 1, result.stderr);
  await Deno.remove(kubeconfig);
});

e2eTest("install refuses to build its image from Deno itself, on either runtime", async () => {
  const kube = await kubernetes();
  for (const runtime of ["docker", "containerd"]) {
    const fromSource = await runVeryfreshpod([
      ...["install", "--kubeconfig", kube.kubeconfig, "--runtime", runtime],
      // On containerd, install would look for a Docker socket: never the machine's own.
      ...["--docker-socket", "none"],
    ]);
    assert.equal(fromSource.code, 2, fromSource.stderr);
    assert.match(fromSource.stderr, /^error: veryfreshpod is running from source.*--image\n$/);
  }
});

e2eTest("uninstall deletes every installed object, and again finds nothing to do", async () => {
  const dryRun = await uninstall("--dry-run");
  assert.equal(dryRun.code, 0, dryRun.stderr);
  assert.deepEqual(
    outcomes(dryRun.stdout),
    Object.fromEntries(Object.keys(OBJECT_PATHS).map((name) => [name, "deleted"])),
  );
  await get(OBJECT_PATHS["deployment.apps/veryfreshpod"]);

  const result = await uninstall();
  assert.equal(result.code, 0, result.stderr);
  assert.deepEqual(
    outcomes(result.stdout),
    Object.fromEntries(Object.keys(OBJECT_PATHS).map((name) => [name, "deleted"])),
  );
  assert.match(result.stdout, /Uninstalled: every object is gone/);
  const kube = await kubernetes();
  for (const path of Object.values(OBJECT_PATHS)) {
    assert.equal((await kube.request("GET", path)).status, 404, path);
  }

  const again = await uninstall();
  assert.equal(again.code, 0, again.stderr);
  assert.match(again.stdout, /^Nothing to uninstall/);
  await kube.request("DELETE", `/api/v1/nodes/${NODE}`);
});
