import assert from "node:assert/strict";
import { captureLogs } from "../testing/log_capture.ts";
import type { ImageSource } from "./image_source.ts";
import { startRegistry } from "./setup.ts";

const source = () =>
  Promise.resolve({ open: () => Promise.reject(new Error("unused")) } as ImageSource);

function kube(server: string, answer: unknown) {
  return {
    server,
    json: <T>() => answer instanceof Error ? Promise.reject(answer) : Promise.resolve(answer as T),
  };
}

const KIND = {
  data: {
    "localRegistryHosting.v1":
      'host: "localhost:5001"\nhelp: "https://kind.sigs.k8s.io/docs/user/local-registry/"\n',
  },
};

Deno.test("the first lines say which registry and where it came from", async () => {
  using logs = captureLogs("info");
  const pusher = await startRegistry({
    kube: kube("https://127.0.0.1:6443", KIND),
    named: undefined,
    env: () => undefined,
    source,
  });
  assert.equal(pusher?.registry.host, "localhost:5001");
  assert.match(
    logs.lines.join(""),
    /INFO +Cluster registry localhost:5001, from ConfigMap kube-public\/local-registry-hosting: builds that workloads pull from it are pushed there/,
  );
  assert.doesNotMatch(logs.lines.join(""), /WARN/);
});

Deno.test("a named registry wins, and the ConfigMap is not read", async () => {
  using logs = captureLogs("info");
  const pusher = await startRegistry({
    kube: kube("https://127.0.0.1:6443", new Error("must not be read")),
    named: { host: "reg.example.com", fromRuntime: "reg.internal:5000", origin: "--registry" },
    env: () => undefined,
    source,
  });
  assert.equal(pusher?.planRegistry.fromRuntime, "reg.internal:5000");
  assert.match(
    logs.lines.join(""),
    /Cluster registry reg\.example\.com \(the nodes pull it as reg\.internal:5000\), from --registry/,
  );
});

Deno.test("no announcement: one line, and no registry", async () => {
  using logs = captureLogs("info");
  const missing = Object.assign(new Error("not found"), { code: 404 });
  const pusher = await startRegistry({
    kube: kube("https://127.0.0.1:6443", missing),
    named: undefined,
    env: () => undefined,
    source,
  });
  assert.equal(pusher, undefined);
  assert.match(
    logs.lines.join(""),
    /INFO +No cluster registry \(no ConfigMap kube-public\/local-registry-hosting, no --registry\)/,
  );
});

Deno.test("a loopback registry name for a cluster elsewhere is warned about, with the fix", async () => {
  using logs = captureLogs("info");
  // 192.0.2.1 is TEST-NET-1: never an address of this machine.
  await startRegistry({
    kube: kube("https://192.0.2.1:6443", KIND),
    named: undefined,
    env: () => undefined,
    source,
  });
  assert.match(
    logs.lines.join(""),
    /WARN +The nodes are told to pull from localhost:5001, a loopback name, but the cluster https:\/\/192\.0\.2\.1:6443 is not on this machine.*--registry localhost:5001,from-runtime=HOST \(or set hostFromContainerRuntime\)/,
  );
});
