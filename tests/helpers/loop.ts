/**
 * Helpers for end-to-end tests of the watch loop: unique names, a new build,
 * starting veryfreshpod against the test daemons, waiting for a workload to
 * run given images.
 */
import assert from "node:assert/strict";
import { docker, kubernetes, makeImage, node } from "../env/mod.ts";
import { startVeryfreshpod, type VeryfreshpodProcess } from "./veryfreshpod_process.ts";
import { eventually } from "./eventually.ts";
import { getWorkload, imagesOf } from "./workloads.ts";
import type { WorkloadKind } from "../../lib/model/workload.ts";

let repositories = 0;
/** A repository name no other test uses. */
export function uniqueRepository(base: string): string {
  return `${base}-${Date.now().toString(36)}${repositories++}`;
}

/**
 * `docker build` of new content, then `docker tag` of it as `ref`: the new tag
 * names a new image, as after a developer's build. The build goes to a scratch
 * repository so that only the tag is a change of `ref`'s repository.
 */
export async function buildAndTag(ref: string): Promise<string> {
  const scratch = `${uniqueRepository("scratch")}:build`;
  const id = await makeImage(scratch);
  await (await docker()).run(["tag", scratch, ref]);
  return id;
}

/**
 * A real `docker build` (the builder of the test dockerd) of `FROM base`
 * (scratch when not given; a `makeImage` image runs a shell) with one new
 * file, tagged `ref`; returns the image ID.
 */
export async function dockerBuild(ref: string, base = "scratch"): Promise<string> {
  const context = await Deno.makeTempDir({ prefix: "vfp-build-" });
  try {
    // Not /build-id: a makeImage base has one of the same size, and vfs would see no change.
    await Deno.writeTextFile(`${context}/app-id`, `${crypto.randomUUID()}\n`);
    await Deno.writeTextFile(`${context}/Dockerfile`, `FROM ${base}\nCOPY app-id /app-id\n`);
    const engine = await docker();
    await engine.run(["build", "--quiet", "--tag", ref, context]);
    return await engine.run(["image", "inspect", "--format", "{{.Id}}", ref]);
  } finally {
    await Deno.remove(context, { recursive: true });
  }
}

/**
 * A real `docker build` of `FROM base` plus one file of new content: two
 * layers, of which a rebuild changes only the second. Returns the image ID.
 */
export async function buildOnBase(base: string, ref: string): Promise<string> {
  const context = await Deno.makeTempDir({ prefix: "vfp-build-on-base-" });
  try {
    // Not /build-id: the base has one of the same size, and vfs would see no change.
    await Deno.writeTextFile(`${context}/app-id`, `${crypto.randomUUID()}\n`);
    await Deno.writeTextFile(`${context}/Dockerfile`, `FROM ${base}\nCOPY app-id /app-id\n`);
    const engine = await docker();
    await engine.run(["build", "--quiet", "--tag", ref, context]);
    return await engine.run(["image", "inspect", "--format", "{{.Id}}", ref]);
  } finally {
    await Deno.remove(context, { recursive: true });
  }
}

/** How to start the loop. */
export interface LoopOptions {
  /** A kubeconfig other than the admin's (e.g. a service account's). */
  readonly kubeconfig?: string;
  /** Engine flags instead of `--docker-host <test dockerd>`. */
  readonly engineArgs?: string[];
  /** Environment variables of the process (`VERYFRESHPOD_*` settings). */
  readonly env?: Record<string, string>;
}

/** Starts `veryfreshpod run` against the test daemons; waits until it tracks workloads. */
export async function startLoop(
  extraArgs: string[] = [],
  options: LoopOptions = {},
): Promise<VeryfreshpodProcess> {
  const engineArgs = options.engineArgs ?? ["--docker-host", (await docker()).host];
  const kubeconfig = options.kubeconfig ?? (await kubernetes()).kubeconfig;
  const process = startVeryfreshpod([
    "run",
    "--kubeconfig",
    kubeconfig,
    ...engineArgs,
    "--resync-period",
    "1",
    ...extraArgs,
  ], options.env);
  await process.waitForLine(/Tracking \d+ workloads?/);
  return process;
}

/** `veryfreshpod run` on the real node's containerd, for the workloads of `namespace`. */
export async function startLoopOnNode(namespace: string): Promise<VeryfreshpodProcess> {
  const { containerdSocket } = await node();
  return await startLoop(["--namespace", namespace], {
    engineArgs: ["--runtime", "containerd", "--containerd-socket", containerdSocket],
  });
}

/** Waits until a workload's containers run exactly `images`; returns the object. */
export function waitForImages(
  kind: WorkloadKind,
  namespace: string,
  name: string,
  images: Record<string, string>,
  timeoutMs = 30_000,
  // deno-lint-ignore no-explicit-any
): Promise<any> {
  return eventually(`${kind} ${namespace}/${name} to run ${JSON.stringify(images)}`, async () => {
    const object = await getWorkload(kind, namespace, name);
    try {
      assert.deepEqual(imagesOf(object), images);
      return object;
    } catch {
      return undefined;
    }
  }, timeoutMs);
}
