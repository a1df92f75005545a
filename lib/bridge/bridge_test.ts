import assert from "node:assert/strict";
import { Backoff } from "../util/backoff.ts";
import type { WorkloadUpdate } from "../model/plan_types.ts";
import { BridgeError, formatBytes, ImageBridge, imagesInUse, imagesOfUpdates } from "./bridge.ts";
import type { BridgeImage, CopyReport, NodeFeed } from "./feed.ts";

/** A node that holds images by name, with copies that fail while `failing` is set. */
class FakeFeed implements NodeFeed {
  readonly how = "by magic";
  readonly held = new Map<string, string>();
  /** Image ID -> the config digest the node holds it by. */
  readonly configs = new Map<string, string>();
  readonly calls: string[] = [];
  /** The images whose config digest was asked for. */
  readonly asked: string[] = [];
  failing: string | undefined;
  constructor(readonly nodes: string[]) {}
  has(image: BridgeImage): Promise<boolean> {
    this.calls.push(`has ${image.name}`);
    return Promise.resolve(this.held.get(image.name) === image.id);
  }
  copy(image: BridgeImage): Promise<CopyReport> {
    this.calls.push(`copy ${image.name}`);
    if (this.failing) return Promise.reject(new Error(this.failing));
    this.held.set(image.name, image.id);
    return Promise.resolve({ written: 3, skipped: 1, bytes: 2048 });
  }
  configOf(image: BridgeImage): Promise<string | undefined> {
    this.asked.push(image.name);
    const id = this.held.get(image.name);
    return Promise.resolve(id === undefined ? undefined : this.configs.get(id));
  }
  close(): void {}
}

const app = (tag: string, id = `sha256:${tag}`): BridgeImage => ({
  name: `docker.io/library/app:${tag}`,
  id,
});
const signal = new AbortController().signal;

Deno.test("ensure() copies each image to every node that lacks it, and remembers", async () => {
  const [a, b] = [new FakeFeed(["a"]), new FakeFeed(["b"])];
  b.held.set(app("v2").name, app("v2").id);
  const bridge = new ImageBridge([a, b]);
  await bridge.ensure([app("v2")], signal);
  assert.deepEqual(a.calls, ["has docker.io/library/app:v2", "copy docker.io/library/app:v2"]);
  assert.deepEqual(b.calls, ["has docker.io/library/app:v2"]);
  await bridge.ensure([app("v2")], signal);
  assert.equal(a.calls.length + b.calls.length, 3, "known images are not asked for again");
  // A rebuild of the same tag is another image: copied again.
  await bridge.ensure([app("v2", "sha256:rebuilt")], signal);
  assert.equal(a.held.get(app("v2").name), "sha256:rebuilt");
  assert.equal(b.held.get(app("v2").name), "sha256:rebuilt");
});

Deno.test("a failed copy throws, then nothing is tried until the backoff has passed", async () => {
  let now = 1_000_000;
  const feed = new FakeFeed(["node-1"]);
  feed.failing = "no space left on device";
  const bridge = new ImageBridge([feed], { now: () => now, backoff: new Backoff(1_000, 8_000) });
  await assert.rejects(
    bridge.ensure([app("v3")], signal),
    (error) =>
      error instanceof BridgeError &&
      error.message ===
        "Cannot copy docker.io/library/app:v3 to node node-1: no space left on device",
  );
  assert.equal(feed.calls.length, 2);
  feed.failing = undefined;
  now += 500; // within the first delay (1 s ± 20 %)
  await assert.rejects(bridge.ensure([app("v3")], signal), /waiting to retry: Cannot copy/);
  assert.equal(feed.calls.length, 2, "nothing was tried");
  now += 1_000;
  await bridge.ensure([app("v3")], signal);
  assert.equal(feed.held.get(app("v3").name), app("v3").id);
  // Images the nodes hold already never wait.
  feed.failing = "again";
  await assert.rejects(bridge.ensure([app("v4")], signal));
  await bridge.ensure([app("v3")], signal);
});

Deno.test("the backoff between attempts doubles with each failure, up to its cap", async () => {
  let now = 0;
  const feed = new FakeFeed(["n"]);
  feed.failing = "down";
  const bridge = new ImageBridge([feed], { now: () => now, backoff: new Backoff(1_000, 4_000) });
  const attempts: number[] = [];
  for (let t = 0; t <= 12_000; t += 100) {
    now = t;
    const before = feed.calls.length;
    await bridge.ensure([app("v5")], signal).catch(() => {});
    if (feed.calls.length > before) attempts.push(t);
  }
  const gaps = attempts.slice(1).map((t, i) => t - attempts[i]!);
  assert.ok(gaps.length >= 3, JSON.stringify(attempts));
  assert.ok(gaps[0]! >= 800 && gaps[0]! <= 1_300, JSON.stringify(gaps));
  assert.ok(gaps[1]! >= 1_600 && gaps[1]! <= 2_500, JSON.stringify(gaps));
  assert.ok(gaps.slice(2).every((gap) => gap >= 3_200 && gap <= 4_900), JSON.stringify(gaps));
});

Deno.test("sweep() copies what it can, never throws, and leaves a failing image alone for a while", async () => {
  let now = 0;
  const feed = new FakeFeed(["n"]);
  const bridge = new ImageBridge([feed], { now: () => now, backoff: new Backoff(1_000, 4_000) });
  feed.failing = "broken";
  await bridge.sweep([app("v1")], signal);
  assert.equal(feed.calls.length, 2);
  await bridge.sweep([app("v1")], signal);
  assert.equal(feed.calls.length, 2, "not retried at once");
  // A sweep failure does not hold back patches.
  feed.failing = undefined;
  await bridge.ensure([app("v2")], signal);
  now = 2_000;
  await bridge.sweep([app("v1")], signal);
  assert.equal(feed.held.get(app("v1").name), app("v1").id);
});

const update = (partial: Partial<WorkloadUpdate>): WorkloadUpdate => ({
  workload: { kind: "Deployment", namespace: "default", name: "web" },
  resourceVersion: "1",
  imageUpdates: [],
  rebuilds: [],
  rolloutAnnotation: undefined,
  warnings: [],
  ...partial,
});

Deno.test("the images of updates: new tags with Docker's ID, rebuilt tags with theirs, normalised", () => {
  const snapshot = new Map([
    ["docker.io/library/app:v2", { id: "sha256:two", fromRegistry: false }],
    ["localhost:5000/team/api:dev", { id: "sha256:api", fromRegistry: false }],
  ]);
  const updates = [
    update({ imageUpdates: [{ container: "c", init: false, from: "app:v1", to: "app:v2" }] }),
    update({
      rebuilds: [{
        container: "c",
        init: true,
        image: "localhost:5000/team/api:dev",
        previousId: "sha256:old",
        id: "sha256:api",
      }],
    }),
    update({ imageUpdates: [{ container: "c", init: false, from: "x:1", to: "x:2" }] }),
  ];
  assert.deepEqual(imagesOfUpdates(updates, snapshot), [
    { name: "docker.io/library/app:v2", id: "sha256:two" },
    { name: "localhost:5000/team/api:dev", id: "sha256:api" },
  ]);
});

Deno.test("the images in use: what workloads reference and Docker has, never the rest", () => {
  const snapshot = new Map([
    ["docker.io/library/app:v1", { id: "sha256:one", fromRegistry: false }],
    ["docker.io/library/unused:v1", { id: "sha256:unused", fromRegistry: false }],
  ]);
  const workload = {
    key: { kind: "Deployment" as const, namespace: "default", name: "web" },
    resourceVersion: "1",
    labels: {},
    annotations: {},
    templateAnnotations: {},
    containers: [
      { name: "a", init: false, image: "app:v1", pullPolicy: undefined },
      { name: "b", init: false, image: "nginx:1.27", pullPolicy: undefined },
      { name: "c", init: false, image: "Bad Ref", pullPolicy: undefined },
    ],
  };
  assert.deepEqual(imagesInUse([workload], snapshot), [
    { name: "docker.io/library/app:v1", id: "sha256:one" },
  ]);
});

Deno.test("formatBytes() reads well", () => {
  assert.equal(formatBytes(580), "580 B");
  assert.equal(formatBytes(312 * 1024), "312 KiB");
  assert.equal(formatBytes(2_000_000), "1.9 MiB");
});

Deno.test("the images carry the config digest where Docker's ID is another digest (containerd store)", () => {
  const snapshot = new Map([
    ["docker.io/library/app:v2", {
      id: "sha256:index",
      fromRegistry: false,
      configId: "sha256:config",
    }],
    ["docker.io/library/app:v3", {
      id: "sha256:same",
      fromRegistry: false,
      configId: "sha256:same",
    }],
  ]);
  const updates = [
    update({ imageUpdates: [{ container: "c", init: false, from: "app:v1", to: "app:v2" }] }),
    update({ imageUpdates: [{ container: "c", init: false, from: "app:v1", to: "app:v3" }] }),
  ];
  assert.deepEqual(imagesOfUpdates(updates, snapshot), [
    { name: "docker.io/library/app:v2", id: "sha256:index", configId: "sha256:config" },
    { name: "docker.io/library/app:v3", id: "sha256:same" },
  ]);
});

Deno.test("ensure() asks the node for the config digest of an image that came without one, once", async () => {
  const feed = new FakeFeed(["n"]);
  feed.configs.set("sha256:index2", "sha256:config2");
  const bridge = new ImageBridge([feed]);
  const image = app("v2", "sha256:index2");
  assert.deepEqual(
    await bridge.ensure([image], signal),
    new Map([["sha256:index2", "sha256:config2"]]),
  );
  assert.deepEqual(feed.calls, [`has ${image.name}`, `copy ${image.name}`]);
  assert.deepEqual(feed.asked, [image.name]);
  // Known now: neither the node nor the copy is asked again, and the answer stays.
  assert.deepEqual(
    await bridge.ensure([image], signal),
    new Map([["sha256:index2", "sha256:config2"]]),
  );
  assert.equal(feed.calls.length + feed.asked.length, 3);
});

Deno.test("ensure() asks nothing when the engine said the config digest, or its IDs are configs", async () => {
  const feed = new FakeFeed(["n"]);
  feed.configs.set("sha256:index3", "sha256:config3");
  const told = { ...app("v3", "sha256:index3"), configId: "sha256:config3" };
  assert.deepEqual(await new ImageBridge([feed]).ensure([told], signal), new Map());
  assert.deepEqual(feed.asked, []);
  // Docker's classic store: its image ID is the config digest.
  const classic = new FakeFeed(["n"]);
  const bridge = new ImageBridge([classic], { idsMayNotBeConfigs: () => Promise.resolve(false) });
  assert.deepEqual(await bridge.ensure([app("v4")], signal), new Map());
  assert.deepEqual(classic.calls, [`has ${app("v4").name}`, `copy ${app("v4").name}`]);
  assert.deepEqual(classic.asked, []);
});

Deno.test("a node that holds the image already is asked for its config digest too; a failed ask is no failure", async () => {
  const feed = new FakeFeed(["n"]);
  const image = app("v5", "sha256:index5");
  feed.held.set(image.name, image.id);
  feed.configs.set(image.id, "sha256:config5");
  assert.deepEqual(
    await new ImageBridge([feed]).ensure([image], signal),
    new Map([[image.id, "sha256:config5"]]),
  );
  assert.deepEqual(feed.calls, [`has ${image.name}`]);
  assert.deepEqual(feed.asked, [image.name]);
  const silent = new FakeFeed(["n"]);
  silent.configOf = () => Promise.reject(new Error("ctr: not found"));
  assert.deepEqual(
    await new ImageBridge([silent]).ensure([app("v6", "sha256:index6")], signal),
    new Map(),
  );
});
