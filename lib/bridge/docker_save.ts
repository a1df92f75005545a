/**
 * `docker save` of one image through the Engine API (`GET /images/{name}/get`):
 * a tar stream in the layout of the daemon's version (see docker_archive.ts).
 */
import {
  compareApiVersions,
  describeDockerHost,
  type DockerClient,
  responseError,
} from "../engine/docker_client.ts";
import type { Platform } from "./image_graph.ts";

/** How long saving one image may take. */
const SAVE_TIMEOUT_MS = 600_000;

/** The API version from which a save can be of one platform (Docker 28). */
export const SAVE_PLATFORM_API_VERSION = "1.48";

/**
 * The archive of image `name` as a stream; a UserError when the daemon
 * refuses. With `platform`, a daemon that can (API 1.48+) saves only that
 * platform of a multi-platform image: the others' blobs may be absent from
 * its containerd store, and the node has no use for them.
 */
export async function saveImageStream(
  client: DockerClient,
  name: string,
  signal: AbortSignal,
  platform?: Platform,
): Promise<ReadableStream<Uint8Array>> {
  let path = `/images/${encodeURIComponent(name)}/get`;
  if (client.apiVersion === undefined) await client.negotiate();
  const onePlatform = platform !== undefined &&
    compareApiVersions(client.apiVersion ?? "0.0", SAVE_PLATFORM_API_VERSION) >= 0;
  if (onePlatform) {
    const { os, architecture } = platform;
    path += `?platform=${encodeURIComponent(JSON.stringify({ os, architecture }))}`;
  }
  const response = await client.request("GET", path, {
    signal: AbortSignal.any([signal, AbortSignal.timeout(SAVE_TIMEOUT_MS)]),
  });
  if (!response.ok) throw await responseError(client.host, "GET", path, response);
  if (response.body === null) {
    throw new Error(`${describeDockerHost(client.host)} sent no archive for ${name}`);
  }
  return response.body;
}

/** Saves image `name` into the file `path`. */
export async function saveImageToFile(
  client: DockerClient,
  name: string,
  path: string,
  signal: AbortSignal,
): Promise<void> {
  const stream = await saveImageStream(client, name, signal);
  const file = await Deno.open(path, { write: true, create: true, truncate: true });
  await stream.pipeTo(file.writable);
}

/**
 * Docker's own words when a save failed after it had started answering: it
 * then appends `{"errorDetail":{"message":…},"error":…}` to the tar it had
 * sent so far. `trailing` is what came where the tar should have gone on.
 */
export function dockerSaveFailure(trailing: Uint8Array): string | undefined {
  const text = new TextDecoder().decode(trailing);
  const start = text.search(/\{\s*"(errorDetail|error)"/);
  if (start < 0) return undefined;
  for (const line of text.slice(start).split("\n")) {
    try {
      const body = JSON.parse(line.replace(/\0+$/, "")) as {
        errorDetail?: { message?: unknown };
        error?: unknown;
      };
      const message = body.errorDetail?.message ?? body.error;
      if (typeof message === "string" && message !== "") return message;
    } catch {
      // Not the error line.
    }
  }
  return undefined;
}
