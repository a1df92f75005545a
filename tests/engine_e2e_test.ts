/**
 * DockerEngine and ContainerdEngine against the real daemons of the test
 * environment (tests/env): what the snapshot says, that events arrive for
 * the changes veryfreshpod cares about, and that the streams end on abort.
 */

import assert from "node:assert/strict";
import { configDigest } from "../lib/engine/config_digest.ts";
import type { ContainerdWriter } from "../lib/engine/containerd_writer.ts";
import { ContainerdEngine } from "../lib/engine/containerd.ts";
import {
  compareApiVersions,
  NEWEST_API_VERSION,
  OLDEST_API_VERSION,
} from "../lib/engine/docker_client.ts";
import { DockerEngine } from "../lib/engine/docker.ts";
import type { Engine, EngineEvent } from "../lib/engine/engine.ts";
import type { ImageSnapshot } from "../lib/model/image_snapshot.ts";
import {
  containerd,
  type Docker,
  docker,
  e2eTest,
  engineSet,
  importIntoContainerd,
  loadImage,
  makeImage,
  registry,
  saveImage,
} from "./env/mod.ts";
import { buildIn, dockerStores } from "./helpers/docker_stores.ts";
import { run } from "./env/process.ts";

/** A repository name no other test uses. */
function unique(prefix: string): string {
  return `vfp-engine/${prefix}-${crypto.randomUUID().slice(0, 8)}`;
}

/**
 * An event stream being read in the background, with a way to wait for an
 * event that matches. Events are kept, so none is lost between waits.
 */
class EventTap {
  readonly events: EngineEvent[] = [];
  readonly #abort = new AbortController();
  readonly done: Promise<void>;
  #wake = () => {};

  constructor(engine: Engine) {
    this.done = (async () => {
      for await (const event of engine.imageEvents(this.#abort.signal)) {
        this.events.push(event);
        this.#wake();
      }
    })();
    // Surfaced by `stop()` or `waitFor()`; never an unhandled rejection.
    this.done.catch(() => {});
  }

  /** The first event from index `from` on that matches, within `timeoutMs`. */
  async waitFor(
    what: string,
    match: (event: EngineEvent) => boolean,
    from = 0,
    timeoutMs = 15_000,
  ): Promise<EngineEvent> {
    const deadline = Date.now() + timeoutMs;
    while (true) {
      const found = this.events.slice(from).find(match);
      if (found) return found;
      const left = deadline - Date.now();
      if (left <= 0) {
        throw new Error(`no event for ${what}; got ${JSON.stringify(this.events)}`);
      }
      const woken = new Promise<void>((resolve) => this.#wake = resolve);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const timeout = new Promise<void>((resolve) => timer = setTimeout(resolve, left));
      const failed = this.done.then(() => {
        throw new Error(`the event stream ended while waiting for ${what}`);
      });
      try {
        await Promise.race([woken, timeout, failed]);
      } finally {
        clearTimeout(timer);
      }
    }
  }

  /**
   * Makes changes with `poke` until an event shows that the subscription is
   * live: the engines give no signal when it is, and a change made before
   * that would be missed (the controller covers that gap with its periodic
   * re-read).
   */
  async live(poke: () => Promise<void>): Promise<void> {
    for (let attempt = 0; attempt < 50 && this.events.length === 0; attempt++) {
      await poke();
      await this.waitFor("the first event", () => true, 0, 300).catch(() => {});
    }
    assert.ok(this.events.length > 0, "the event stream never delivered an event");
  }

  /** Aborts the stream; resolves when it has ended, which must be without an error. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await this.done;
  }
}

function keysAdded(before: ImageSnapshot, after: ImageSnapshot): string[] {
  return [...after.keys()].filter((key) => !before.has(key)).sort();
}

e2eTest("docker: connect negotiates an API version both sides speak", async () => {
  const engine = DockerEngine.create({ host: (await docker()).host });
  try {
    await engine.connect();
    const version = engine.client.apiVersion ?? "";
    assert.ok(compareApiVersions(version, OLDEST_API_VERSION) >= 0, version);
    assert.ok(compareApiVersions(version, NEWEST_API_VERSION) <= 0, version);
  } finally {
    engine.close();
  }
});

/** The config digest of `ref` in `daemon`, from its `docker save` (manifest.json's Config). */
async function savedConfigDigest(daemon: Docker, ref: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "vfp-engine-save-" });
  try {
    await daemon.run(["save", "-o", `${dir}/image.tar`, ref]);
    const manifest = await run("tar", ["-xOf", `${dir}/image.tar`, "manifest.json"]);
    const config = (JSON.parse(manifest) as Array<{ Config: string }>)[0]!.Config;
    // `blobs/sha256/<hex>` (OCI layout) or `<hex>.json` (the classic store before Docker 25).
    return `sha256:${/([0-9a-f]{64})/.exec(config)![1]}`;
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

for (const { name: store, daemon: daemonOf } of dockerStores()) {
  e2eTest(
    `docker (${store}): the snapshot lists tagged images; a new tag's config digest and pulled-or-built`,
    async () => {
      const daemon = await daemonOf();
      const engine = DockerEngine.create({ host: daemon.host });
      try {
        await engine.connect();
        // The baseline: what changes after it is looked up in the store.
        await engine.snapshot();
        const repository = unique("snap");
        const built = await buildIn(daemon, `${repository}:v1`, { buildkit: false });
        const remote = `${(await registry()).address}/${repository}`;
        await daemon.run(["tag", `${repository}:v1`, `${remote}:v1`]);
        await daemon.run(["push", "--quiet", `${remote}:v1`]);
        const config = await savedConfigDigest(daemon, `${repository}:v1`);
        const snapshot = await engine.snapshot();
        const local = snapshot.get(`docker.io/${repository}:v1`);
        assertRecent("the image's Created", local?.time);
        assert.equal(local?.id, built);
        // Only the pushed name can be pulled; the local name of the same image cannot.
        assert.equal(local?.fromRegistry, false, "a build");
        assert.equal(snapshot.get(`${remote}:v1`)?.fromRegistry, true, "pushed");
        assert.equal(snapshot.get(`${remote}:v1`)?.id, built);
        // The config digest, which pods on a containerd node report: the ID itself on the
        // classic store, beside it on the containerd store (where the ID is the manifest's).
        if (daemon.store === "containerd") {
          assert.notEqual(built, config);
          assert.equal(local?.configId, config);
        } else {
          assert.equal(built, config);
          assert.equal(local?.configId, undefined);
        }
        for (const key of snapshot.keys()) assert.match(key, /^[^/]+\/.+:[\w][\w.-]*$/);
      } finally {
        engine.close();
      }
    },
  );

  if (store === "containerd store") {
    e2eTest(
      "docker (containerd store) without its containerd socket: image inspect's Identity tells a pull from a build",
      async () => {
        const daemon = await daemonOf();
        const engine = DockerEngine.create({ host: daemon.host, readDockerContainerd: false });
        try {
          await engine.connect();
          await engine.snapshot(); // the baseline
          const repository = unique("identity");
          await buildIn(daemon, `${repository}:v1`, { buildkit: false });
          const remote = `${(await registry()).address}/${repository}`;
          await daemon.run(["tag", `${repository}:v1`, `${remote}:v1`]);
          await daemon.run(["push", "--quiet", `${remote}:v1`]);
          await daemon.run(["rmi", `${remote}:v1`, `${repository}:v1`]);
          await daemon.run(["pull", "--quiet", `${remote}:v1`]);
          await daemon.run(["tag", `${remote}:v1`, `${repository}:dev`]);
          await buildIn(daemon, `${repository}:v2`, { buildkit: true });
          const snapshot = await engine.snapshot();
          assert.equal(snapshot.get(`${remote}:v1`)?.fromRegistry, true, "pulled");
          assert.equal(snapshot.get(`docker.io/${repository}:dev`)?.fromRegistry, false);
          assert.equal(snapshot.get(`docker.io/${repository}:v2`)?.fromRegistry, false, "built");
          // The config digest needs the blobs: unknown without Docker's containerd.
          assert.equal(snapshot.get(`docker.io/${repository}:v2`)?.configId, undefined);
        } finally {
          engine.close();
        }
      },
    );
  }

  e2eTest(
    `docker (${store}): events at the negotiated API name the tag and its image; untag; a BuildKit build`,
    async () => {
      const daemon = await daemonOf();
      const repository = unique("events");
      const id = await buildIn(daemon, `${repository}:v1`, { buildkit: false });
      const engine = DockerEngine.create({ host: daemon.host });
      const tap = new EventTap(engine);
      try {
        await engine.connect();
        if (engineSet() === "today") {
          // Docker 29: events without the legacy status, id and from fields.
          assert.ok(compareApiVersions(engine.client.apiVersion ?? "", "1.52") >= 0);
        }
        let probe = 0;
        await tap.live(() =>
          daemon.run(["tag", `${repository}:v1`, `${repository}:probe${probe++}`]).then(() => {})
        );
        let from = tap.events.length;
        await daemon.run(["tag", `${repository}:v1`, `${repository}:v2`]);
        const tagged = await tap.waitFor("docker tag", (e) =>
          e.action === "tag" &&
          e.reference === `docker.io/${repository}:v2`, from);
        assert.equal(tagged.id, id, "the tag event names the image the tag names now");
        assertRecent("the tag event's time", tagged.time);

        // untag names the removed tag (containerd store) or the image ID (classic store).
        from = tap.events.length;
        await daemon.run(["rmi", `${repository}:v2`]);
        const untagged = await tap.waitFor("docker rmi", (e) => e.action === "untag", from);
        assert.ok(
          untagged.subject.includes(`${repository}:v2`) || untagged.subject.includes(id),
          untagged.subject,
        );
        assert.equal(untagged.reference, undefined, "an untag sets no tag");

        // A BuildKit build: the tag event names its image (after a create, on the containerd store).
        from = tap.events.length;
        const built = await buildIn(daemon, `${repository}:v3`, { buildkit: true });
        const tag = await tap.waitFor(
          "the BuildKit build's tag",
          (e) => e.action === "tag" && e.reference === `docker.io/${repository}:v3`,
          from,
        );
        assert.equal(tag.id, built);
        const actions = tap.events.slice(from).map((e) => e.action);
        if (daemon.store === "containerd") {
          assert.ok(actions.indexOf("create") >= 0, actions.join(" "));
          assert.ok(actions.indexOf("create") < actions.indexOf("tag"), actions.join(" "));
        }
        await endsAfterAbort(tap.stop());
      } finally {
        await endsAfterAbort(tap.stop()).catch(() => {});
        engine.close();
      }
    },
  );
}

e2eTest(
  "docker: a tag sends an event and shows in the next snapshot; abort ends the stream",
  async () => {
    const daemon = await docker();
    const repository = unique("tag");
    const id = await makeImage(`${repository}:v1`);
    const engine = DockerEngine.create({ host: daemon.host });
    const tap = new EventTap(engine);
    try {
      let probe = 0;
      await tap.live(() =>
        daemon.run(["tag", `${repository}:v1`, `${repository}:probe${probe++}`]).then(() => {})
      );
      const before = await engine.snapshot();
      const from = tap.events.length;
      await daemon.run(["tag", `${repository}:v1`, `${repository}:v2`]);
      const event = await tap.waitFor(
        "docker tag",
        (e) => e.subject.includes(`${repository}:v2`),
        from,
      );
      assert.equal(event.action, "tag");
      // What orders new tags: the tag set, as a snapshot key, and when (timeNano, in ms).
      assert.equal(event.reference, `docker.io/${repository}:v2`);
      assertRecent("the tag event's time", event.time);
      const after = await engine.snapshot();
      assert.deepEqual(keysAdded(before, after), [`docker.io/${repository}:v2`]);
      assert.equal(after.get(`docker.io/${repository}:v2`)?.id, id);
      assertRecent("the image's Created", after.get(`docker.io/${repository}:v2`)?.time);
      const tagged = await engine.tagTimes([id, "sha256:" + "0".repeat(64)]);
      assert.deepEqual(
        [...tagged.keys()],
        [id],
        "LastTagTime of the image, none for an unknown ID",
      );
      assertRecent("the image's LastTagTime", tagged.get(id));

      // A load names no tags; its event still arrives.
      const tarball = await saveImage(`${repository}:v2`);
      const loadFrom = tap.events.length;
      await loadImage(tarball);
      await tap.waitFor("docker load", (e) => e.action === "load", loadFrom);

      await endsAfterAbort(tap.stop());
    } finally {
      await endsAfterAbort(tap.stop()).catch(() => {});
      engine.close();
    }
  },
);

e2eTest(
  "containerd: an imported image is in the snapshot, tagged names only, with its config digest",
  async () => {
    const ctr = await containerd();
    const repository = unique("ctr");
    const engine = ContainerdEngine.create({ socket: ctr.socket, namespace: ctr.namespace });
    try {
      await engine.connect();
      await engine.snapshot(); // the baseline: config digests are learned for what changes after it
      await makeImage(`${repository}:v1`);
      // Docker's image ID on the classic store, beside it on the containerd store.
      const config = await savedConfigDigest(await docker(), `${repository}:v1`);
      const [name] = await importIntoContainerd(`${repository}:v1`);
      assert.equal(name, `docker.io/${repository}:v1`);
      const listing = await ctr.ctr(["images", "ls"]);
      const digest = listing.split("\n").find((line) => line.startsWith(`${name} `))?.split(/\s+/)[
        2
      ];
      const snapshot = await engine.snapshot();
      // The target is the manifest; the config digest is what pods report.
      const { time, ...tagged } = snapshot.get(name) ?? {};
      assert.deepEqual(tagged, { id: digest, fromRegistry: false, configId: config });
      assertRecent("the name's updated_at", time);
      // Read from the content store itself, not only from the CRI plugin's ID reference.
      const writer = engine.client as ContainerdWriter;
      assert.equal(await configDigest((d) => writer.readContent(d), digest!), config);
      for (const key of snapshot.keys()) assert.doesNotMatch(key, /sha256|@/);
    } finally {
      engine.close();
    }
  },
);

e2eTest("containerd: an import sends an event; abort ends the stream", async () => {
  const ctr = await containerd();
  const repository = unique("ctr-event");
  await makeImage(`${repository}:v1`);
  const [first] = await importIntoContainerd(`${repository}:v1`);
  const engine = ContainerdEngine.create({ socket: ctr.socket, namespace: ctr.namespace });
  const tap = new EventTap(engine);
  try {
    let probe = 0;
    await tap.live(() =>
      ctr.ctr(["images", "label", first ?? "", `probe=${probe++}`]).then(() => {})
    );
    const before = await engine.snapshot();
    const from = tap.events.length;
    await makeImage(`${repository}:v2`);
    const [second] = await importIntoContainerd(`${repository}:v2`);
    const event = await tap.waitFor("ctr import", (e) => e.subject === second, from);
    assert.match(event.action, /^(create|update)$/);
    assert.equal(event.reference, second);
    assertRecent("the envelope's timestamp", event.time);
    assert.deepEqual(keysAdded(before, await engine.snapshot()), [`docker.io/${repository}:v2`]);

    await endsAfterAbort(tap.stop());
  } finally {
    await endsAfterAbort(tap.stop()).catch(() => {});
    engine.close();
  }
});

/**
 * Asserts that `time` is a time of this test run, in milliseconds since the
 * epoch (the daemons share this machine's clock): catches a wrong unit or a
 * field not read, not speed.
 */
function assertRecent(what: string, time: number | undefined): void {
  assert.ok(time !== undefined, `${what} is missing`);
  const hour = 3_600_000;
  assert.ok(Math.abs(Date.now() - time) < hour, `${what} is ${new Date(time).toISOString()}`);
}

/**
 * Fails when aborting does not end the event stream at all (a hang guard with a
 * generous deadline, not a speed check: speed belongs in benchmarks).
 */
async function endsAfterAbort(stopping: Promise<unknown>): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("the event stream did not end after abort")), 30_000);
  });
  try {
    await Promise.race([stopping, hang]);
  } finally {
    clearTimeout(timer);
  }
}
