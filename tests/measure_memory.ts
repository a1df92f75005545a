/**
 * Memory, measured and printed as a table (part of `deno task bench`):
 *
 * - the resident memory of `veryfreshpod run` against the real test daemons,
 *   idle after start and after tracking many workloads and updating them;
 * - the heap that the workload index costs per workload.
 *
 * Measurements only: nothing here asserts a number.
 */
import { docker, kubernetes, makeImage } from "./env/mod.ts";
import { buildAndTag, startLoop, uniqueRepository } from "./loop.ts";
import { api, createNamespace, createWorkload, workloadObject } from "./workloads.ts";
import { WorkloadIndex } from "../lib/kube/workload_index.ts";
import type { TrackedWorkload } from "../lib/kube/workload.ts";

function rssMiB(pid: number): number {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  const kb = Number(/VmRSS:\s+(\d+) kB/.exec(status)?.[1] ?? NaN);
  return kb / 1024;
}

/** The deno process behind `deno run main.ts run` (the child of the spawned command). */
function loopPid(): number {
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const cmd = Deno.readTextFileSync(`/proc/${entry.name}/cmdline`).split("\0");
      if (cmd.some((arg) => arg.endsWith("/main.ts")) && cmd.includes("run")) {
        return Number(entry.name);
      }
    } catch {
      // the process ended meanwhile
    }
  }
  throw new Error("the veryfreshpod process was not found");
}

function heapPerWorkload(count: number): number {
  const before = Deno.memoryUsage().heapUsed;
  const index = new WorkloadIndex();
  for (let i = 0; i < count; i++) {
    const workload: TrackedWorkload = {
      key: { kind: "Deployment", namespace: `ns${i % 20}`, name: `web-${i}` },
      resourceVersion: String(100000 + i),
      labels: { app: `web-${i}` },
      annotations: {},
      templateAnnotations: {},
      containers: [
        { name: "web", init: false, image: `app${i % 200}:v1`, pullPolicy: "IfNotPresent" },
      ],
    };
    index.upsert(workload);
  }
  const used = Deno.memoryUsage().heapUsed - before;
  if (index.size !== count) throw new Error("index lost workloads");
  return used / count;
}

const rows: [string, string][] = [];
rows.push([
  "workload index, heap per workload (10,000 workloads)",
  `${(heapPerWorkload(10_000) / 1024).toFixed(2)} KiB`,
]);

await docker();
await kubernetes();
const ns = await createNamespace("memory");
const repo = uniqueRepository("memory");
await makeImage(`${repo}:v1`);
const loop = await startLoop(["-n", ns]);
try {
  const pid = loopPid();
  rows.push(["`veryfreshpod run`, idle after start, 0 workloads", `${rssMiB(pid).toFixed(1)} MiB`]);
  const count = 200;
  for (let i = 0; i < count; i++) {
    await createWorkload(
      workloadObject("Deployment", ns, `web-${i}`, [{ name: "app", image: `${repo}:v1` }]),
    );
  }
  await buildAndTag(`${repo}:v2`);
  const deadline = Date.now() + 120_000;
  while (loop.lines.filter((line) => line.includes(`-> ${repo}:v2`)).length < count) {
    if (Date.now() > deadline) throw new Error("updates did not finish in 2 minutes");
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  rows.push([
    `\`veryfreshpod run\`, after tracking and updating ${count} Deployments`,
    `${rssMiB(pid).toFixed(1)} MiB`,
  ]);
  const list = await api("GET", `/apis/apps/v1/namespaces/${ns}/deployments`);
  if (list.items.length !== count) throw new Error("not every Deployment was listed");
} finally {
  await loop.stop();
}

console.log("\n| memory | measured |\n| --- | --- |");
for (const [what, value] of rows) console.log(`| ${what} | ${value} |`);
