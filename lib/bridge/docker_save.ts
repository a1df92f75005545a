/**
 * `docker save` of one image through the Engine API (`GET /images/{name}/get`):
 * a tar stream in the layout of the daemon's version (see docker_archive.ts).
 */
import { describeDockerHost, type DockerClient, responseError } from "../engine/docker_client.ts";

/** How long saving one image may take. */
const SAVE_TIMEOUT_MS = 600_000;

/** The archive of image `name` as a stream; a UserError when the daemon refuses. */
export async function saveImageStream(
  client: DockerClient,
  name: string,
  signal: AbortSignal,
): Promise<ReadableStream<Uint8Array>> {
  const path = `/images/${encodeURIComponent(name)}/get`;
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
