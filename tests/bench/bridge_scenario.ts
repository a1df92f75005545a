/**
 * The bridge on the real node (tests/env/node.ts: a kubelet on the test
 * containerd), fed from the test Docker: a `docker build` of a large image
 * with a small change (one file of 5 bytes on top of a layer of random
 * bytes) → the new pod Ready, through veryfreshpod's bridge. Beside it, in
 * the same run: the floor, the image already on the node and `kubectl set
 * image` → the new pod Ready; and the whole-image copy `kind load` does,
 * `docker save | ctr images import`, alone. The bytes the bridge wrote to the
 * node come from its own log line; the changed blobs (the top layer, config
 * and manifest) from the node's content store.
 */
import { containerd, docker, node } from "../env/mod.ts";
import { binary } from "../env/paths.ts";
import { type BenchContext, pause } from "./context.ts";
import { largeImage } from "./large_image.ts";
import { PodWatch, runningWorkload } from "./node_scenario.ts";
import { startProgram } from "./program.ts";
import { summarize } from "./stats.ts";
import { formatMs, type Row, verdictOf } from "./table.ts";

const NAMESPACE = "bench-bridge";
const REPOSITORY = "bench-bridge";
const MARGIN_MS = 500;

/** `docker save ref | ctr images import -` into the node's containerd; milliseconds taken. */
async function saveAndImport(ref: string, socket: string, namespace: string): Promise<number> {
  const engine = await docker();
  const started = performance.now();
  const save = new Deno.Command(binary("docker"), {
    args: ["save", ref],
    env: engine.env,
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const load = new Deno.Command(binary("ctr"), {
    args: ["--address", socket, "--namespace", namespace, "images", "import", "-"],
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
  return performance.now() - started;
}

/** `docker save ref` read to its end and dropped; milliseconds taken. */
async function saveAlone(ref: string): Promise<number> {
  const engine = await docker();
  const started = performance.now();
  const output = await new Deno.Command(binary("docker"), {
    args: ["save", ref],
    env: engine.env,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!output.success) throw new Error(new TextDecoder().decode(output.stderr));
  return performance.now() - started;
}

/**
 * What a build with a new top layer changed, as the node holds it: the
 * manifest (and the index around it, on Docker's containerd store), the
 * config and the top layer, in bytes (sizes from the documents).
 */
async function changedBytes(name: string): Promise<number> {
  const ctr = await containerd();
  const table = await ctr.ctr(["images", "ls", `name==${name}`]);
  const target = table.match(/\s(sha256:[0-9a-f]{64})\s/)?.[1];
  if (target === undefined) throw new Error(`the node has no ${name}: ${table}`);
  let text = await ctr.ctr(["content", "get", target]);
  let bytes = 0;
  let body = JSON.parse(text);
  if (Array.isArray(body.manifests)) {
    bytes += new TextEncoder().encode(text).length;
    const platform = body.manifests.find((child: { platform?: { os?: string } }) =>
      child.platform?.os === "linux"
    );
    text = await ctr.ctr(["content", "get", platform.digest]);
    body = JSON.parse(text);
  }
  return bytes + new TextEncoder().encode(text).length + body.config.size +
    body.layers.at(-1).size;
}

export async function bridgeRows(context: BenchContext): Promise<Row[]> {
  context.progress("starting the real node (kubelet, kube-scheduler, kube-proxy, CNI)");
  const theNode = await node();
  const engine = await docker();
  const mib = context.sizes.bridgeImageMiB;
  const samples = context.sizes.nodeSamples;
  context.progress(`bridge: building a ${mib} MiB base image`);
  const image = await largeImage(REPOSITORY, mib, ["sleep", "1000000"]);
  let count = 0;
  /** `docker build` of the next tag with a 5-byte change; the tag and when the build returned. */
  const build = async (): Promise<[string, number]> => {
    const [tag, returned] = await image.build();
    count++;
    return [`${REPOSITORY}:${tag}`, returned];
  };

  const floor: number[] = [];
  const wholeCopy: number[] = [];
  const saves: number[] = [];
  const reaction: number[] = [];
  const written: number[] = [];
  const copiedAfter: number[] = [];
  const patchedAfter: number[] = [];
  const changed: number[] = [];
  const sources = new Set<string>();
  let pods: PodWatch | undefined;
  try {
    const [first] = await build();
    wholeCopy.push(await saveAndImport(first, theNode.containerdSocket, theNode.namespace));
    pods = await runningWorkload(context, first, NAMESPACE);

    context.progress(`bridge: ${samples} rollouts of an image already on the node (the floor)`);
    for (let i = 0; i < samples; i++) {
      const [image] = await build();
      saves.push(await saveAlone(image));
      wholeCopy.push(await saveAndImport(image, theNode.containerdSocket, theNode.namespace));
      const ready = pods.readyAt(image);
      await theNode.kubectl(["-n", NAMESPACE, "set", "image", "deployment/web", `app=${image}`]);
      const returned = performance.now();
      floor.push(await ready - returned);
      await pods.settled(image);
      await pause(500);
    }

    context.progress(`bridge: ${samples} docker builds rolled out through the bridge`);
    const program = await startProgram({
      kubeconfig: context.cluster.kubeconfig,
      engineArgs: ["--docker-host", engine.host, "--containerd-socket", theNode.containerdSocket],
      extraArgs: ["--namespace", NAMESPACE, "--log-format", "json"],
    });
    try {
      for (let i = 0; i < samples; i++) {
        const next = `${REPOSITORY}:v${count}`;
        const ready = pods.readyAt(next);
        const [, returned] = await build();
        const returnedAt = Date.now();
        reaction.push(await ready - returned);
        await pods.settled(next);
        const name = `docker.io/library/${next}`;
        // deno-lint-ignore no-explicit-any
        const records = program.process.lines.map((line) => JSON.parse(line) as any);
        const copied = records.find((record) => record.msg?.startsWith(`Copied ${name} `));
        if (copied === undefined) {
          throw new Error(`no copy of ${name} in the log:\n${program.process.lines.join("\n")}`);
        }
        // Where the time goes: the copy's end and the patch, from the build's return.
        const patched = records.find((record) => record.msg?.endsWith(`-> ${next}`));
        copiedAfter.push(Date.parse(copied.time) - returnedAt);
        patchedAfter.push(Date.parse(patched?.time ?? "") - returnedAt);
        written.push(copied.bytes);
        if (typeof copied.source === "string") sources.add(copied.source);
        changed.push(await changedBytes(name));
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
    await image.remove();
  }
  const floorSummary = summarize(floor);
  const summary = summarize(reaction);
  const copySummary = summarize(wholeCopy);
  const saveSummary = summarize(saves);
  const limit = floorSummary.p50 + MARGIN_MS;
  const maxWritten = Math.max(...written);
  const kib = (bytes: number) => `${(bytes / 1024).toFixed(1)} KiB`;
  return [
    {
      id: "bridge.floor",
      figure: `bridge floor: a ${mib} MiB image already on the node, \`kubectl set image\` ` +
        "returned → new pod Ready",
      measured: `p50 ${formatMs(floorSummary.p50)} (max ${formatMs(floorSummary.max)}, ` +
        `${samples} rollouts)`,
      target: "",
      verdict: "no target",
      values: { p50Ms: floorSummary.p50, maxMs: floorSummary.max, samples },
    },
    {
      id: "bridge.copy",
      figure: `\`docker save | ctr images import\` of the ${mib} MiB image (what \`kind load\` ` +
        "does), alone",
      measured: `p50 ${formatMs(copySummary.p50)} (max ${formatMs(copySummary.max)}, ` +
        `${wholeCopy.length} copies)`,
      target: "",
      verdict: "no target",
      values: { p50Ms: copySummary.p50, maxMs: copySummary.max, samples: wholeCopy.length },
    },
    {
      id: "bridge.save",
      figure: `\`docker save\` of the ${mib} MiB image alone (what the bridge streams when ` +
        "Docker's containerd is out of reach)",
      measured: `p50 ${formatMs(saveSummary.p50)} (max ${formatMs(saveSummary.max)}, ` +
        `${saves.length} saves)`,
      target: "",
      verdict: "no target",
      values: { p50Ms: saveSummary.p50, maxMs: saveSummary.max, samples: saves.length },
    },
    {
      id: "bridge.rollout",
      figure: `bridge: \`docker build\` (5-byte change, ${mib} MiB image) returned → new pod ` +
        `Ready on the containerd node (read from ${[...sources].join(", ") || "?"})`,
      measured: `p50 ${formatMs(summary.p50)} (max ${formatMs(summary.max)}, ${samples} builds; ` +
        `copied after ${formatMs(summarize(copiedAfter).p50)}, patched after ` +
        `${formatMs(summarize(patchedAfter).p50)})`,
      target: `≤ floor + ${MARGIN_MS} ms = ${formatMs(limit)}`,
      verdict: verdictOf(summary.p50 <= limit),
      values: {
        p50Ms: summary.p50,
        maxMs: summary.max,
        copiedP50Ms: summarize(copiedAfter).p50,
        patchedP50Ms: summarize(patchedAfter).p50,
        samples,
      },
    },
    {
      id: "bridge.bytes",
      figure: "bridge: bytes written to the node per build",
      measured: `at most ${kib(maxWritten)} (changed blobs: at least ${kib(Math.min(...changed))})`,
      target: "≤ the changed blobs (new layer, config, manifest)",
      verdict: verdictOf(written.every((bytes, i) => bytes <= changed[i]!)),
      values: { maxBytes: maxWritten, changedBytes: Math.min(...changed), samples },
    },
  ];
}
