/**
 * What listens at a Docker host that answered an HTTP/1.1 request in another
 * protocol. The usual case is containerd's gRPC socket passed as
 * `--docker-host`: a gRPC server (HTTP/2) sends its SETTINGS frame as soon as
 * a connection opens, before the client says anything, and Deno's HTTP/1.1
 * client then reports "invalid HTTP version parsed" or "received unexpected
 * message from connection". Reading the first bytes ourselves tells which.
 */
import type { DockerHost } from "./docker_host.ts";

/** What the probe found: an HTTP/2 (gRPC) server, or nothing it recognised. */
export type Listener = "http2" | "unknown";

// HTTP/2 frame header (RFC 9113, 4.1): length (3 bytes), type, flags, stream (4 bytes).
const FRAME_HEADER_BYTES = 9;
const SETTINGS_FRAME = 0x04;

/** True when `bytes` start with an HTTP/2 SETTINGS frame on stream 0 (a server's preface). */
export function isHttp2Preface(bytes: Uint8Array): boolean {
  if (bytes.length < FRAME_HEADER_BYTES || bytes[3] !== SETTINGS_FRAME) return false;
  const length = (bytes[0]! << 16) | (bytes[1]! << 8) | bytes[2]!;
  const stream = ((bytes[5]! & 0x7f) << 24) | (bytes[6]! << 16) | (bytes[7]! << 8) | bytes[8]!;
  // Each setting is 6 bytes; a server's first SETTINGS is never an acknowledgement (flag 1).
  return length % 6 === 0 && stream === 0 && (bytes[4]! & 0x01) === 0;
}

/**
 * Connects to `host` (not over TLS: a TLS port answers in TLS, which Deno's
 * client already names) and reads what the server says first, within
 * `timeoutMs`. Any failure is "unknown": the probe only improves a message.
 */
export async function probeListener(host: DockerHost, timeoutMs = 1_000): Promise<Listener> {
  if (host.transport === "tcp" && host.tls !== undefined) return "unknown";
  const connecting = host.transport === "unix"
    ? Deno.connect({ transport: "unix", path: host.path })
    : Deno.connect({ hostname: host.hostname, port: host.port });
  let timedOut = false;
  // A connection that opens after the deadline is closed unread.
  connecting.then((late) => timedOut && late.close(), () => {});
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => {
      timedOut = true;
      resolve("timeout");
    }, timeoutMs);
  });
  let connection: Deno.Conn | undefined;
  try {
    const opened = await Promise.race([connecting, deadline]);
    if (opened === "timeout") return "unknown";
    connection = opened;
    const bytes = new Uint8Array(FRAME_HEADER_BYTES);
    let filled = 0;
    while (filled < bytes.length) {
      const read = await Promise.race([connection.read(bytes.subarray(filled)), deadline]);
      if (read === null || read === "timeout") break;
      filled += read;
    }
    return isHttp2Preface(bytes.subarray(0, filled)) ? "http2" : "unknown";
  } catch {
    return "unknown";
  } finally {
    clearTimeout(timer);
    connection?.close();
  }
}
