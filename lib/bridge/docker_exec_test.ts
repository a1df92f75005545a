import assert from "node:assert/strict";
import { parseDockerHost } from "../engine/docker_host.ts";
import { DockerClient } from "../engine/docker_client.ts";
import { dockerExec } from "./docker_exec.ts";

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** One stdout (1) or stderr (2) frame of Docker's multiplexed stream. */
function frame(stream: number, text: string): Uint8Array {
  const body = encoder.encode(text);
  const out = new Uint8Array(8 + body.length);
  out[0] = stream;
  new DataView(out.buffer).setUint32(4, body.length);
  out.set(body, 8);
  return out;
}

/**
 * A Docker daemon on a unix socket that speaks plain HTTP/1.1 by hand (an
 * exec start is a hijacked connection, which Deno.serve cannot make). Its one
 * exec prints to stderr, reads a little of its input and exits 1 with the
 * rest unread, as `ctr` does when a node container dies mid-import.
 */
async function dyingExecDaemon(how: "reset" | "half-close" = "reset") {
  const dir = await Deno.makeTempDir({ prefix: "vfp-exec-test-" });
  const path = `${dir}/docker.sock`;
  const listener = Deno.listen({ transport: "unix", path });
  const open = new Set<Deno.Conn>();
  const answer = (conn: Deno.Conn, body: unknown) => {
    const text = JSON.stringify(body);
    return conn.write(encoder.encode(
      `HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: ${
        encoder.encode(text).length
      }\r\n\r\n${text}`,
    ));
  };
  const serve = async (conn: Deno.Conn) => {
    let pending = "";
    const buffer = new Uint8Array(64 * 1024);
    while (true) {
      const end = pending.indexOf("\r\n\r\n");
      if (end < 0) {
        const read = await conn.read(buffer).catch(() => null);
        if (read === null) return;
        pending += decoder.decode(buffer.subarray(0, read));
        continue;
      }
      const head = pending.slice(0, end);
      const length = Number(head.match(/content-length: (\d+)/i)?.[1] ?? 0);
      pending = pending.slice(end + 4 + length);
      const [method, target] = head.split(" ");
      if (target!.endsWith("/version")) {
        await answer(conn, { ApiVersion: "1.47", MinAPIVersion: "1.24", Version: "27.5.1" });
      } else if (method === "POST" && target!.endsWith("/exec")) {
        await answer(conn, { Id: "e1" });
      } else if (target!.endsWith("/exec/e1/json")) {
        await answer(conn, { Running: false, ExitCode: 1 });
      } else if (target!.endsWith("/exec/e1/start")) {
        await conn.write(encoder.encode(
          "HTTP/1.1 101 UPGRADED\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n",
        ));
        await conn.write(frame(2, "ctr: failed to import: unexpected EOF\n"));
        // Let the input pile up unread, then exit: closing with unread input resets the peer.
        await new Promise((resolve) => setTimeout(resolve, 200));
        if (how === "half-close") {
          // As Docker does when the container was killed: the output ends, and the input is
          // neither read nor refused until much later.
          await conn.closeWrite();
          await new Promise((resolve) => setTimeout(resolve, 30_000));
        }
        conn.close();
        return;
      } else {
        return conn.close();
      }
    }
  };
  const serving = (async () => {
    for await (const conn of listener) {
      open.add(conn);
      serve(conn).catch(() => {}).finally(() => open.delete(conn));
    }
  })();
  return {
    path,
    async [Symbol.asyncDispose]() {
      listener.close();
      for (const conn of open) {
        try {
          conn.close();
        } catch {
          // closed already
        }
      }
      await serving.catch(() => {});
      await Deno.remove(dir, { recursive: true });
    },
  };
}

Deno.test("an exec that dies with its input unread reports its exit code and stderr, not the reset", async () => {
  await using daemon = await dyingExecDaemon();
  const client = new DockerClient(parseDockerHost(`unix://${daemon.path}`));
  try {
    // 64 MiB of input: far more than the socket buffers hold, so most of it is never read.
    let sent = 0;
    const input = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 64 << 20) return controller.close();
        sent += 1 << 20;
        controller.enqueue(new Uint8Array(1 << 20));
      },
    });
    const result = await dockerExec(
      client,
      "node",
      ["ctr", "images", "import", "-"],
      input,
      new AbortController().signal,
    );
    assert.equal(result.exitCode, 1);
    assert.match(result.stderr, /ctr: failed to import: unexpected EOF/);
  } finally {
    client.close();
  }
});

Deno.test("an exec whose output ends while its input is still being written stops writing and reports the exit", async () => {
  await using daemon = await dyingExecDaemon("half-close");
  const client = new DockerClient(parseDockerHost(`unix://${daemon.path}`));
  try {
    let sent = 0;
    const input = new ReadableStream<Uint8Array>({
      pull(controller) {
        if (sent >= 64 << 20) return controller.close();
        sent += 1 << 20;
        controller.enqueue(new Uint8Array(1 << 20));
      },
    });
    const exec = dockerExec(
      client,
      "node",
      ["ctr", "images", "import", "-"],
      input,
      new AbortController().signal,
    );
    // Not a speed check: before, the exec waited for a write nobody would read (minutes).
    let timer: ReturnType<typeof setTimeout> | undefined;
    const hung = new Promise<"hung">((resolve) =>
      timer = setTimeout(() => resolve("hung"), 10_000)
    );
    const result = await Promise.race([exec, hung]);
    clearTimeout(timer);
    assert.notEqual(result, "hung", "the exec ended with its output");
    assert.equal((result as { exitCode: number }).exitCode, 1);
    assert.ok(sent < 64 << 20, "the rest of the input was not read");
  } finally {
    client.close();
  }
});
