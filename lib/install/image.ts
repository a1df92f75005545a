/**
 * Imports a root filesystem into the Docker Engine as an image, the way
 * `docker import` does: `POST /images/create?fromSrc=-` with the tarball as
 * the body and `changes` setting the entrypoint. The image never leaves the
 * node, which is why the manifest uses it with `imagePullPolicy: Never`.
 */
import { ExitCode, UserError } from "../util/errors.ts";
import { InvalidReferenceError, parseReference } from "../model/image_ref.ts";
import {
  describeDockerHost,
  type DockerClient,
  MAX_BODY_BYTES,
  readBody,
  responseError,
} from "../engine/docker_client.ts";
import type { Rootfs } from "./rootfs.ts";

/** `repo` and `tag` of a reference to import as; digests cannot be given to an import. */
export function splitForImport(reference: string): { repo: string; tag: string } {
  let tag: string | undefined;
  try {
    const parsed = parseReference(reference);
    if (parsed.digest !== undefined) throw new InvalidReferenceError(reference, "has a digest");
    tag = parsed.tag;
  } catch (error) {
    if (!(error instanceof InvalidReferenceError)) throw error;
    throw new UserError(
      `Cannot name the image "${reference}": ${error.reason}; use a name:tag reference`,
      ExitCode.usage,
    );
  }
  const repo = tag === undefined ? reference : reference.slice(0, -(tag.length + 1));
  return { repo, tag: tag ?? "latest" };
}

/** The Dockerfile-style instructions the import applies (`changes`). */
export function importChanges(rootfs: Rootfs, labels: Record<string, string> = {}): string[] {
  return [
    `ENTRYPOINT ${JSON.stringify([rootfs.entrypoint])}`,
    ...rootfs.env.map((setting) => `ENV ${setting}`),
    ...Object.entries(labels).map(([key, value]) =>
      `LABEL ${JSON.stringify(key)}=${JSON.stringify(value)}`
    ),
  ];
}

/** The label that records which root filesystem an image was imported from. */
export const ROOTFS_LABEL = "veryfreshpod.io/rootfs-sha256";

/** The image `reference` names, or undefined when the daemon has none by that name. */
export async function inspectImage(
  client: DockerClient,
  reference: string,
): Promise<{ id: string; labels: Record<string, string> } | undefined> {
  const path = `/images/${encodeURIComponent(reference)}/json`;
  const response = await client.request("GET", path, { signal: AbortSignal.timeout(30_000) });
  if (response.status === 404) {
    await response.body?.cancel();
    return undefined;
  }
  if (!response.ok) throw await responseError(client.host, "GET", path, response);
  const body = await client.readJson(response, "GET", path) as {
    Id?: unknown;
    Config?: { Labels?: unknown };
  };
  if (typeof body.Id !== "string") return undefined;
  const labels = body.Config?.Labels;
  return {
    id: body.Id,
    labels: typeof labels === "object" && labels !== null ? labels as Record<string, string> : {},
  };
}

/**
 * Makes `reference` name an image of `rootfs`: imports it unless the image
 * already there came from the same archive (so installing twice leaves no
 * dangling image behind). Resolves to the image ID and whether it imported.
 */
export async function ensureImage(
  client: DockerClient,
  rootfs: Rootfs,
  reference: string,
  labels: Record<string, string> = {},
): Promise<{ id: string; imported: boolean }> {
  const digest = rootfs.digest;
  const existing = await inspectImage(client, reference);
  if (existing !== undefined && existing.labels[ROOTFS_LABEL] === digest) {
    return { id: existing.id, imported: false };
  }
  const id = await importImage(client, rootfs, reference, { ...labels, [ROOTFS_LABEL]: digest });
  return { id, imported: true };
}

/**
 * Imports `rootfs` as `reference`; resolves to the image ID. The daemon
 * answers 200 and then reports failures inside its progress stream, so the
 * stream is read to the end and an `error` line becomes a UserError.
 */
export async function importImage(
  client: DockerClient,
  rootfs: Rootfs,
  reference: string,
  labels: Record<string, string> = {},
): Promise<string> {
  const { repo, tag } = splitForImport(reference);
  const query = new URLSearchParams({ fromSrc: "-", repo, tag });
  for (const change of importChanges(rootfs, labels)) query.append("changes", change);
  const path = `/images/create?${query}`;
  const response = await client.request("POST", path, {
    body: rootfs.tar,
    headers: { "content-type": "application/x-tar" },
    signal: AbortSignal.timeout(300_000),
  });
  if (!response.ok) throw await responseError(client.host, "POST", "/images/create", response);
  // The progress lines of an import: a few, well under the cap.
  const text = new TextDecoder().decode((await readBody(response, MAX_BODY_BYTES)).bytes);
  for (const line of text.split(/\r?\n/)) {
    if (line.trim() === "") continue;
    let message: { error?: unknown; errorDetail?: { message?: unknown } };
    try {
      message = JSON.parse(line);
    } catch {
      continue;
    }
    const error = message.errorDetail?.message ?? message.error;
    if (typeof error === "string" && error !== "") {
      throw new UserError(
        `${describeDockerHost(client.host)} could not import the image ${reference}: ${error}`,
        ExitCode.engine,
      );
    }
  }
  const imported = await inspectImage(client, reference);
  if (imported === undefined) {
    throw new UserError(
      `${describeDockerHost(client.host)} imported ${reference} but does not show it; ` +
        "check the daemon's log",
      ExitCode.engine,
    );
  }
  return imported.id;
}
