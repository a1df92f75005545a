import assert from "node:assert/strict";
import { testClusterConfig } from "../testing/fake_cluster_config.ts";
import { KubeClient } from "../kube/rest.ts";
import { ClusterPodSource } from "./pod_source.ts";
import { POD_RESOURCE } from "./pod_store.ts";

const pod = (name: string) => ({
  metadata: { name, namespace: "dev", labels: { app: "web" }, managedFields: [{}] },
  spec: { containers: [{ name: "web", image: "app:v2", env: [] }] },
  status: { phase: "Running" },
});

Deno.test("the pod source lists every page as slim pods, then watches from the list's version", async () => {
  const seen: string[] = [];
  const server = Deno.serve({ hostname: "127.0.0.1", port: 0, onListen() {} }, (request) => {
    const url = new URL(request.url);
    seen.push(`${url.pathname}?${url.searchParams}`);
    if (url.searchParams.get("watch") === "1") {
      const lines = [
        { type: "ADDED", object: pod("c") },
        { type: "DELETED", object: pod("a") },
      ].map((event) => JSON.stringify(event) + "\n").join("");
      return new Response(lines);
    }
    const page = url.searchParams.get("continue") === "t1"
      ? { metadata: { resourceVersion: "7" }, items: [pod("b")] }
      : { metadata: { resourceVersion: "7", continue: "t1" }, items: [pod("a")] };
    return Response.json(page);
  });
  const client = await KubeClient.create(testClusterConfig(`http://127.0.0.1:${server.addr.port}`));
  try {
    const source = new ClusterPodSource(client);
    const scope = { info: POD_RESOURCE, namespace: "dev" };
    const stop = new AbortController();
    const list = await source.list(scope, stop.signal);
    assert.equal(list.resourceVersion, "7");
    assert.deepEqual(list.items.map((item) => item.metadata?.name), ["a", "b"]);
    assert.ok(!JSON.stringify(list.items).includes("managedFields"));
    const events: string[] = [];
    await source.watch(scope, "7", stop.signal, (type, object) => {
      events.push(`${type} ${object.metadata?.name}`);
    });
    assert.deepEqual(events, ["ADDED c", "DELETED a"]);
    assert.deepEqual(seen.map((s) => s.replace(/timeoutSeconds=\d+/, "timeoutSeconds=N")), [
      "/api/v1/namespaces/dev/pods?limit=500",
      "/api/v1/namespaces/dev/pods?limit=500&continue=t1",
      "/api/v1/namespaces/dev/pods?resourceVersion=7&allowWatchBookmarks=true&" +
      "timeoutSeconds=N&watch=1",
    ]);
  } finally {
    client.close();
    await server.shutdown();
  }
});
