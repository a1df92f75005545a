/**
 * A connection to the API server that dies quietly (a laptop that slept, a VPN
 * that changed) is noticed within run's deadline on silence (--api-timeout),
 * listed again, and said in one warning and one "reconnected" line. First the
 * API server is frozen with SIGSTOP: its sockets stay open and nothing
 * answers. Then only veryfreshpod's open connections are frozen (in a
 * forwarder) while the API server lives on, as after a laptop's sleep: new
 * connections must be opened, and a Deployment created meanwhile be listed.
 */
import assert from "node:assert/strict";
import { e2eTest, kubernetes, makeImage } from "./env/mod.ts";
import { buildAndTag, startLoop, uniqueRepository, waitForImages } from "./helpers/loop.ts";
import { kubeconfigWithToken } from "./helpers/kubeconfig.ts";
import { createNamespace, createWorkload, workloadObject } from "./helpers/workloads.ts";

e2eTest(
  "a frozen API server: the dead watches are noticed, listed again, one warning and one reconnected line",
  async () => {
    const kube = await kubernetes();
    const ns = await createNamespace();
    const repo = uniqueRepository("frozen");
    await makeImage(`${repo}:v1`);
    await createWorkload(
      workloadObject("Deployment", ns, "web", [{ name: "app", image: `${repo}:v1` }]),
    );
    // A 4 s deadline: the server ends each watch after 2-3 s, so a healthy one is never silent
    // that long, and the test need not wait the default 60 s.
    await using loop = await startLoop(["-n", ns, "--api-timeout", "4", "--log-level", "debug"]);
    await loop.waitForLine(/Listed 1 Deployment/);
    // Several healthy renewals of the watch first: none of them may look like a dead connection.
    await new Promise((resolve) => setTimeout(resolve, 8_000));
    assert.equal(
      loop.lines.filter((line) => /seems dead/.test(line)).length,
      0,
      "healthy renewals",
    );

    const pid = kube.apiServerPid();
    Deno.kill(pid, "SIGSTOP");
    try {
      await loop.waitForLine(/WARN .*seems dead/, 15_000);
      // Frozen well past the deadline: the re-lists time out too, quietly.
      await new Promise((resolve) => setTimeout(resolve, 10_000));
    } finally {
      Deno.kill(pid, "SIGCONT");
    }
    await loop.waitForLine(/Reconnected to the Kubernetes API server/, 60_000);
    const warnings = loop.lines.filter((line) => / WARN .*seems dead/.test(line));
    assert.equal(warnings.length, 1, warnings.join("\n"));
    assert.match(
      warnings[0]!,
      /WARN +The connection to the Kubernetes API server seems dead \(the watch of [a-z.]+: no data for 4 s: the connection seems dead\); listing everything again once it answers/,
    );
    assert.equal(loop.lines.filter((line) => / INFO +Reconnected to/.test(line)).length, 1);
    // The loop works on: a new tag still reaches the cluster.
    await buildAndTag(`${repo}:v2`);
    await waitForImages("Deployment", ns, "web", { app: `${repo}:v2` });
  },
);

/**
 * A TCP forwarder to the API server whose connections can be frozen: they stay
 * open and carry nothing, as after a laptop's sleep; new connections work.
 */
function freezableForwarder(target: string) {
  const { hostname, port } = new URL(target);
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const live = new Set<{ frozen: boolean; conns: Deno.Conn[] }>();
  const pump = async (from: Deno.Conn, to: Deno.Conn, state: { frozen: boolean }) => {
    const buffer = new Uint8Array(64 * 1024);
    try {
      while (!state.frozen) {
        const n = await from.read(buffer);
        if (n === null || state.frozen) break;
        let written = 0;
        while (written < n) written += await to.write(buffer.subarray(written, n));
      }
    } catch {
      // one side closed
    }
    // A frozen connection is left open: silence, no FIN, no RST.
    if (!state.frozen) {
      for (const conn of [from, to]) {
        try {
          conn.close();
        } catch {
          // already closed
        }
      }
    }
  };
  const accepting = (async () => {
    for await (const client of listener) {
      const upstream = await Deno.connect({ hostname, port: Number(port) });
      const state = { frozen: false, conns: [client, upstream] };
      live.add(state);
      void pump(client, upstream, state);
      void pump(upstream, client, state);
    }
  })().catch(() => {});
  return {
    address: `https://127.0.0.1:${listener.addr.port}`,
    /** Freezes every connection open now. */
    freeze() {
      for (const state of live) state.frozen = true;
    },
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const state of live) {
        for (const conn of state.conns) {
          try {
            conn.close();
          } catch {
            // already closed
          }
        }
      }
      await accepting;
    },
  };
}

e2eTest(
  "a connection that dies quietly while the API server lives: new connections, and what changed meanwhile is listed",
  async () => {
    const kube = await kubernetes();
    const ns = await createNamespace();
    const repo = uniqueRepository("asleep");
    await makeImage(`${repo}:v1`);
    await createWorkload(
      workloadObject("Deployment", ns, "web", [{ name: "app", image: `${repo}:v1` }]),
    );
    await using forwarder = freezableForwarder(kube.server);
    const kubeconfig = await kubeconfigWithToken(kube.adminToken, forwarder.address);
    try {
      await using loop = await startLoop(["-n", ns, "--api-timeout", "4", "--log-level", "debug"], {
        kubeconfig,
      });
      await loop.waitForLine(/Listed 1 Deployment/);
      await new Promise((resolve) => setTimeout(resolve, 3_000));
      // The laptop sleeps: veryfreshpod's connections go silent; the cluster goes on.
      forwarder.freeze();
      await createWorkload(
        workloadObject("Deployment", ns, "late", [{ name: "app", image: `${repo}:v1` }]),
      );
      await loop.waitForLine(/WARN .*seems dead/, 20_000);
      await loop.waitForLine(/INFO +Reconnected to the Kubernetes API server/, 30_000);
      assert.equal(loop.lines.filter((line) => / WARN .*seems dead/.test(line)).length, 1);
      // The Deployment made while the connection was dead was listed: the new tag reaches it.
      await buildAndTag(`${repo}:v2`);
      await waitForImages("Deployment", ns, "web", { app: `${repo}:v2` });
      try {
        await waitForImages("Deployment", ns, "late", { app: `${repo}:v2` });
      } catch (error) {
        console.error(loop.lines.join("\n"));
        throw error;
      }
    } finally {
      await Deno.remove(kubeconfig);
    }
  },
);
