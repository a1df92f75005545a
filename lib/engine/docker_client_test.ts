import assert from "node:assert/strict";
import { ExitCode, UserError } from "../util/errors.ts";
import {
  compareApiVersions,
  connectionError,
  DockerClient,
  negotiateApiVersion,
  parseVersionBody,
} from "./docker_client.ts";
import { parseDockerHost } from "./docker_host.ts";
import { fakeDocker, json, versionBody } from "../testing/fake_docker.ts";
import { isHttp2Preface } from "./protocol_probe.ts";

const SOCKET = parseDockerHost("unix:///var/run/docker.sock");

function daemon(apiVersion: string, minApiVersion?: string) {
  return { apiVersion, minApiVersion, version: "x" };
}

Deno.test("API versions compare numerically", () => {
  assert.ok(compareApiVersions("1.9", "1.41") < 0);
  assert.ok(compareApiVersions("1.47", "1.41") > 0);
  assert.equal(compareApiVersions("1.41", "1.41"), 0);
  assert.ok(compareApiVersions("2.0", "1.99") > 0);
});

Deno.test("negotiation picks min(ours, the daemon's) within bounds", () => {
  assert.equal(negotiateApiVersion(daemon("1.41", "1.12"), "d"), "1.41");
  assert.equal(negotiateApiVersion(daemon("1.44", "1.24"), "d"), "1.44");
  assert.equal(negotiateApiVersion(daemon("1.47", "1.24"), "d"), "1.47");
  assert.equal(negotiateApiVersion(daemon("1.40", "1.12"), "d"), "1.40");
  // Docker 29: events without the legacy fields, image inspect with Identity.
  assert.equal(negotiateApiVersion(daemon("1.52", "1.44"), "d"), "1.52");
  assert.equal(negotiateApiVersion(daemon("1.55", "1.40"), "d"), "1.55");
  assert.equal(negotiateApiVersion(daemon("1.56", "1.40"), "d"), "1.56");
  assert.equal(negotiateApiVersion(daemon("1.60", "1.40"), "d"), "1.56");
  assert.equal(negotiateApiVersion(daemon("1.60"), "d"), "1.56");
});

Deno.test("negotiation refuses a daemon that is too old or too new", () => {
  assert.throws(
    () => negotiateApiVersion({ apiVersion: "1.39", minApiVersion: "1.12", version: "18.09" }, "D"),
    (error: unknown) =>
      error instanceof UserError && error.exitCode === ExitCode.engine &&
      error.message ===
        "D speaks Docker API 1.39 (Docker 18.09), but veryfreshpod needs API 1.40 or newer; " +
          "upgrade Docker to 19.03 or later",
  );
  assert.throws(
    () => negotiateApiVersion(daemon("1.70", "1.60"), "D"),
    /^UserError: D accepts Docker API 1.60 or newer only \(Docker x\), but this veryfreshpod speaks up to 1.56; upgrade veryfreshpod$/,
  );
});

Deno.test("version bodies", () => {
  assert.deepEqual(parseVersionBody(versionBody("1.47", "1.24")), {
    apiVersion: "1.47",
    minApiVersion: "1.24",
    version: "27.5.1",
  });
  assert.deepEqual(parseVersionBody({ ApiVersion: "1.41" }), {
    apiVersion: "1.41",
    minApiVersion: undefined,
    version: undefined,
  });
  assert.equal(parseVersionBody({ ApiVersion: 1.41 }), undefined);
  assert.equal(parseVersionBody({ ApiVersion: "v1" }), undefined);
  assert.equal(parseVersionBody("1.41"), undefined);
  assert.equal(parseVersionBody(null), undefined);
});

Deno.test("negotiate against a fake daemon, then requests carry the version prefix", async () => {
  await using fake = await fakeDocker((_request, path) =>
    path === "/version" ? json(versionBody("1.52", "1.44")) : json([])
  );
  assert.equal(fake.client.apiVersion, undefined);
  const version = await fake.client.negotiate();
  assert.equal(version.apiVersion, "1.52");
  assert.equal(fake.client.apiVersion, "1.52");
  assert.deepEqual(await fake.client.json("/images/json"), []);
  const response = await fake.client.request("POST", "/images/create?fromSrc=-", { body: "x" });
  await response.body?.cancel();
  assert.deepEqual(fake.requests, [
    "/version",
    "/v1.52/images/json",
    "/v1.52/images/create?fromSrc=-",
  ]);
});

Deno.test("an old daemon is refused through the fake too", async () => {
  await using fake = await fakeDocker(() => json(versionBody("1.39", "1.12")));
  await assert.rejects(() => fake.client.negotiate(), /speaks Docker API 1.39/);
  assert.equal(fake.client.apiVersion, undefined);
});

Deno.test("a non-Docker answer is named as such", async () => {
  const answers: Array<[Response, RegExp]> = [
    [new Response("404 page not found", { status: 404 }), /\(HTTP 404 to GET \/version\)/],
    [new Response("<html>hello</html>"), /\(GET \/version did not return JSON\)/],
    [json({ version: "1.0" }), /\(GET \/version has no ApiVersion\)/],
  ];
  for (const [answer, pattern] of answers) {
    await using fake = await fakeDocker(() => answer);
    await assert.rejects(() => fake.client.negotiate(), (error: unknown) => {
      assert.ok(error instanceof UserError);
      assert.match(error.message, /^the Docker socket ".*" answered, but not like a Docker Engine/);
      assert.match(error.message, pattern);
      assert.match(error.message, /check --docker-host$/);
      return true;
    });
  }
});

/** A daemon that answers `/version` (every first request asks it), and `answer()` otherwise. */
function afterVersion(answer: () => Response) {
  return (_request: Request, path: string) =>
    path === "/version" ? json(versionBody("1.47")) : answer();
}

Deno.test("daemon errors carry the daemon's message", async () => {
  await using fake = await fakeDocker(afterVersion(() => json({ message: "boom" }, 500)));
  await assert.rejects(
    () => fake.client.json("/images/json"),
    /^UserError: the Docker socket ".*" answered 500 to GET \/images\/json: boom$/,
  );
});

/** A body of `total` bytes of `fill`, made as it is read; `pulled()` says how much was. */
function generatedBody(total: number, fill = 0x20) {
  const piece = new Uint8Array(64 * 1024).fill(fill);
  let pulled = 0;
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      if (pulled >= total) return controller.close();
      pulled += piece.length;
      controller.enqueue(piece.slice());
    },
  }, { highWaterMark: 0 });
  return { body, pulled: () => pulled };
}

const MIB = 1024 * 1024;

Deno.test("an answer longer than the cap is refused without reading it whole", async () => {
  // 64 MiB of spaces is valid JSON padding; the cap here is 1 MiB.
  const answer = generatedBody(64 * MIB);
  await using fake = await fakeDocker(
    (_request, path) => path === "/version" ? json(versionBody("1.47")) : new Response(answer.body),
    { maxBodyBytes: MIB },
  );
  await fake.client.negotiate();
  await assert.rejects(
    () => fake.client.json("/images/json"),
    (error: unknown) => {
      assert.ok(error instanceof UserError);
      assert.equal(error.exitCode, ExitCode.engine);
      assert.match(
        error.message,
        /^the Docker socket ".*" sent an answer to GET \/images\/json longer than 1048576 bytes; it was not read$/,
      );
      return true;
    },
  );
  assert.ok(answer.pulled() < 16 * MIB, `${answer.pulled() / MIB} MiB were sent`);
});

Deno.test("an answer that declares a length over the cap is not read at all", async () => {
  await using fake = await fakeDocker(
    afterVersion(() => new Response("[]".padEnd(2 * MIB, " "))),
    { maxBodyBytes: MIB },
  );
  await assert.rejects(() => fake.client.json("/images/json"), /longer than 1048576 bytes/);
  // Under the cap, the same answer is read.
  await using small = await fakeDocker(afterVersion(() => new Response("[]".padEnd(MIB, " "))), {
    maxBodyBytes: MIB,
  });
  assert.deepEqual(await small.client.json("/images/json"), []);
});

Deno.test("a long error answer is read only as far as the message needs", async () => {
  const answer = generatedBody(64 * MIB, 0x78);
  await using fake = await fakeDocker(
    afterVersion(() => new Response(answer.body, { status: 500 })),
  );
  await assert.rejects(
    () => fake.client.json("/images/json"),
    /^UserError: the Docker socket ".*" answered 500 to GET \/images\/json: x{300}$/,
  );
  assert.ok(answer.pulled() < 16 * MIB, `${answer.pulled() / MIB} MiB were sent`);
});

Deno.test("a daemon that does not answer times out", async () => {
  let release = () => {};
  const hung = new Promise<void>((resolve) => release = resolve);
  await using fake = await fakeDocker(async () => {
    await hung;
    return json({});
  }, { timeoutMs: 100 });
  await assert.rejects(
    () => fake.client.negotiate(),
    /^UserError: the Docker socket ".*" did not answer GET \/version within 0.1 s; is dockerd hung\?$/,
  );
  release();
});

Deno.test("a missing socket names the fix", async () => {
  const directory = await Deno.makeTempDir();
  const path = `${directory}/docker.sock`;
  const client = new DockerClient(parseDockerHost(`unix://${path}`));
  try {
    await assert.rejects(() => client.negotiate(), (error: unknown) => {
      assert.ok(error instanceof UserError);
      assert.equal(error.exitCode, ExitCode.engine);
      assert.equal(
        error.message,
        `Cannot connect to the Docker socket "${path}": no such file; start Docker or pass --docker-host`,
      );
      return true;
    });
  } finally {
    client.close();
    await Deno.remove(directory, { recursive: true });
  }
});

Deno.test("a file that is not a listening socket is a refused connection", async () => {
  const directory = await Deno.makeTempDir();
  const path = `${directory}/docker.sock`;
  await Deno.writeTextFile(path, "");
  const client = new DockerClient(parseDockerHost(`unix://${path}`));
  try {
    await assert.rejects(
      () => client.negotiate(),
      /^UserError: Cannot connect to the Docker socket ".*": connection refused; the file is not a socket or no daemon listens on it \(is dockerd running\?\)$/,
    );
  } finally {
    client.close();
    await Deno.remove(directory, { recursive: true });
  }
});

// Root ignores file modes, so a real permission-denied socket cannot be made
// in the test environment; the mapping is checked on Deno's error shape.
Deno.test("error mapping: permission denied, refused, tcp, unknown", () => {
  const denoError = (os: string) => {
    const inner = new Error(
      `error sending request for url (http://docker/version): client error (Connect): ${os}`,
    );
    return new TypeError("fetch failed", { cause: inner });
  };
  assert.equal(
    connectionError(SOCKET, denoError("Permission denied (os error 13)")).message,
    'Cannot connect to the Docker socket "/var/run/docker.sock": permission denied; run ' +
      "veryfreshpod as root or add the user to the docker group " +
      "(sudo usermod -aG docker $USER, then log in again)",
  );
  assert.match(
    connectionError(SOCKET, denoError("Connection refused (os error 111)")).message,
    /: connection refused; the file is not a socket/,
  );
  const tcp = parseDockerHost("tcp://127.0.0.1:2375");
  assert.equal(
    connectionError(tcp, denoError("Connection refused (os error 111)")).message,
    "Cannot connect to Docker at tcp://127.0.0.1:2375: connection refused; start Docker or " +
      "check --docker-host",
  );
  assert.match(
    connectionError(tcp, denoError("dns error: failed to lookup address information")).message,
    /unknown host name; check --docker-host$/,
  );
  const odd = connectionError(SOCKET, denoError("something else (os error 71)"));
  assert.match(
    odd.message,
    /: error sending request .*something else \(os error 71\); is it a Docker Engine\?$/,
  );
  assert.equal(odd.exitCode, ExitCode.engine);
  assert.ok(odd.cause instanceof TypeError);
});

Deno.test("the first request negotiates by itself, once for requests sent together", async () => {
  await using fake = await fakeDocker((_request, path) =>
    path === "/version" ? json(versionBody("1.45")) : json([])
  );
  const answers = await Promise.all([
    fake.client.json("/images/json"),
    fake.client.json("/images/json?all=1"),
  ]);
  assert.deepEqual(answers, [[], []]);
  assert.equal(fake.client.apiVersion, "1.45");
  assert.deepEqual(fake.requests.toSorted(), [
    "/v1.45/images/json",
    "/v1.45/images/json?all=1",
    "/version",
  ]);
});

Deno.test("a failed negotiation is tried again by the next request", async () => {
  let up = false;
  await using fake = await fakeDocker((_request, path) =>
    path === "/version" ? (up ? json(versionBody("1.47")) : json({}, 500)) : json([])
  );
  await assert.rejects(() => fake.client.json("/images/json"), /not like a Docker Engine/);
  up = true;
  assert.deepEqual(await fake.client.json("/images/json"), []);
  assert.deepEqual(fake.requests, ["/version", "/version", "/v1.47/images/json"]);
});

Deno.test("a port the HTTP client blocks is named, not Deno's TypeError", async () => {
  // Deno's fetch refuses port 1 before connecting: no listener is needed.
  const client = new DockerClient(parseDockerHost("tcp://127.0.0.1:1"));
  try {
    await assert.rejects(() => client.negotiate(), (error: unknown) => {
      assert.ok(error instanceof UserError);
      assert.equal(error.exitCode, ExitCode.engine);
      assert.equal(
        error.message,
        "Cannot connect to Docker at tcp://127.0.0.1:1: port 1 is blocked: the HTTP client " +
          "refuses ports that belong to other protocols (as browsers do), and Docker never " +
          "listens there; check the port in --docker-host (Docker's are 2375, and 2376 with TLS)",
      );
      return true;
    });
  } finally {
    client.close();
  }
});

/**
 * A unix socket whose server writes `greeting` as soon as a connection opens
 * (a gRPC server's HTTP/2 SETTINGS frame, or anything else), then reads and
 * ignores what comes.
 */
async function speakingFirst(greeting: Uint8Array, run: (socket: string) => Promise<void>) {
  const directory = await Deno.makeTempDir();
  const socket = `${directory}/engine.sock`;
  const listener = Deno.listen({ transport: "unix", path: socket });
  const connections: Deno.Conn[] = [];
  const serving = (async () => {
    for await (const connection of listener) {
      connections.push(connection);
      connection.write(greeting).catch(() => {});
      connection.readable.pipeTo(new WritableStream()).catch(() => {});
    }
  })();
  try {
    await run(socket);
  } finally {
    listener.close();
    for (const connection of connections) {
      try {
        connection.close();
      } catch {
        // Closed by the client already.
      }
    }
    await serving.catch(() => {});
    await Deno.remove(directory, { recursive: true });
  }
}

// What grpc-go (containerd) sends first: an empty-flagged SETTINGS frame on stream 0 with
// two settings (MAX_FRAME_SIZE 16384, MAX_CONCURRENT_STREAMS…), 12 bytes of payload.
const GRPC_SETTINGS = new Uint8Array([
  0,
  0,
  12,
  4,
  0,
  0,
  0,
  0,
  0,
  0,
  5,
  0,
  0,
  64,
  0,
  0,
  3,
  0,
  0,
  0,
  100,
]);

Deno.test("an HTTP/2 server's first frame is recognised, other bytes are not", () => {
  assert.equal(isHttp2Preface(GRPC_SETTINGS), true);
  assert.equal(isHttp2Preface(new TextEncoder().encode("HTTP/1.1 200 OK\r\n")), false);
  assert.equal(isHttp2Preface(GRPC_SETTINGS.subarray(0, 8)), false, "a cut header");
  const ack = GRPC_SETTINGS.slice(0, 9);
  ack[4] = 1;
  assert.equal(isHttp2Preface(ack), false, "an acknowledgement is no server preface");
});

Deno.test("a gRPC socket as --docker-host is named as containerd's, with the flags to use", async () => {
  await speakingFirst(GRPC_SETTINGS, async (socket) => {
    const client = new DockerClient(parseDockerHost(`unix://${socket}`));
    try {
      await assert.rejects(() => client.negotiate(), (error: unknown) => {
        assert.ok(error instanceof UserError);
        assert.equal(error.exitCode, ExitCode.engine);
        assert.equal(
          error.message,
          `Cannot connect to the Docker socket "${socket}": this socket speaks gRPC, not the ` +
            "Docker Engine API: it looks like containerd's; use --runtime containerd " +
            `--containerd-socket ${socket}`,
        );
        return true;
      });
    } finally {
      client.close();
    }
  });
});

Deno.test("a socket answering in another protocol is not called containerd", async () => {
  await speakingFirst(new TextEncoder().encode("SSH-2.0-OpenSSH_9.2\r\n"), async (socket) => {
    const client = new DockerClient(parseDockerHost(`unix://${socket}`));
    try {
      await assert.rejects(
        () => client.negotiate(),
        /^UserError: Cannot connect to the Docker socket ".*": it answered in another protocol than HTTP\/1\.1, so it is not a Docker Engine; check --docker-host$/,
      );
    } finally {
      client.close();
    }
  });
});
