/**
 * On a real node (tests/env/node.ts: a kubelet on the test containerd): a
 * new tag in the node's containerd → veryfreshpod's patch → the new pod
 * Ready, beside the floor, `kubectl set image` → the new pod Ready, measured
 * alone in the same run. A "tag" here is `ctr images tag` in the node's
 * `k8s.io` namespace, naming one of two images in turn, so each is a new
 * build. A second floor sends the benchmark's own PATCH the moment the tag
 * returns, as veryfreshpod does, so a rollout of a tag made moments before is
 * compared with one as well.
 */
import { containerd, importIntoContainerd, makeImage, node } from "../env/mod.ts";
import { type BenchContext, pause } from "./context.ts";
import { ObjectView } from "./cluster.ts";
import { startProgram } from "./program.ts";
import { summarize } from "./stats.ts";
import { formatMs, type Row, verdictOf } from "./table.ts";

const NAMESPACE = "bench-node";
const REPOSITORY = "bench-node";
const READY_TIMEOUT_MS = 120_000;
const MARGIN_MS = 100;

/** The pods of a namespace: when a pod of each image was first seen Ready. */
export class PodWatch extends ObjectView {
  readonly #pods = new Map<string, { image: string; ready: boolean; deleting: boolean }>();
  readonly #readyAt = new Map<string, number>();
  readonly #createdAt = new Map<string, number>();
  #wakers = new Set<() => void>();

  // deno-lint-ignore no-explicit-any
  see(pod: any, at: number): void {
    const image = pod.spec?.containers?.[0]?.image ?? "";
    // deno-lint-ignore no-explicit-any
    const conditions: any[] = pod.status?.conditions ?? [];
    const ready = conditions.some((c) => c.type === "Ready" && c.status === "True");
    const deleting = pod.metadata?.deletionTimestamp !== undefined;
    this.#pods.set(pod.metadata.uid, { image, ready, deleting });
    if (!this.#createdAt.has(image)) this.#createdAt.set(image, at);
    if (ready && !deleting && !this.#readyAt.has(image)) this.#readyAt.set(image, at);
  }

  // deno-lint-ignore no-explicit-any
  override forget(pod: any): void {
    this.#pods.delete(pod.metadata?.uid);
  }

  protected wake(): void {
    for (const waker of this.#wakers) waker();
  }

  /** Resolves when `test` holds, checked after every change; fails after a bound. */
  #until<T>(what: string, test: () => T | undefined): Promise<T> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#wakers.delete(check);
        reject(new Error(`no ${what} within ${READY_TIMEOUT_MS / 1000} s`));
      }, READY_TIMEOUT_MS);
      const check = () => {
        const value = this.failure ? undefined : test();
        if (this.failure || value !== undefined) {
          clearTimeout(timer);
          this.#wakers.delete(check);
          if (this.failure) reject(this.failure);
          else resolve(value!);
        }
      };
      this.#wakers.add(check);
      check();
    });
  }

  /** The time a pod of `image` was first seen Ready. */
  readyAt(image: string): Promise<number> {
    return this.#until(`Ready pod of ${image}`, () => this.#readyAt.get(image));
  }

  /** The time a pod of `image` was first seen at all (the rollout's own part begins). */
  createdAt(image: string): number {
    return this.#createdAt.get(image) ?? NaN;
  }

  /** Resolves once the only pod left is a Ready one of `image` (the rollout is over). */
  settled(image: string): Promise<true> {
    return this.#until(`rollout to ${image} alone`, () => {
      const pods = [...this.#pods.values()];
      const done = pods.length === 1 && pods[0]!.image === image && pods[0]!.ready;
      return done ? true : undefined;
    });
  }
}

/** One running workload on the node (Deployment `web` in `namespace`); returns the watch of its pods. */
export async function runningWorkload(
  context: BenchContext,
  image: string,
  namespace = NAMESPACE,
): Promise<PodWatch> {
  const labels = { app: "web" };
  await context.cluster.createNamespace(namespace);
  await context.cluster.request("POST", `/apis/apps/v1/namespaces/${namespace}/deployments`, {
    apiVersion: "apps/v1",
    kind: "Deployment",
    metadata: { name: "web", namespace },
    spec: {
      replicas: 1,
      selector: { matchLabels: labels },
      template: {
        metadata: { labels },
        spec: {
          terminationGracePeriodSeconds: 1,
          containers: [{
            name: "app",
            image,
            imagePullPolicy: "IfNotPresent",
            command: ["sleep", "1000000"],
          }],
        },
      },
    },
  });
  const pods = await context.cluster.watch(`/api/v1/namespaces/${namespace}/pods`, new PodWatch());
  await pods.settled(image);
  return pods;
}

export async function nodeRows(context: BenchContext): Promise<Row[]> {
  context.progress("starting the real node (kubelet, kube-scheduler, kube-proxy, CNI)");
  const theNode = await node();
  const ctr = await containerd();
  const sources = ["bench-node-source:a", "bench-node-source:b"];
  for (const source of sources) await makeImage(source);
  const names = await importIntoContainerd(...sources);
  let count = 0;
  /** Tags the next `bench-node:v<n>` in the node's containerd; returns it and when ctr returned. */
  const tag = async (): Promise<[string, number]> => {
    const n = count++;
    await ctr.ctr(["images", "tag", names[n % 2]!, `docker.io/library/${REPOSITORY}:v${n}`]);
    return [`${REPOSITORY}:v${n}`, performance.now()];
  };

  const [first] = await tag();
  const pods = await runningWorkload(context, first);
  const samples = context.sizes.nodeSamples;
  const floor: number[] = [];
  const reaction: number[] = [];
  /** From the same origin to the new pod's first sight: what happens before the rollout. */
  const floorCreated: number[] = [];
  const reactionCreated: number[] = [];
  /** The benchmark's own PATCH the moment the tag returns: a rollout of a tag just made. */
  const fresh: number[] = [];
  try {
    context.progress(`real node: ${samples} rollouts with kubectl set image`);
    for (let i = 0; i < samples; i++) {
      const [image] = await tag();
      const ready = pods.readyAt(image);
      await theNode.kubectl(["-n", NAMESPACE, "set", "image", "deployment/web", `app=${image}`]);
      const returned = performance.now();
      floor.push(await ready - returned);
      floorCreated.push(pods.createdAt(image) - returned);
      await pods.settled(image);
      await pause(500);
    }
    context.progress(`real node: ${samples} rollouts by a PATCH at once after a new tag`);
    for (let i = 0; i < samples; i++) {
      const [image, returned] = await tag();
      const ready = pods.readyAt(image);
      await context.cluster.setImage(NAMESPACE, "web", image);
      fresh.push(await ready - returned);
      await pods.settled(image);
      await pause(500);
    }
    context.progress(`real node: ${samples} rollouts by veryfreshpod after a new tag`);
    const program = await startProgram({
      kubeconfig: context.cluster.kubeconfig,
      engineArgs: ["--runtime", "containerd", "--containerd-socket", theNode.containerdSocket],
      extraArgs: ["--namespace", NAMESPACE],
    });
    try {
      for (let i = 0; i < samples; i++) {
        const next = `${REPOSITORY}:v${count}`;
        const ready = pods.readyAt(next);
        const [, returned] = await tag();
        reaction.push(await ready - returned);
        reactionCreated.push(pods.createdAt(next) - returned);
        await pods.settled(next);
        await pause(500);
      }
    } finally {
      await program.stop();
    }
  } finally {
    pods.close();
    await context.cluster.request(
      "DELETE",
      `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/web`,
    );
  }
  const floorSummary = summarize(floor);
  const summary = summarize(reaction);
  const limit = floorSummary.p50 + MARGIN_MS;
  return [
    {
      id: "node.floor",
      figure: "real node: `kubectl set image` returned → new pod Ready, alone",
      measured: `p50 ${formatMs(floorSummary.p50)} (max ${formatMs(floorSummary.max)}, ` +
        `${samples} rollouts; new pod seen after ${formatMs(summarize(floorCreated).p50)})`,
      target: "",
      verdict: "no target",
      values: {
        p50Ms: floorSummary.p50,
        maxMs: floorSummary.max,
        podSeenP50Ms: summarize(floorCreated).p50,
        samples,
      },
    },
    {
      id: "node.fresh",
      figure: "real node: new tag, the benchmark's own PATCH the moment it returns → new pod " +
        "Ready, alone",
      measured: `p50 ${formatMs(summarize(fresh).p50)} (max ${formatMs(summarize(fresh).max)}, ` +
        `${samples} rollouts)`,
      target: "",
      verdict: "no target",
      values: { p50Ms: summarize(fresh).p50, maxMs: summarize(fresh).max, samples },
    },
    {
      id: "node.rollout",
      figure: "real node: new tag in containerd (`ctr images tag`) → new pod Ready",
      measured:
        `p50 ${formatMs(summary.p50)} (max ${formatMs(summary.max)}, ${samples} rollouts; ` +
        `new pod seen after ${formatMs(summarize(reactionCreated).p50)})`,
      target: `≤ floor + ${MARGIN_MS} ms = ${formatMs(limit)}`,
      verdict: verdictOf(summary.p50 <= limit),
      values: {
        p50Ms: summary.p50,
        maxMs: summary.max,
        podSeenP50Ms: summarize(reactionCreated).p50,
        samples,
      },
    },
  ];
}
