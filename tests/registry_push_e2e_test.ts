/**
 * The registry client on the real daemons: images from the test dockerd
 * (docker save) and the test containerd (content service) pushed to a real
 * `docker-registry`, only the blobs it lacks, pullable afterwards by digest;
 * basic auth with the docker config's credentials, and the one-line failures.
 */
import assert from "node:assert/strict";
import {
  containerd,
  docker,
  e2eTest,
  importIntoContainerd,
  makeImage,
  registry,
} from "./env/mod.ts";
import {
  dockerConfigWithAuth,
  privateRegistry,
  REGISTRY_PASSWORD,
  REGISTRY_USER,
} from "./env/private_registry.ts";
import { buildOnBase, startLoop } from "./helpers/loop.ts";
import {
  createNamespace,
  createWorkload,
  getWorkload,
  imagesOf,
  workloadObject,
} from "./helpers/workloads.ts";
import { runVeryfreshpod } from "./helpers/veryfreshpod_process.ts";
import { DockerClient } from "../lib/engine/docker_client.ts";
import { parseDockerHost } from "../lib/engine/docker_host.ts";
import { RegistryClient, RegistryError } from "../lib/registry/client.ts";
import { lookupCredentials } from "../lib/registry/credentials.ts";
import {
  ContainerdImageSource,
  DockerImageSource,
  isManifest,
} from "../lib/registry/image_source.ts";
import { ContainerdContentStore } from "../lib/registry/containerd_store.ts";
import { pushImage } from "../lib/registry/push.ts";

const unique = () => `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;

function clientFor(address: string, dockerConfig?: string): RegistryClient {
  const env = (name: string) =>
    name === "DOCKER_CONFIG" ? dockerConfig ?? "/nonexistent" : Deno.env.get(name);
  return new RegistryClient(address, { credentials: () => lookupCredentials(address, { env }) });
}

async function dockerSource(): Promise<DockerImageSource> {
  return new DockerImageSource(
    new DockerClient(parseDockerHost((await docker()).host, "--docker-host")),
  );
}

async function push(client: RegistryClient, repository: string, tag: string, name: string) {
  const image = await (await dockerSource()).open(name, AbortSignal.timeout(60_000));
  try {
    return await pushImage(client, repository, tag, image, AbortSignal.timeout(60_000));
  } finally {
    await image.close();
  }
}

/** The image's blobs that go to `blobs/` (layers, configs), by digest, with their sizes. */
async function blobsOf(name: string): Promise<Map<string, number>> {
  const image = await (await dockerSource()).open(name, AbortSignal.timeout(60_000));
  try {
    return new Map(
      image.blobs.filter((b) => !isManifest(b.mediaType)).map((b) => [b.digest, b.size]),
    );
  } finally {
    await image.close();
  }
}

e2eTest(
  "push from Docker: every blob the first time, then only what the rebuild changed",
  async () => {
    const engine = await docker();
    const { address } = await registry();
    const suffix = unique();
    const base = `vfp-push-base-${suffix}:v1`;
    await makeImage(base);
    const ref = `vfp-push-app-${suffix}:v2`;
    const name = `docker.io/library/${ref}`;
    await buildOnBase(base, ref);
    const repository = `vfp-push-app-${suffix}`;
    const client = clientFor(address);

    // What the engine holds differs by store and builder (uncompressed or gzip layers, a
    // BuildKit attestation): the expectation is computed from the image itself.
    const before = await blobsOf(name);
    const first = await push(client, repository, "v2", name);
    assert.deepEqual([first.written, first.skipped], [before.size, 0]);
    assert.equal(first.bytes, [...before.values()].reduce((a, b) => a + b, 0));
    assert.equal(await client.manifestDigest(repository, "v2"), first.digest);
    // The registry serves it by digest: the engine pulls exactly that image.
    const pinned = `${address}/${repository}@${first.digest}`;
    await engine.run(["pull", "--quiet", pinned]);

    await buildOnBase(base, ref);
    const after = await blobsOf(name);
    const changed = [...after].filter(([digest]) => !before.has(digest));
    const second = await push(client, repository, "v2", name);
    assert.notEqual(second.digest, first.digest);
    assert.ok(changed.length < after.size, "the base layer is the same");
    assert.deepEqual(
      [second.written, second.skipped],
      [changed.length, after.size - changed.length],
      "only the blobs the rebuild changed are sent",
    );
    assert.equal(second.bytes, changed.reduce((sum, [, size]) => sum + size, 0));
    assert.equal(await client.manifestDigest(repository, "v2"), second.digest);

    const again = await push(client, repository, "v2", name);
    assert.deepEqual([again.digest, again.written, again.bytes], [second.digest, 0, 0]);
  },
);

e2eTest("push from containerd's content service, pullable by digest", async () => {
  const ctr = await containerd();
  const { address } = await registry();
  const ref = `vfp-push-ctr-${unique()}:v1`;
  await makeImage(ref);
  const [name] = await importIntoContainerd(ref);
  assert.ok(name);
  const store = new ContainerdContentStore(ctr.socket, ctr.namespace);
  try {
    const image = await new ContainerdImageSource(store).open(name);
    const repository = ref.split(":")[0]!;
    const client = clientFor(address);
    const report = await pushImage(client, repository, "v1", image, AbortSignal.timeout(60_000));
    assert.ok(report.written >= 2, `written ${report.written}`);
    assert.equal(await client.manifestDigest(repository, "v1"), report.digest);
    await (await docker()).run(["pull", "--quiet", `${address}/${repository}@${report.digest}`]);
  } finally {
    store.close();
  }
});

e2eTest(
  "basic auth: the docker config's credentials push; wrong ones fail naming their source",
  async () => {
    const secured = await privateRegistry({ basicAuth: true });
    try {
      const ref = `vfp-push-auth-${unique()}:v1`;
      await makeImage(ref);
      const repository = ref.split(":")[0]!;
      const good = clientFor(secured.address, dockerConfigWithAuth(secured.address));
      const report = await push(good, repository, "v1", `docker.io/library/${ref}`);
      assert.equal(await good.manifestDigest(repository, "v1"), report.digest);

      const badConfig = dockerConfigWithAuth(secured.address, `${REGISTRY_PASSWORD}-wrong`);
      const bad = clientFor(secured.address, badConfig);
      const error = await push(bad, repository, "v2", `docker.io/library/${ref}`).then(
        () => undefined,
        (e) => e,
      );
      assert.ok(error instanceof RegistryError, String(error));
      assert.equal(error.kind, "unauthorized");
      assert.match(error.message, new RegExp(`auths\\["${secured.address.replace(".", "\\.")}`));
      assert.match(error.message, new RegExp(`${badConfig}/config\\.json`));
      assert.doesNotMatch(error.message, /\n/);
      assert.equal(await good.manifestDigest(repository, "v2"), undefined, "nothing was tagged");

      const anonymous = clientFor(secured.address);
      const refused = await anonymous.hasBlob(repository, report.digest).then(() => "", (e) => e);
      assert.match(String(refused), /an anonymous request \(no docker config at/);
      assert.ok(REGISTRY_USER);
    } finally {
      await secured.stop();
    }
  },
);

e2eTest("a registry that does not answer: one line naming it", async () => {
  const gone = await privateRegistry();
  await gone.stop();
  const client = clientFor(gone.address);
  const error = await client.hasBlob("app", `sha256:${"0".repeat(64)}`).then(() => "", (e) => e);
  assert.ok(error instanceof RegistryError);
  assert.equal(error.kind, "unreachable");
  assert.match(error.message, new RegExp(`^registry http://${gone.address} does not answer: `));
  assert.doesNotMatch(error.message, /\n/);
});

Deno.test("run --registry with a bad value: one usage line naming the fix, exit code 2", async () => {
  const cases: [string[], Record<string, string>, RegExp][] = [
    [
      ["run", "--registry", "http://localhost:5001"],
      {},
      /^error: invalid value "http:\/\/localhost:5001" for --registry: "http:\/\/localhost:5001" has a scheme; give only the host and port\n/,
    ],
    [
      ["run"],
      { VERYFRESHPOD_REGISTRY: "localhost:5001,kind-registry:5000" },
      /invalid value "localhost:5001,kind-registry:5000" for VERYFRESHPOD_REGISTRY: "kind-registry:5000" is not from-runtime=HOST; write HOST or HOST,from-runtime=HOST2\n/,
    ],
  ];
  for (const [args, env, message] of cases) {
    const result = await runVeryfreshpod(args, env);
    assert.equal(result.code, 2, result.stderr);
    assert.match(result.stderr, message);
    // The cause and the fix in one line, then where to read the usage.
    assert.match(result.stderr, /\nRun "veryfreshpod run --help" for usage\.\n$/);
    assert.equal(result.stderr.trim().split("\n").length, 2, result.stderr);
  }
});

e2eTest(
  "a dry run with a registry pushes nothing and patches nothing, and says what it would do",
  async () => {
    const { address } = await registry();
    const repository = `vfp-push-dry-${unique()}`;
    const ns = await createNamespace("registry-dry");
    await createWorkload(workloadObject("Deployment", ns, "web", [
      { name: "web", image: `${address}/${repository}:v1` },
    ]));
    await using loop = await startLoop(["--namespace", ns, "--registry", address, "--dry-run"], {
      env: { DOCKER_CONFIG: Deno.makeTempDirSync() },
    });
    await makeImage(`${repository}:v2`);
    await loop.waitForLine(
      new RegExp(
        `Would update Deployment ${ns}/web container web: ${address}/${repository}:v1 -> ` +
          `${address}/${repository}:v2$`,
      ),
      30_000,
    );
    assert.equal(await clientFor(address).manifestDigest(repository, "v2"), undefined);
    assert.deepEqual(imagesOf(await getWorkload("Deployment", ns, "web")), {
      web: `${address}/${repository}:v1`,
    });
    assert.ok(!loop.lines.some((l) => /Pushed /.test(l)), loop.lines.join("\n"));
  },
);
