import assert from "node:assert/strict";
import { UserError } from "../util/errors.ts";
import { fakeDocker, json, versionBody } from "../testing/fake_docker.ts";
import { ensureImage, importChanges, ROOTFS_LABEL, splitForImport } from "./image.ts";
import { type Rootfs, tarDigest } from "./rootfs.ts";
import { writeTar } from "./tar.ts";

const tar = writeTar([{ path: "/usr/local/bin/veryfreshpod", type: "file", mode: 0o755 }]);
const rootfs: Rootfs = {
  tar,
  digest: tarDigest(tar),
  entrypoint: "/usr/local/bin/veryfreshpod",
  env: ["LD_LIBRARY_PATH=/lib/x86_64-linux-gnu"],
  architecture: "amd64",
  files: ["/usr/local/bin/veryfreshpod"],
};

Deno.test("an image reference splits into the repo and tag an import takes", () => {
  assert.deepEqual(splitForImport("veryfreshpod:0.1.0"), { repo: "veryfreshpod", tag: "0.1.0" });
  assert.deepEqual(splitForImport("localhost:5000/team/vfp:1"), {
    repo: "localhost:5000/team/vfp",
    tag: "1",
  });
  assert.deepEqual(splitForImport("localhost:5000/vfp"), {
    repo: "localhost:5000/vfp",
    tag: "latest",
  });
});

Deno.test("an image reference with a digest or bad syntax cannot name an import", () => {
  for (const reference of [`vfp@sha256:${"a".repeat(64)}`, "Vfp:1", "vfp:"]) {
    assert.throws(() => splitForImport(reference), (error: unknown) => {
      assert.ok(error instanceof UserError);
      assert.match(error.message, /^Cannot name the image .*; use a name:tag reference$/);
      return true;
    });
  }
});

Deno.test("the import sets the entrypoint, the library path and the labels", () => {
  assert.deepEqual(importChanges(rootfs, { "a.b/c": "d e" }), [
    'ENTRYPOINT ["/usr/local/bin/veryfreshpod"]',
    "ENV LD_LIBRARY_PATH=/lib/x86_64-linux-gnu",
    'LABEL "a.b/c"="d e"',
  ]);
});

Deno.test("an image is imported with its changes, and not again when the same one is there", async () => {
  const digest = rootfs.digest;
  let stored: { labels: Record<string, string> } | undefined;
  let bodyLength = 0;
  await using fake = await fakeDocker(async (request, path) => {
    if (path === "/version") return json(versionBody("1.47"));
    if (path.startsWith("/v1.47/images/create?")) {
      bodyLength = (await request.arrayBuffer()).byteLength;
      const query = new URL(request.url).searchParams;
      const label = query.getAll("changes").find((c) => c.startsWith(`LABEL "${ROOTFS_LABEL}"`));
      stored = { labels: { [ROOTFS_LABEL]: JSON.parse(label!.split("=")[1]!) } };
      return new Response('{"status":"sha256:1234"}\n');
    }
    if (path === "/v1.47/images/veryfreshpod%3A0.1.0/json") {
      return stored
        ? json({ Id: "sha256:1234", Config: { Labels: stored.labels } })
        : json({}, 404);
    }
    return json({ message: "unexpected" }, 500);
  });
  assert.deepEqual(await ensureImage(fake.client, rootfs, "veryfreshpod:0.1.0"), {
    id: "sha256:1234",
    imported: true,
  });
  assert.equal(bodyLength, rootfs.tar.length);
  assert.equal(stored?.labels[ROOTFS_LABEL], digest);
  const create = fake.requests.find((p) => p.includes("/images/create"))!;
  const query = new URLSearchParams(create.split("?")[1]);
  assert.equal(query.get("fromSrc"), "-");
  assert.equal(query.get("repo"), "veryfreshpod");
  assert.equal(query.get("tag"), "0.1.0");
  assert.deepEqual(await ensureImage(fake.client, rootfs, "veryfreshpod:0.1.0"), {
    id: "sha256:1234",
    imported: false,
  });
  assert.equal(fake.requests.filter((p) => p.includes("/images/create")).length, 1);
});

Deno.test("an import the daemon fails in its progress stream is a one-line error", async () => {
  await using fake = await fakeDocker((_request, path) => {
    if (path === "/version") return json(versionBody("1.47"));
    if (path.includes("/images/create")) {
      return new Response(
        '{"status":"Importing"}\n{"errorDetail":{"message":"no space left on device"},"error":"no space left on device"}\n',
      );
    }
    return json({}, 404);
  });
  await assert.rejects(ensureImage(fake.client, rootfs, "vfp:1"), (error: unknown) => {
    assert.ok(error instanceof UserError);
    assert.match(error.message, /could not import the image vfp:1: no space left on device$/);
    return true;
  });
});
