/**
 * The kind path on two kind-like node containers (tests/helpers/kind_nodes.ts: each
 * a containerd in a container of the test Docker, labelled as kind labels
 * its nodes): a `docker build` of a large image with a small change (a
 * 5-byte file on top of a layer of random bytes), copied into both nodes by
 * the bridge's node-container feed, which leaves out what each node holds.
 * Beside it, in the same run, what `kind load docker-image` does: `docker
 * save | ctr images import` into each node, the whole image every time. The
 * bytes sent come from the feed's own report; the changed blobs from the
 * engine's image before and after the build. No kubelet runs in these
 * containers: what is timed is the image being in both nodes.
 */
import { docker } from "../env/mod.ts";
import { buildNodeImage, startKindNode } from "../helpers/kind_nodes.ts";
import { DockerClient } from "../../lib/engine/docker_client.ts";
import { parseDockerHost } from "../../lib/engine/docker_host.ts";
import { ContainerFeed, importArgs } from "../../lib/bridge/container_feed.ts";
import { engineSet } from "../env/engines.ts";
import { DockerImageSource } from "../../lib/registry/image_source.ts";
import { blobSizes, largeImage } from "./large_image.ts";
import { binary } from "../env/paths.ts";
import type { BenchContext } from "./context.ts";
import { summarize } from "./stats.ts";
import { formatMs, type Row, verdictOf } from "./table.ts";

const REPOSITORY = "bench-containers";
const MARGIN_MS = 500;

/** `docker save ref | docker exec -i node ctr images import -`, as kind load does it. */
async function kindLoad(ref: string, node: string): Promise<void> {
  const engine = await docker();
  const save = new Deno.Command(binary("docker"), {
    args: ["save", ref],
    env: engine.env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const load = new Deno.Command(binary("docker"), {
    // The flags the bridge passes (kind's, with --local for ctr 2.x's transfer service).
    args: [
      ...["exec", "-i", node, "ctr", "--namespace=k8s.io"],
      ...importArgs(["--snapshotter=native"], engineSet() === "today"),
    ],
    env: engine.env,
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  }).spawn();
  await save.stdout.pipeTo(load.stdin);
  const [saved, loaded] = await Promise.all([save.output(), load.output()]);
  if (!saved.success || !loaded.success) {
    throw new Error(
      `docker save | ctr images import failed: ${new TextDecoder().decode(saved.stderr)}` +
        new TextDecoder().decode(loaded.stderr),
    );
  }
}

export async function containersRows(context: BenchContext): Promise<Row[]> {
  const engine = await docker();
  const mib = context.sizes.bridgeImageMiB;
  const samples = context.sizes.nodeSamples;
  const suffix = Date.now().toString(36);
  context.progress("containers: two kind-like node containers");
  const image = `vfp-bench-kind-node:${suffix}`;
  await buildNodeImage(image);
  const cluster = `bench-${suffix}`;
  const nodes = await Promise.all([
    startKindNode(`${cluster}-control-plane`, cluster, image),
    startKindNode(`${cluster}-worker`, cluster, image),
  ]);
  const client = new DockerClient(parseDockerHost(engine.host, "--docker-host"));
  const source = new DockerImageSource(client);
  const platform = { os: "linux", architecture: "amd64" };
  const feeds = nodes.map((node) =>
    new ContainerFeed(node.name, node.name, `kind cluster "${cluster}"`, client, platform)
  );
  const blobsOf = (name: string) => blobSizes(source, name);

  context.progress(`containers: building a ${mib} MiB base image`);
  const images = await largeImage(REPOSITORY, mib);
  const build = async () => `docker.io/library/${REPOSITORY}:${(await images.build())[0]}`;
  const floor: number[] = [];
  const copies: number[] = [];
  const sent: number[] = [];
  const changed: number[] = [];
  const signal = new AbortController().signal;
  try {
    // Both nodes get the base once, as after the first build of a session.
    const first = await build();
    const id = async (name: string) =>
      await engine.run(["image", "inspect", "--format", "{{.Id}}", name]);
    for (const feed of feeds) await feed.copy({ name: first, id: await id(first) }, signal);
    let previous = await blobsOf(first);

    context.progress(`containers: ${samples} builds each way, into both nodes`);
    for (let i = 0; i < samples; i++) {
      const loaded = await build();
      const loadStarted = performance.now();
      for (const node of nodes) await kindLoad(loaded, node.name);
      floor.push(performance.now() - loadStarted);

      const name = await build();
      const blobs = await blobsOf(name);
      const copyStarted = performance.now();
      let most = 0;
      for (const feed of feeds) {
        const report = await feed.copy({ name, id: await id(name) }, signal);
        most = Math.max(most, report.bytes);
      }
      copies.push(performance.now() - copyStarted);
      sent.push(most);
      changed.push(
        [...blobs].filter(([digest]) => !previous.has(digest)).reduce((s, [, n]) => s + n, 0),
      );
      previous = blobs;
    }
  } finally {
    client.close();
    for (const node of nodes) {
      await engine.run(["rm", "--force", "--volumes", node.name]).catch(() => "");
    }
    await images.remove();
  }
  const floorSummary = summarize(floor);
  const summary = summarize(copies);
  const limit = floorSummary.p50 + MARGIN_MS;
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  return [
    {
      id: "containers.floor",
      figure: `kind load: \`docker save | ctr images import\` of a ${mib} MiB image (5-byte ` +
        "change) into each of two node containers",
      measured: `p50 ${formatMs(floorSummary.p50)} (max ${formatMs(floorSummary.max)}, ` +
        `${samples} builds)`,
      target: "",
      verdict: "no target",
      values: { p50Ms: floorSummary.p50, maxMs: floorSummary.max, samples },
    },
    {
      id: "containers.copy",
      figure: `node containers: the same rebuild into both nodes by the bridge, only what each ` +
        "lacks",
      measured: `p50 ${formatMs(summary.p50)} (max ${formatMs(summary.max)}, ${samples} builds)`,
      target: `≤ floor + ${MARGIN_MS} ms = ${formatMs(limit)}`,
      verdict: verdictOf(summary.p50 <= limit),
      values: { p50Ms: summary.p50, maxMs: summary.max, samples },
    },
    {
      id: "containers.bytes",
      figure: "node containers: blob bytes sent to a node per build",
      measured: `at most ${kib(Math.max(...sent))} (changed blobs: at least ` +
        `${kib(Math.min(...changed))})`,
      target: "≤ the changed blobs",
      verdict: verdictOf(sent.every((bytes, i) => bytes <= changed[i]!)),
      values: { maxBytes: Math.max(...sent), changedBytes: Math.min(...changed), samples },
    },
  ];
}
