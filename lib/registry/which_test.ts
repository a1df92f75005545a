import assert from "node:assert/strict";
import {
  describeRegistry,
  HOSTING_ORIGIN,
  parseHostingValue,
  parseRegistryFlag,
  readAnnouncement,
} from "./which.ts";

Deno.test("--registry: a host, or a host and how the nodes name it", () => {
  assert.deepEqual(parseRegistryFlag("localhost:5001", "--registry"), {
    host: "localhost:5001",
    fromRuntime: "localhost:5001",
    origin: "--registry",
  });
  assert.deepEqual(
    parseRegistryFlag("localhost:5001,from-runtime=kind-registry:5000", "VERYFRESHPOD_REGISTRY"),
    { host: "localhost:5001", fromRuntime: "kind-registry:5000", origin: "VERYFRESHPOD_REGISTRY" },
  );
  assert.equal(
    parseRegistryFlag("reg.example.com, FROM_RUNTIME=reg.internal", "x").fromRuntime,
    "reg.internal",
  );
});

Deno.test("--registry: what is wrong with a bad value, and how to write it", () => {
  const problems: [string, RegExp][] = [
    ["", /empty/],
    ["http://localhost:5001", /has a scheme; give only the host and port/],
    ["localhost:5001/team", /has a path/],
    ["registry", /not a registry host \(add a port or a dot\)/],
    [
      "localhost:5001,kind-registry:5000",
      /is not from-runtime=HOST; write HOST or HOST,from-runtime=HOST2/,
    ],
    ["localhost:5001,from-runtime=", /from-runtime: it is empty/],
  ];
  for (const [text, problem] of problems) {
    assert.throws(() => parseRegistryFlag(text, "--registry"), problem, text);
  }
});

Deno.test("localRegistryHosting.v1 as kind's script writes it; hostFromContainerRuntime falls back to host", () => {
  const kind = parseHostingValue(
    'host: "localhost:5001"\nhelp: "https://kind.sigs.k8s.io/docs/user/local-registry/"\n',
  );
  assert.deepEqual(kind, {
    host: "localhost:5001",
    fromRuntime: "localhost:5001",
    help: "https://kind.sigs.k8s.io/docs/user/local-registry/",
    origin: HOSTING_ORIGIN,
  });
  const k3d = parseHostingValue(
    "host: k3d-reg.localhost:5000\nhostFromContainerRuntime: k3d-reg:5000\n" +
      "hostFromClusterNetwork: k3d-reg:5000\n",
  );
  assert.equal(k3d.fromRuntime, "k3d-reg:5000");
  assert.equal(
    describeRegistry(k3d),
    `k3d-reg.localhost:5000 (the nodes pull it as k3d-reg:5000), from ${HOSTING_ORIGIN}`,
  );
  assert.throws(() => parseHostingValue("help: x\n"), /has no host/);
  assert.throws(() => parseHostingValue("host: [\n"), /is not YAML/);
});

Deno.test("the announcement: none is quiet, unreadable ones warn with the fix", async () => {
  const answering = (answer: () => unknown) => ({
    json: <T>() => Promise.resolve().then(answer) as Promise<T>,
  });
  const failing = (code: number) =>
    answering(() =>
      Object.assign(new Error("x"), { code }) && (() => {
        throw Object.assign(new Error(`HTTP ${code}`), { code });
      })()
    );
  assert.deepEqual(await readAnnouncement(failing(404)), {
    why: `no ${HOSTING_ORIGIN}`,
    warn: false,
  });
  const forbidden = await readAnnouncement(failing(403));
  assert.equal(forbidden.warn, true);
  assert.match(
    forbidden.why!,
    /refused to get ConfigMap kube-public\/local-registry-hosting \(403 Forbidden\); grant get on it/,
  );
  const found = await readAnnouncement(
    answering(() => ({ data: { "localRegistryHosting.v1": "host: localhost:5001\n" } })),
  );
  assert.equal(found.registry?.host, "localhost:5001");
  const empty = await readAnnouncement(answering(() => ({ data: {} })));
  assert.equal(empty.why, `${HOSTING_ORIGIN} has no localRegistryHosting.v1`);
});
