/**
 * The API requests veryfreshpod makes, counted by a proxy that only it talks
 * through: at rest (after start, nothing changing), and per workload during a
 * fan-out.
 */
import { type BenchContext, pause, startVeryfreshpod } from "./context.ts";
import { countByKey, type CountedRequest, CountingProxy } from "./counting_proxy.ts";
import { fanOut, type FanoutSet } from "./fleet.ts";
import { formatCount, type Row, verdictOf } from "./table.ts";
import { workloads } from "./sizes.ts";

const QUIET_MS = 1_000;
const SETTLE_TIMEOUT_MS = 60_000;

/** `1.00 PATCH deployments + 1.00 CREATE events`, largest first. */
function describePerWorkload(counts: Record<string, number>, size: number): string {
  const parts = Object.entries(counts)
    .sort(([, a], [, b]) => b - a)
    .map(([key, count]) => `${(count / size).toFixed(2)} ${key}`);
  return parts.length > 0 ? parts.join(" + ") : "none";
}

/** Waits until no request has arrived for QUIET_MS and `done` holds, within a bound. */
async function settle(proxy: CountingProxy, done: () => boolean): Promise<void> {
  const deadline = performance.now() + SETTLE_TIMEOUT_MS;
  while (performance.now() < deadline) {
    const last = proxy.requests.at(-1)?.at ?? 0;
    if (done() && performance.now() - last >= QUIET_MS) return;
    await pause(100);
  }
}

export async function requestRows(context: BenchContext, set: FanoutSet): Promise<Row[]> {
  const { cluster, sizes } = context;
  const proxy = new CountingProxy(cluster.server, cluster.caCert);
  const kubeconfig = await proxy.writeKubeconfig(cluster.token);
  try {
    context.progress(`counting API requests: ${sizes.restSeconds} s at rest, then a fan-out`);
    const program = await startVeryfreshpod(context, kubeconfig);
    let rest: CountedRequest[];
    let during: CountedRequest[];
    try {
      await pause(sizes.settleSeconds * 1000);
      const restFrom = performance.now();
      await pause(sizes.restSeconds * 1000);
      rest = proxy.between(restFrom, performance.now());
      const fanFrom = performance.now();
      await fanOut(context, set);
      await settle(
        proxy,
        () => proxy.between(fanFrom).filter((r) => r.key === "CREATE events").length >= set.size,
      );
      during = proxy.between(fanFrom);
    } finally {
      await program.stop();
    }
    const watches = proxy.requests.filter((r) => r.key.startsWith("WATCH ")).length;
    const restOther = rest.filter((r) => !r.key.startsWith("WATCH "));
    const restWatches = rest.length - restOther.length;
    const counts = countByKey(during);
    const total = during.length;
    const patches = counts["PATCH deployments"] ?? 0;
    const events = counts["CREATE events"] ?? 0;
    // The rollout follower's one pod list+watch, shared by every rollout it follows
    // (started by the first): not a request per update.
    const sharedPods = Math.min(counts["LIST pods"] ?? 0, 1) +
      Math.min(counts["WATCH pods"] ?? 0, 1);
    return [
      {
        id: "requests.update",
        figure: `API requests per updated workload, fan-out over ${workloads(set.size)}`,
        measured: describePerWorkload(counts, set.size),
        target: "1 patch + 1 event (+ one pod list and watch shared by the fan-out)",
        verdict: verdictOf(
          patches === set.size,
          events === set.size,
          total === 2 * set.size + sharedPods,
        ),
        values: { perWorkload: total / set.size, patches, events, requests: total, ...counts },
      },
      {
        id: "requests.rest",
        figure: `API requests at rest, ${sizes.restSeconds} s after start`,
        measured: `${formatCount(restOther.length)} besides the watches` +
          (restOther.length > 0 ? ` (${describePerWorkload(countByKey(restOther), 1)})` : "") +
          `; ${watches} watches opened since start, ${restWatches} during the rest`,
        target: "0 besides the watches",
        verdict: verdictOf(restOther.length === 0),
        values: {
          requests: restOther.length,
          watchesOpened: watches,
          watchesDuringRest: restWatches,
        },
      },
    ];
  } finally {
    await Deno.remove(kubeconfig);
    await proxy.close();
  }
}
