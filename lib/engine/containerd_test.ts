import * as grpc from "@grpc/grpc-js";
import assert from "node:assert/strict";
import { ExitCode, UserError } from "../util/errors.ts";
import { ContainerdEngine, imageEventFilter, snapshotFromContainerdImages } from "./containerd.ts";
import {
  ContainerdClient,
  containerdError,
  requireSupportedContainerd,
} from "./containerd_client.ts";
import { imageEventName } from "./containerd_proto.ts";
import {
  encodeImageEvent,
  imageEventEnvelope,
  type VendoredEnvelope,
} from "./containerd_vendored_api.ts";
import type { EngineEvent } from "./engine.ts";
import { fakeContainerd, image } from "../testing/fake_containerd.ts";
import { eventually, within } from "../../tests/helpers/eventually.ts";

const A = "sha256:" + "a".repeat(64);
const B = "sha256:" + "b".repeat(64);
const CONFIG = "sha256:" + "c".repeat(64);

Deno.test("snapshot keeps tagged names only; fromRegistry needs a repo digest of the same target", () => {
  const snapshot = snapshotFromContainerdImages([
    // Imported: a tag and the CRI plugin's ID ref.
    image("docker.io/library/app:v1", A),
    image(CONFIG, A),
    // Pulled through CRI: the tag plus a repo digest of the same target.
    image("docker.io/library/nginx:1.27", B),
    image(`docker.io/library/nginx@${B}`, B),
    // A repo digest left from an earlier pull, while the tag moved on: local now.
    image("registry.local/team/api:dev", A),
    image(`registry.local/team/api@${B}`, B),
    // Names that are not tags.
    image("docker.io/library/tagless", A),
    image("Not A Reference", A),
    image("docker.io/library/no-target:1", ""),
    { name: "docker.io/library/null-target:1", labels: {}, target: null },
    // ctr can store unnormalised names; they are normalised like any reference.
    image("short:v2", B),
  ]);
  assert.deepEqual(
    snapshot,
    new Map([
      ["docker.io/library/app:v1", { id: A, fromRegistry: false }],
      ["docker.io/library/nginx:1.27", { id: B, fromRegistry: true }],
      ["registry.local/team/api:dev", { id: A, fromRegistry: false }],
      ["docker.io/library/short:v2", { id: B, fromRegistry: false }],
    ]),
  );
});

Deno.test("a name's updated_at (else created_at) is its tag's time, in milliseconds", () => {
  const at = (seconds: number, nanos = 0) => ({ seconds: String(seconds), nanos });
  const snapshot = snapshotFromContainerdImages([
    { ...image("docker.io/library/app:v1", A), createdAt: at(100), updatedAt: at(200, 500_000) },
    { ...image("docker.io/library/app:v2", A), createdAt: at(100), updatedAt: null },
    { ...image("docker.io/library/app:v3", A), createdAt: at(0), updatedAt: at(0) },
  ]);
  assert.equal(snapshot.get("docker.io/library/app:v1")?.time, 200_000.5);
  assert.equal(snapshot.get("docker.io/library/app:v2")?.time, 100_000);
  assert.equal(snapshot.get("docker.io/library/app:v3")?.time, undefined);
});

Deno.test("the event filter ANDs topic and namespace in one filter", () => {
  assert.equal(imageEventFilter("k8s.io"), 'topic~="/images/",namespace=="k8s.io"');
});

Deno.test("image event payloads decode to the image name", () => {
  const value = encodeImageEvent("containerd.services.images.v1.ImageUpdate", "docker.io/x/y:z");
  assert.equal(
    imageEventName({ typeUrl: "containerd.services.images.v1.ImageUpdate", value }),
    "docker.io/x/y:z",
  );
  // A type URL with a host prefix is accepted as well.
  assert.equal(
    imageEventName({
      typeUrl: "types.containerd.io/containerd.services.images.v1.ImageUpdate",
      value,
    }),
    "docker.io/x/y:z",
  );
  assert.equal(imageEventName({ typeUrl: "containerd.events.TaskStart", value }), undefined);
  assert.equal(
    imageEventName({
      typeUrl: "containerd.services.images.v1.ImageDelete",
      value: Uint8Array.of(0xff, 0xff),
    }),
    undefined,
  );
  assert.equal(imageEventName(null), undefined);
});

function serviceError(code: grpc.status, details: string): grpc.ServiceError {
  return Object.assign(new Error(`${code} ${details}`), {
    code,
    details,
    metadata: new grpc.Metadata(),
  });
}

Deno.test("error mapping names the cause and the fix", () => {
  const socket = "/run/containerd/containerd.sock";
  const unavailable = (errno: string) =>
    containerdError(
      socket,
      "Version",
      serviceError(
        grpc.status.UNAVAILABLE,
        `No connection established. Last error: connect ${errno} ${socket}`,
      ),
    ).message;
  assert.equal(
    unavailable("ENOENT"),
    `Cannot connect to the containerd socket "${socket}": no such file; start containerd or pass ` +
      "--containerd-socket (k3s: /run/k3s/containerd/containerd.sock)",
  );
  assert.equal(
    unavailable("EACCES"),
    `Cannot connect to the containerd socket "${socket}": permission denied; run veryfreshpod as root`,
  );
  assert.match(unavailable("ECONNREFUSED"), /: connection refused; the file is not a socket/);
  assert.match(unavailable("EPROTO"), /: No connection .* EPROTO .*; is it a containerd socket\?$/);
  const deadline = containerdError(
    socket,
    "Images/List",
    serviceError(grpc.status.DEADLINE_EXCEEDED, "x"),
  );
  assert.match(deadline.message, /did not answer Images\/List in time; is containerd hung\?$/);
  assert.equal(deadline.exitCode, ExitCode.engine);
  assert.match(
    containerdError(socket, "Version", serviceError(grpc.status.UNIMPLEMENTED, "x")).message,
    /does not implement Version; is it a containerd socket\?$/,
  );
  assert.match(
    containerdError(socket, "Images/List", serviceError(grpc.status.INTERNAL, "boom")).message,
    /^the containerd socket ".*" failed Images\/List: boom$/,
  );
});

Deno.test("a missing socket and a file that is not a socket", async () => {
  const directory = await Deno.makeTempDir();
  const plain = `${directory}/plain.sock`;
  await Deno.writeTextFile(plain, "");
  const cases: Array<[string, RegExp]> = [
    [`${directory}/missing.sock`, /: no such file; start containerd or pass --containerd-socket/],
    [plain, /: connection refused; the file is not a socket/],
  ];
  try {
    for (const [socket, pattern] of cases) {
      const engine = ContainerdEngine.create({ socket });
      try {
        await assert.rejects(() => engine.connect(), (error: unknown) => {
          assert.ok(error instanceof UserError);
          assert.match(error.message, /^Cannot connect to the containerd socket "/);
          assert.match(error.message, pattern);
          return true;
        });
      } finally {
        engine.close();
      }
    }
  } finally {
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("calls carry the namespace; Get answers undefined for an unknown name", async () => {
  await using fake = await fakeContainerd();
  fake.state.images.push(image("docker.io/library/app:v1", A), image(CONFIG, A));
  const engine = ContainerdEngine.create({ socket: fake.socket, namespace: "moby" });
  try {
    assert.equal(engine.description, `containerd unix://${fake.socket} namespace moby`);
    await engine.connect();
    assert.deepEqual(
      await engine.snapshot(),
      // The CRI plugin's ID ref gives the config digest, which pods report.
      new Map([["docker.io/library/app:v1", { id: A, fromRegistry: false, configId: CONFIG }]]),
    );
    assert.equal((await engine.client.getImage("docker.io/library/app:v1"))?.target?.digest, A);
    assert.equal(await engine.client.getImage("docker.io/library/none:v1"), undefined);
    assert.deepEqual(fake.state.namespaces, ["moby", "moby", "moby", "moby"]);
  } finally {
    engine.close();
  }
});

function envelope(namespace: string, topic: string, name: string): VendoredEnvelope {
  const typeName = `containerd.services.images.v1.Image${topic.slice(8, 9).toUpperCase()}${
    topic.slice(9)
  }`;
  return imageEventEnvelope(namespace, topic, typeName, name);
}

/** The fake's first subscriber, once the engine has subscribed; fails after 5 s without one. */
function subscriber(fake: Awaited<ReturnType<typeof fakeContainerd>>) {
  return eventually("the engine to subscribe to the fake's events", () => {
    return Promise.resolve(fake.state.subscribers[0]);
  }, 5_000);
}

Deno.test("image events: decoded, other namespaces dropped, abort ends cleanly", async () => {
  await using fake = await fakeContainerd();
  const engine = ContainerdEngine.create({ socket: fake.socket });
  const abort = new AbortController();
  const iterator = engine.imageEvents(abort.signal)[Symbol.asyncIterator]();
  try {
    const first = iterator.next();
    const call = await subscriber(fake);
    assert.deepEqual(fake.state.filters, [['topic~="/images/",namespace=="k8s.io"']]);
    call.write(envelope("moby", "/images/create", "docker.io/library/other:1"));
    call.write(envelope("k8s.io", "/images/create", "docker.io/library/app:v1"));
    call.write(envelope("k8s.io", "/images/delete", "docker.io/library/app:v0"));
    assert.deepEqual((await within("the first event", first)).value, {
      action: "create",
      subject: "docker.io/library/app:v1",
      reference: "docker.io/library/app:v1",
    });
    assert.deepEqual(
      (await within("the second event", iterator.next())).value,
      {
        action: "delete",
        subject: "docker.io/library/app:v0",
      } satisfies EngineEvent,
    );
    const pending = iterator.next();
    abort.abort();
    assert.deepEqual(await within("the end after abort", pending), {
      done: true,
      value: undefined,
    });
  } finally {
    engine.close();
  }
});

Deno.test("image events: the daemon ending the stream or failing it is an error", async () => {
  for (const end of ["end", "error"] as const) {
    await using fake = await fakeContainerd();
    const engine = ContainerdEngine.create({ socket: fake.socket });
    try {
      const pending = engine.imageEvents(new AbortController().signal)[Symbol.asyncIterator]()
        .next();
      const call = await subscriber(fake);
      if (end === "end") call.end();
      else call.emit("error", { code: grpc.status.UNAVAILABLE, details: "shutting down" });
      await assert.rejects(within(`the stream to fail (${end})`, pending), (error: unknown) => {
        assert.ok(error instanceof UserError, String(error));
        assert.match(
          error.message,
          end === "end"
            ? /^the containerd socket ".*" closed the event stream$/
            : /^Lost the event stream of the containerd socket ".*": shutting down$/,
        );
        return true;
      });
    } finally {
      engine.close();
    }
  }
});

Deno.test("a client for a socket that does not exist fails in one line naming it", async () => {
  const client = new ContainerdClient("/nonexistent.sock", "k8s.io", { timeoutMs: 5_000 });
  try {
    await assert.rejects(() => client.version(), (error: unknown) => {
      assert.ok(error instanceof UserError, String(error));
      assert.equal(error.exitCode, ExitCode.engine);
      assert.equal(
        error.message,
        'Cannot connect to the containerd socket "/nonexistent.sock": no such file; start ' +
          "containerd or pass --containerd-socket (k3s: /run/k3s/containerd/containerd.sock)",
      );
      return true;
    });
  } finally {
    client.close();
  }
});

Deno.test("containerd releases older than 1.6 are refused; newer and unparsable ones are not", () => {
  for (const version of ["1.6.0", "1.6.20~ds1", "v1.7.27", "v2.3.7", "2.0.0-rc.1", "dev"]) {
    requireSupportedContainerd(version, "/run/containerd/containerd.sock");
  }
  for (const version of ["1.5.18", "v1.4.13", "0.2.0"]) {
    assert.throws(
      () => requireSupportedContainerd(version, "/run/containerd/containerd.sock"),
      (error: unknown) =>
        error instanceof UserError && error.exitCode === ExitCode.engine &&
        error.message.includes(`is containerd ${version}, but veryfreshpod needs containerd 1.6`),
    );
  }
});
