/**
 * Through the cluster's registry, on two real nodes (tests/env/node.ts and
 * second_node.ts, both pulling from a real registry as kind's nodes do): a
 * `docker build` of a large image with a small change (a 5-byte file on top
 * of a layer of random bytes) → both pods of a two-replica Deployment, one
 * per node, Ready on the pushed digest, through veryfreshpod. Beside it, in
 * the same run, the floor a developer has without it: the same build, then
 * `docker push` and `kubectl set image` by digest → both pods Ready. The
 * bytes veryfreshpod pushed come from its own log line; the changed blobs
 * from the engine's image before and after the build.
 */
import { docker, node } from "../env/mod.ts";
import { privateRegistry } from "../env/private_registry.ts";
import { registryOnNodes } from "../env/node_registry.ts";
import { secondNode } from "../env/second_node.ts";
import { DockerClient } from "../../lib/engine/docker_client.ts";
import { parseDockerHost } from "../../lib/engine/docker_host.ts";
import { RegistryClient } from "../../lib/registry/client.ts";
import { DockerImageSource } from "../../lib/registry/image_source.ts";
import { blobSizes, largeImage } from "./large_image.ts";
import { ObjectView } from "./cluster.ts";
import { type BenchContext, pause } from "./context.ts";
import { startProgram } from "./program.ts";
import { summarize } from "./stats.ts";
import { formatMs, type Row, verdictOf } from "./table.ts";

const NAMESPACE = "bench-registry";
const REPOSITORY = "bench-registry";
const REPLICAS = 2;
const MARGIN_MS = 500;
const READY_TIMEOUT_MS = 180_000;

/** The Deployment's pods: when all replicas of an image were first seen Ready together. */
class ReplicasView extends ObjectView {
  readonly #pods = new Map<
    string,
    { image: string; ready: boolean; deleting: boolean; node: string }
  >();
  readonly #allReadyAt = new Map<string, number>();
  #wakers = new Set<() => void>();

  // deno-lint-ignore no-explicit-any
  see(pod: any, at: number): void {
    // deno-lint-ignore no-explicit-any
    const conditions: any[] = pod.status?.conditions ?? [];
    this.#pods.set(pod.metadata.uid, {
      image: pod.spec?.containers?.[0]?.image ?? "",
      ready: conditions.some((c) => c.type === "Ready" && c.status === "True"),
      deleting: pod.metadata?.deletionTimestamp !== undefined,
      node: pod.spec?.nodeName ?? "",
    });
    for (const image of new Set([...this.#pods.values()].map((p) => p.image))) {
      if (this.#allReadyAt.has(image)) continue;
      const ready = [...this.#pods.values()].filter((p) =>
        p.image === image && p.ready && !p.deleting
      );
      if (ready.length >= REPLICAS) this.#allReadyAt.set(image, at);
    }
  }

  // deno-lint-ignore no-explicit-any
  override forget(pod: any): void {
    this.#pods.delete(pod.metadata?.uid);
  }

  protected wake(): void {
    for (const waker of this.#wakers) waker();
  }

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

  /** When every replica of `image` was first seen Ready. */
  allReadyAt(image: string): Promise<number> {
    return this.#until(`${REPLICAS} Ready pods of ${image}`, () => this.#allReadyAt.get(image));
  }

  /** Resolves once only Ready pods of `image` are left, on as many nodes as replicas. */
  settled(image: string): Promise<true> {
    return this.#until(`rollout to ${image} alone`, () => {
      const pods = [...this.#pods.values()];
      const done = pods.length === REPLICAS && pods.every((p) => p.image === image && p.ready) &&
        new Set(pods.map((p) => p.node)).size === REPLICAS;
      return done ? true : undefined;
    });
  }
}

export async function registryRows(context: BenchContext): Promise<Row[]> {
  context.progress("registry: starting both nodes and a registry they pull from");
  await Promise.all([node(), secondNode()]);
  const registry = await privateRegistry();
  await registryOnNodes(registry);
  const engine = await docker();
  const source = new DockerImageSource(
    new DockerClient(parseDockerHost(engine.host, "--docker-host")),
  );
  const client = new RegistryClient(registry.address, {
    credentials: () => Promise.resolve({ credentials: undefined, source: "none" }),
  });
  const blobsOf = (name: string) => blobSizes(source, name);

  const mib = context.sizes.bridgeImageMiB;
  const samples = context.sizes.nodeSamples;
  context.progress(`registry: building a ${mib} MiB base image`);
  const images = await largeImage(REPOSITORY, mib, ["sleep", "1000000"]);
  const build = () => images.build();
  /** What a developer does without veryfreshpod: tag, push, set the image by digest. */
  const pushAndSet = async (tag: string): Promise<string> => {
    const remote = `${registry.address}/${REPOSITORY}:${tag}`;
    await engine.run(["tag", `${REPOSITORY}:${tag}`, remote]);
    await engine.run(["push", "--quiet", remote]);
    const digest = await client.manifestDigest(REPOSITORY, tag);
    const pinned = `${remote}@${digest}`;
    await (await node()).kubectl([
      "-n",
      NAMESPACE,
      "set",
      "image",
      "deployment/web",
      `app=${pinned}`,
    ]);
    return pinned;
  };

  const floor: number[] = [];
  const reaction: number[] = [];
  const pushedAfter: number[] = [];
  const sent: number[] = [];
  const changed: number[] = [];
  let pods: ReplicasView | undefined;
  try {
    // The first image, pushed as a developer would, runs on both nodes.
    await context.cluster.createNamespace(NAMESPACE);
    const [first] = await build();
    await engine.run([
      "tag",
      `${REPOSITORY}:${first}`,
      `${registry.address}/${REPOSITORY}:${first}`,
    ]);
    await engine.run(["push", "--quiet", `${registry.address}/${REPOSITORY}:${first}`]);
    const labels = { app: "web" };
    await context.cluster.request("POST", `/apis/apps/v1/namespaces/${NAMESPACE}/deployments`, {
      apiVersion: "apps/v1",
      kind: "Deployment",
      metadata: { name: "web", namespace: NAMESPACE },
      spec: {
        replicas: REPLICAS,
        selector: { matchLabels: labels },
        template: {
          metadata: { labels },
          spec: {
            terminationGracePeriodSeconds: 1,
            topologySpreadConstraints: [{
              maxSkew: 1,
              topologyKey: "kubernetes.io/hostname",
              whenUnsatisfiable: "DoNotSchedule",
              labelSelector: { matchLabels: labels },
            }],
            containers: [{
              name: "app",
              image: `${registry.address}/${REPOSITORY}:${first}`,
              imagePullPolicy: "IfNotPresent",
              command: ["sleep", "1000000"],
            }],
          },
        },
      },
    });
    pods = await context.cluster.watch(`/api/v1/namespaces/${NAMESPACE}/pods`, new ReplicasView());
    await pods.settled(`${registry.address}/${REPOSITORY}:${first}`);

    context.progress(`registry: ${samples} builds pushed and set by hand (the floor)`);
    for (let i = 0; i < samples; i++) {
      const [tag, returned] = await build();
      const pinned = await pushAndSet(tag);
      floor.push(await pods.allReadyAt(pinned) - returned);
      await pods.settled(pinned);
      await pause(500);
    }

    context.progress(`registry: ${samples} docker builds rolled out through veryfreshpod`);
    const program = await startProgram({
      kubeconfig: context.cluster.kubeconfig,
      engineArgs: ["--docker-host", engine.host],
      extraArgs: [
        ...["--namespace", NAMESPACE, "--registry", registry.address],
        ...["--bridge", "off", "--log-format", "json"],
      ],
    });
    try {
      // deno-lint-ignore no-explicit-any
      const pushedLine = (name: string): any =>
        program.process.lines.map((line) => JSON.parse(line))
          .find((record) => record.msg?.startsWith(`Pushed ${name} `));
      const waitForPush = async (name: string) => {
        for (let waited = 0; waited < READY_TIMEOUT_MS; waited += 50) {
          const record = pushedLine(name);
          if (record !== undefined) return record;
          await pause(50);
        }
        throw new Error(`no push of ${name}:\n${program.process.lines.join("\n")}`);
      };
      // veryfreshpod's first push sends the engine's form of the base layer once (see README).
      const [warm] = await build();
      const warmRecord = await waitForPush(`docker.io/library/${REPOSITORY}:${warm}`);
      await pods.settled(`${registry.address}/${REPOSITORY}:${warm}@${warmRecord.digest}`);
      let previous = await blobsOf(`docker.io/library/${REPOSITORY}:${warm}`);
      for (let i = 0; i < samples; i++) {
        const [tag, returned] = await build();
        const returnedAt = Date.now();
        const name = `docker.io/library/${REPOSITORY}:${tag}`;
        const record = await waitForPush(name);
        const pinned = `${registry.address}/${REPOSITORY}:${tag}@${record.digest}`;
        reaction.push(await pods.allReadyAt(pinned) - returned);
        pushedAfter.push(Date.parse(record.time) - returnedAt);
        sent.push(record.bytes);
        await pods.settled(pinned);
        const blobs = await blobsOf(name);
        changed.push(
          [...blobs].filter(([digest]) => !previous.has(digest)).reduce((s, [, n]) => s + n, 0),
        );
        previous = blobs;
        await pause(500);
      }
    } finally {
      await program.stop();
    }
  } finally {
    pods?.close();
    await context.cluster.request(
      "DELETE",
      `/apis/apps/v1/namespaces/${NAMESPACE}/deployments/web`,
    ).catch(() => {});
    await images.remove();
    await registry.stop();
  }
  const floorSummary = summarize(floor);
  const summary = summarize(reaction);
  const limit = floorSummary.p50 + MARGIN_MS;
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  const maxSent = Math.max(...sent);
  return [
    {
      id: "registry.floor",
      figure: `registry floor: \`docker build\` (5-byte change, ${mib} MiB image) returned → ` +
        "`docker push`, `kubectl set image` by digest → both pods Ready on two nodes",
      measured: `p50 ${formatMs(floorSummary.p50)} (max ${formatMs(floorSummary.max)}, ` +
        `${samples} rollouts)`,
      target: "",
      verdict: "no target",
      values: { p50Ms: floorSummary.p50, maxMs: floorSummary.max, samples },
    },
    {
      id: "registry.rollout",
      figure: `registry: \`docker build\` (5-byte change, ${mib} MiB image) returned → both pods ` +
        "Ready on two nodes, pushed and pinned by veryfreshpod",
      measured: `p50 ${formatMs(summary.p50)} (max ${formatMs(summary.max)}, ${samples} builds; ` +
        `pushed after ${formatMs(summarize(pushedAfter).p50)})`,
      target: `≤ floor + ${MARGIN_MS} ms = ${formatMs(limit)}`,
      verdict: verdictOf(summary.p50 <= limit),
      values: {
        p50Ms: summary.p50,
        maxMs: summary.max,
        pushedP50Ms: summarize(pushedAfter).p50,
        samples,
      },
    },
    {
      id: "registry.bytes",
      figure: "registry: bytes pushed per build",
      measured: `at most ${kib(maxSent)} (changed blobs: at least ${kib(Math.min(...changed))})`,
      target: "≤ the changed blobs (new layer, config)",
      verdict: verdictOf(sent.every((bytes, i) => bytes <= changed[i]!)),
      values: { maxBytes: maxSent, changedBytes: Math.min(...changed), samples },
    },
  ];
}
