import "../util/quiet_deprecations.ts";
import assert from "node:assert/strict";
import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1Deployment,
  V1Role,
  V1RoleBinding,
} from "@kubernetes/client-node";
import { UserError } from "../util/errors.ts";
import { VERSION } from "../util/version.ts";
import {
  DEFAULT_MANIFEST_OPTIONS,
  INSTALL_LABELS,
  parseManifest,
  renderManifest,
  renderObjects,
} from "./manifest.ts";

function deploymentOf(objects: unknown[]): V1Deployment {
  return objects.find((o) => (o as { kind: string }).kind === "Deployment") as V1Deployment;
}

/** manifest/deployment.yaml as written (the program embeds it with a text import). */
const SOURCE = Deno.readTextFileSync(new URL("../../manifest/deployment.yaml", import.meta.url));

Deno.test("rendering the defaults gives the manifest file as it is", () => {
  assert.deepEqual(
    JSON.parse(JSON.stringify(renderObjects(DEFAULT_MANIFEST_OPTIONS))),
    JSON.parse(JSON.stringify(parseManifest(SOURCE))),
  );
});

Deno.test("the manifest's image is this version's", () => {
  const container = deploymentOf(parseManifest(SOURCE)).spec!.template.spec!
    .containers[0]!;
  assert.equal(container.image, `veryfreshpod:${VERSION}`);
});

Deno.test("the manifest holds a namespace, service account, cluster role and binding, the registry role and binding, and a Deployment, all labelled", () => {
  const objects = renderObjects();
  assert.deepEqual(objects.map((o) => o.kind), [
    "Namespace",
    "ServiceAccount",
    "ClusterRole",
    "ClusterRoleBinding",
    "Role",
    "RoleBinding",
    "Deployment",
  ]);
  for (const object of objects) {
    for (const [key, value] of Object.entries(INSTALL_LABELS)) {
      assert.equal(object.metadata?.labels?.[key], value, `${object.kind} label ${key}`);
    }
  }
  assert.equal(objects[0]!.metadata!.name, "veryfreshpod");
});

Deno.test("the cluster role grants no wildcard, nothing on secrets or services, and only reads pods", () => {
  const role = renderObjects().find((o) => o.kind === "ClusterRole") as V1ClusterRole;
  const grants = role.rules!.flatMap((rule) =>
    rule.resources!.flatMap((resource) =>
      rule.verbs.map((verb) => `${rule.apiGroups![0]}/${resource}:${verb}`)
    )
  );
  assert.deepEqual(
    grants.toSorted(),
    [
      "/events:create",
      "/events:get",
      "/events:list",
      "/events:patch",
      "/pods:get",
      "/pods:list",
      "/pods:watch",
      "/pods/log:get",
      ...["daemonsets", "deployments", "statefulsets"].flatMap((r) =>
        ["get", "list", "patch", "watch"].map((v) => `apps/${r}:${v}`)
      ),
      ...["get", "list", "patch", "watch"].map((v) => `batch/cronjobs:${v}`),
    ].toSorted(),
  );
  assert.doesNotMatch(JSON.stringify(role.rules), /\*|secrets|services/);
});

Deno.test("the Deployment runs one hardened replica with probes on the health endpoint", () => {
  const deployment = deploymentOf(renderObjects());
  assert.equal(deployment.spec!.replicas, 1);
  assert.equal(deployment.spec!.strategy!.type, "Recreate");
  const pod = deployment.spec!.template.spec!;
  const container = pod.containers[0]!;
  assert.deepEqual(JSON.parse(JSON.stringify(container.securityContext)), {
    runAsUser: 0,
    readOnlyRootFilesystem: true,
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    seccompProfile: { type: "RuntimeDefault" },
  });
  assert.ok(container.args!.includes("--health-addr=:8081"));
  assert.equal(container.livenessProbe!.httpGet!.path, "/healthz");
  assert.equal(container.readinessProbe!.httpGet!.path, "/readyz");
  assert.equal(container.ports![0]!.containerPort, 8081);
  for (const key of ["requests", "limits"] as const) {
    assert.ok(container.resources![key]!.cpu && container.resources![key]!.memory, key);
  }
});

Deno.test("a containerd node gets its socket mounted and the containerd flags", () => {
  const deployment = deploymentOf(renderObjects({
    ...DEFAULT_MANIFEST_OPTIONS,
    runtime: "containerd",
    socket: "/run/k3s/containerd/containerd.sock",
  }));
  const pod = deployment.spec!.template.spec!;
  assert.deepEqual(pod.containers[0]!.args, [
    "run",
    "--health-addr=:8081",
    "--runtime=containerd",
    "--containerd-socket=/run/containerd/containerd.sock",
  ]);
  assert.equal(
    pod.volumes!.find((v) => v.name === "engine-socket")!.hostPath!.path,
    "/run/k3s/containerd/containerd.sock",
  );
  assert.equal(pod.containers[0]!.volumeMounts![0]!.mountPath, "/run/containerd/containerd.sock");
});

Deno.test("a containerd node with a Docker socket mounts both, as sockets only, and bridges", () => {
  const deployment = deploymentOf(renderObjects({
    ...DEFAULT_MANIFEST_OPTIONS,
    runtime: "containerd",
    socket: "/run/k3s/containerd/containerd.sock",
    dockerSocket: "/var/run/docker.sock",
  }));
  const pod = deployment.spec!.template.spec!;
  const container = pod.containers[0]!;
  assert.deepEqual(container.args, [
    "run",
    "--health-addr=:8081",
    "--docker-host=unix:///var/run/docker.sock",
    "--containerd-socket=/run/containerd/containerd.sock",
    "--bridge=always",
  ]);
  // Nothing else of the host: two hostPath volumes, each of type Socket (never created).
  assert.deepEqual(pod.volumes!.filter((v) => v.hostPath).map((v) => ({ ...v.hostPath })), [
    { path: "/run/k3s/containerd/containerd.sock", type: "Socket" },
    { path: "/var/run/docker.sock", type: "Socket" },
  ]);
  assert.deepEqual(container.volumeMounts!.map((m) => m.mountPath), [
    "/run/containerd/containerd.sock",
    "/tmp",
    "/var/run/docker.sock",
  ]);
  assert.deepEqual(container.env!.find((e) => e.name === "NODE_NAME")!.valueFrom, {
    fieldRef: { fieldPath: "spec.nodeName" },
  });
  assert.equal(pod.volumes!.find((v) => v.name === "tmp")!.emptyDir!.sizeLimit, "8Gi");
  assert.deepEqual(container.securityContext!.capabilities!.drop, ["ALL"]);
  assert.equal(container.securityContext!.readOnlyRootFilesystem, true);
});

Deno.test("another namespace moves every namespaced object and the binding's subject, and is excluded from updates", () => {
  const objects = renderObjects({
    ...DEFAULT_MANIFEST_OPTIONS,
    namespace: "tools",
    image: "registry.local/vfp:2",
    pullPolicy: "IfNotPresent",
    rootfsDigest: "sha256:abc",
  });
  assert.equal(objects[0]!.metadata!.name, "tools");
  assert.equal(objects[1]!.metadata!.namespace, "tools");
  assert.equal(
    (objects.find((o) => o.kind === "ClusterRoleBinding") as V1ClusterRoleBinding).subjects![0]!
      .namespace,
    "tools",
  );
  const deployment = deploymentOf(objects);
  assert.equal(deployment.metadata!.namespace, "tools");
  const container = deployment.spec!.template.spec!.containers[0]!;
  assert.equal(container.image, "registry.local/vfp:2");
  assert.equal(container.imagePullPolicy, "IfNotPresent");
  assert.ok(container.args!.includes("--exclude-namespace=tools"));
  assert.equal(
    deployment.spec!.template.metadata!.annotations!["veryfreshpod.io/rootfs-sha256"],
    "sha256:abc",
  );
});

Deno.test("the rendered YAML parses back into the same objects", () => {
  const text = renderManifest();
  assert.equal(text.split("\n---\n").length, 7);
  assert.deepEqual(
    JSON.parse(JSON.stringify(parseManifest(text))),
    JSON.parse(JSON.stringify(renderObjects())),
  );
});

Deno.test("the registry role reads one ConfigMap by name in kube-public, whatever the install namespace", () => {
  const objects = renderObjects({ ...DEFAULT_MANIFEST_OPTIONS, namespace: "tools" });
  const role = objects.find((o) => o.kind === "Role") as V1Role;
  assert.equal(role.metadata?.namespace, "kube-public");
  assert.deepEqual(JSON.parse(JSON.stringify(role.rules)), [
    {
      apiGroups: [""],
      resources: ["configmaps"],
      resourceNames: ["local-registry-hosting"],
      verbs: ["get"],
    },
  ]);
  const binding = objects.find((o) => o.kind === "RoleBinding") as V1RoleBinding;
  assert.equal(binding.metadata?.namespace, "kube-public");
  assert.deepEqual(JSON.parse(JSON.stringify(binding.subjects)), [
    { kind: "ServiceAccount", name: "veryfreshpod", namespace: "tools" },
  ]);
});

Deno.test("bad options are one-line errors naming the fix", () => {
  const cases: Array<[Partial<typeof DEFAULT_MANIFEST_OPTIONS>, RegExp]> = [
    [{ image: "Veryfreshpod:1" }, /^Invalid --image "Veryfreshpod:1": .*lowercase/],
    [{ image: "app:bad tag" }, /^Invalid --image "app:bad tag"/],
    [{ namespace: "Not_A_Namespace" }, /^Invalid --namespace "Not_A_Namespace"/],
    [{ namespace: "x".repeat(64) }, /^Invalid --namespace/],
    [{ socket: "docker.sock" }, /^Invalid engine socket "docker\.sock": give the absolute path/],
    [
      { runtime: "containerd", dockerSocket: "docker.sock" },
      /^Invalid --docker-socket "docker\.sock": give the absolute path/,
    ],
    [
      { dockerSocket: "/var/run/docker.sock" },
      /^--docker-socket \/var\/run\/docker\.sock is for a containerd node/,
    ],
  ];
  for (const [options, message] of cases) {
    assert.throws(() => renderObjects({ ...DEFAULT_MANIFEST_OPTIONS, ...options }), (error) => {
      assert.ok(error instanceof UserError);
      assert.match(error.message, message);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    });
  }
});

Deno.test("manifest YAML that does not parse, or lacks kind or name, is a one-line error", () => {
  assert.throws(() => parseManifest("kind: [unclosed\n", "broken.yaml"), (error) => {
    assert.ok(error instanceof UserError);
    assert.match(
      error.message,
      /^The manifest broken\.yaml is not valid YAML \(.*\); fix the file$/,
    );
    return true;
  });
  assert.throws(
    () => parseManifest("apiVersion: v1\nmetadata: {name: x}\n"),
    /without apiVersion, kind and metadata\.name/,
  );
  assert.throws(
    () =>
      renderObjects(
        DEFAULT_MANIFEST_OPTIONS,
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\n",
      ),
    /lacks the container "veryfreshpod"/,
  );
});
