/**
 * `docker exec -i` through the Engine API: create an exec, then start it on a
 * hijacked connection (`Connection: Upgrade`, `Upgrade: tcp`), write its
 * stdin and half-close, read its stdout and stderr (multiplexed in 8-byte
 * framed chunks, as without a TTY), then read its exit code. `fetch` cannot
 * hijack a connection, so the start is plain HTTP/1.1 on a socket of our own
 * (unix, tcp or TLS, whichever the client uses).
 */
import { describeDockerHost, type DockerClient, responseError } from "../engine/docker_client.ts";

/** What an exec printed and how it ended. */
export interface ExecResult {
  readonly exitCode: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** How much of each output stream is kept (the end of it). */
const OUTPUT_LIMIT = 64 * 1024;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

async function openConnection(client: DockerClient): Promise<Deno.Conn> {
  const host = client.host;
  if (host.transport === "unix") return await Deno.connect({ transport: "unix", path: host.path });
  if (host.tls === undefined) {
    return await Deno.connect({ hostname: host.hostname, port: host.port });
  }
  const read = (path: string) => {
    try {
      return Deno.readTextFileSync(path);
    } catch {
      return undefined;
    }
  };
  const ca = read(host.tls.ca);
  const cert = read(host.tls.cert);
  const key = read(host.tls.key);
  return await Deno.connectTls({
    hostname: host.hostname,
    port: host.port,
    ...(ca === undefined ? {} : { caCerts: [ca] }),
    ...(cert !== undefined && key !== undefined ? { cert, key } : {}),
  });
}

/** Keeps the last `limit` bytes written to it. */
class Tail {
  #chunks: Uint8Array[] = [];
  #size = 0;
  push(chunk: Uint8Array): void {
    this.#chunks.push(chunk.slice());
    this.#size += chunk.length;
    while (this.#size - (this.#chunks[0]?.length ?? 0) >= OUTPUT_LIMIT) {
      this.#size -= this.#chunks.shift()!.length;
    }
  }
  text(): string {
    const all = new Uint8Array(this.#size);
    let at = 0;
    for (const chunk of this.#chunks) {
      all.set(chunk, at);
      at += chunk.length;
    }
    return decoder.decode(all.subarray(Math.max(0, all.length - OUTPUT_LIMIT)));
  }
}

/**
 * Splits Docker's multiplexed stream (header: stream type, three zero bytes,
 * big-endian length) into stdout and stderr. A frame's payload is passed on as
 * it arrives, never gathered whole: a header may announce up to 4 GiB.
 */
export class StreamDemuxer {
  readonly stdout = new Tail();
  readonly stderr = new Tail();
  readonly #header = new Uint8Array(8);
  #headerBytes = 0;
  /** Payload bytes of the current frame still to come, and where they go. */
  #remaining = 0;
  #target = this.stdout;

  /** Bytes held back waiting for more: at most a frame header's 8. */
  get pendingBytes(): number {
    return this.#headerBytes;
  }

  push(chunk: Uint8Array): void {
    let at = 0;
    while (at < chunk.length) {
      if (this.#remaining > 0) {
        const take = Math.min(this.#remaining, chunk.length - at);
        this.#target.push(chunk.subarray(at, at + take));
        this.#remaining -= take;
        at += take;
        continue;
      }
      const take = Math.min(8 - this.#headerBytes, chunk.length - at);
      this.#header.set(chunk.subarray(at, at + take), this.#headerBytes);
      this.#headerBytes += take;
      at += take;
      if (this.#headerBytes === 8) {
        this.#headerBytes = 0;
        this.#target = this.#header[0] === 2 ? this.stderr : this.stdout;
        this.#remaining = new DataView(this.#header.buffer).getUint32(4);
      }
    }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** Reads the response head; returns the status and whatever bytes came after it. */
async function readHead(
  conn: Deno.Conn,
): Promise<{ status: number; head: string; rest: Uint8Array }> {
  let buffer: Uint8Array<ArrayBuffer> = new Uint8Array(0);
  const chunk = new Uint8Array(4096);
  while (true) {
    const read = await conn.read(chunk);
    if (read === null) throw new Error("the daemon closed the connection before answering");
    buffer = concat(buffer, chunk.subarray(0, read));
    const text = decoder.decode(buffer);
    const end = text.indexOf("\r\n\r\n");
    if (end >= 0) {
      const headBytes = encoder.encode(text.slice(0, end + 4)).length;
      const status = Number(text.slice(0, end).match(/^HTTP\/1\.[01] (\d{3})/)?.[1] ?? 0);
      return { status, head: text.slice(0, end), rest: buffer.subarray(headBytes) };
    }
    if (buffer.length > 64 * 1024) throw new Error("the daemon's answer has no end of headers");
  }
}

/**
 * Runs `cmd` in `container` with `stdin` (when given) as its standard input;
 * resolves when it ends. Throws a UserError when the daemon refuses, an
 * Error when it takes longer than `timeoutMs`.
 */
export async function dockerExec(
  client: DockerClient,
  container: string,
  cmd: readonly string[],
  stdin: ReadableStream<Uint8Array> | undefined,
  outerSignal: AbortSignal,
  timeoutMs = 600_000,
): Promise<ExecResult> {
  // A hung process must not hold the bridge (and every patch behind it) for ever.
  const signal = AbortSignal.any([outerSignal, AbortSignal.timeout(timeoutMs)]);
  const created = await client.json(`/containers/${encodeURIComponent(container)}/exec`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({
      AttachStdin: stdin !== undefined,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      Cmd: cmd,
    }),
  }) as { Id?: unknown };
  if (typeof created.Id !== "string") {
    throw new Error(`${describeDockerHost(client.host)} created an exec without an ID`);
  }
  const id = created.Id;
  const body = encoder.encode(JSON.stringify({ Detach: false, Tty: false }));
  const conn = await openConnection(client);
  const abort = () => conn.close();
  signal.addEventListener("abort", abort, { once: true });
  const demuxer = new StreamDemuxer();
  try {
    const request = [
      `POST /v${client.apiVersion}/exec/${id}/start HTTP/1.1`,
      "Host: docker",
      "Content-Type: application/json",
      `Content-Length: ${body.length}`,
      "Connection: Upgrade",
      "Upgrade: tcp",
      "",
      "",
    ].join("\r\n");
    await writeAll(conn, concat(encoder.encode(request), body));
    const { status, head, rest } = await readHead(conn);
    if (status !== 101 && status !== 200) {
      const response = new Response(rest.slice(), { status });
      throw await responseError(
        client.host,
        "POST",
        `/exec/${id}/start (${head.split("\r\n")[0]})`,
        response,
      );
    }
    demuxer.push(rest);
    const writing = (async () => {
      try {
        if (stdin !== undefined) {
          for await (const chunk of stdin) await writeAll(conn, chunk);
        }
      } finally {
        // End of input, also when the input failed: the process reads EOF (a short archive
        // makes ctr fail and say so), finishes and closes its output.
        await conn.closeWrite().catch(() => {});
      }
    })();
    // Awaited below; until then a failure must not count as an unhandled rejection.
    let writeSettled = false;
    writing.then(() => writeSettled = true, () => writeSettled = true);
    const buffer = new Uint8Array(64 * 1024);
    while (true) {
      let read: number | null;
      try {
        read = await conn.read(buffer);
      } catch (error) {
        // A process that exits with input unread makes the kernel reset the connection: its
        // exit code and what it printed until then say why, not the reset.
        if (error instanceof Deno.errors.ConnectionReset) break;
        throw error;
      }
      if (read === null) break;
      demuxer.push(buffer.subarray(0, read));
    }
    // The output ended: the process is gone. Input it never read is dropped: a write to a
    // container that was killed can wait minutes for a reader that will not come.
    const stoppedWriting = !writeSettled;
    if (stoppedWriting) conn.close();
    await writing.catch((error) => {
      // The process may exit without reading all of its input: its output says why.
      if (
        !stoppedWriting &&
        !(error instanceof Deno.errors.BrokenPipe || error instanceof Deno.errors.ConnectionReset)
      ) {
        throw error;
      }
    });
  } catch (error) {
    // Closing the connection on abort breaks the read: report the abort, not the read.
    if (!signal.aborted) throw error;
  } finally {
    signal.removeEventListener("abort", abort);
    try {
      conn.close();
    } catch {
      // Closed already (by an abort).
    }
  }
  if (signal.aborted) {
    throw outerSignal.aborted
      ? outerSignal.reason
      : new Error(`${cmd.join(" ")} did not end within ${timeoutMs / 1000} s`);
  }
  // The stream ends a moment before the daemon records the exit code.
  for (let attempt = 0; attempt < 50; attempt++) {
    const inspect = await client.json(`/exec/${id}/json`) as {
      Running?: unknown;
      ExitCode?: unknown;
    };
    if (inspect.Running === false && typeof inspect.ExitCode === "number") {
      return {
        exitCode: inspect.ExitCode,
        stdout: demuxer.stdout.text(),
        stderr: demuxer.stderr.text(),
      };
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${describeDockerHost(client.host)} never reported how exec ${cmd[0]} ended`);
}

async function writeAll(conn: Deno.Conn, data: Uint8Array): Promise<void> {
  for (let at = 0; at < data.length;) at += await conn.write(data.subarray(at));
}
