/**
 * Imports a root filesystem into containerd as an OCI image, for nodes whose
 * runtime is containerd: the tarball becomes one uncompressed layer, next to
 * an image config (the same entrypoint, environment and labels the Docker
 * path sets) and a manifest; the three are written as content blobs and an
 * image record names the manifest. The kubelet finds the image under the name
 * it normalises `veryfreshpod:<version>` to, `docker.io/library/…`, in the
 * namespace the CRI plugin uses.
 *
 * Nothing in the image depends on the time of the import, so the same
 * archive gives the same manifest digest, which is what makes a second
 * install a no-op.
 */
import { imageKey, parseReference } from "../model/image_ref.ts";
import type { ContainerdWriter } from "../engine/containerd_writer.ts";
import { ROOTFS_LABEL, splitForImport } from "./image.ts";
import type { Rootfs } from "./rootfs.ts";

export const OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json";
export const OCI_CONFIG = "application/vnd.oci.image.config.v1+json";
export const OCI_LAYER = "application/vnd.oci.image.layer.v1.tar";

/** One content blob of the image, ready to write. */
export interface ImageBlob {
  readonly mediaType: string;
  readonly digest: string;
  readonly bytes: Uint8Array;
  /** Labels containerd keeps on the blob; the manifest's tell GC what it references. */
  readonly labels: Record<string, string>;
}

/** The image as blobs, the manifest last: containerd wants references written first. */
export interface OciImage {
  readonly layer: ImageBlob;
  readonly config: ImageBlob;
  readonly manifest: ImageBlob;
}

/** What goes into the config besides the root filesystem. */
export interface OciImageOptions {
  /** GOARCH-style (`amd64`, `arm64`); containerd only runs images of its own platform. */
  readonly architecture: string;
  /** Labels of the image config, as `LABEL` sets them on the Docker path. */
  readonly labels?: Record<string, string>;
}

const encoder = new TextEncoder();

async function sha256(bytes: Uint8Array<ArrayBuffer>): Promise<string> {
  const hash = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return `sha256:${Array.from(hash, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

async function jsonBlob(
  mediaType: string,
  value: unknown,
  labels: Record<string, string> = {},
): Promise<ImageBlob> {
  const bytes = encoder.encode(JSON.stringify(value));
  return { mediaType, digest: await sha256(bytes), bytes, labels };
}

function descriptor(blob: ImageBlob) {
  return { mediaType: blob.mediaType, digest: blob.digest, size: blob.bytes.length };
}

/**
 * Builds the OCI image of `rootfs`. The layer is the archive itself, so its
 * digest is also its diff ID and equals the rootfs digest the Docker path
 * records in ROOTFS_LABEL, which the config carries as well.
 */
export async function buildOciImage(rootfs: Rootfs, options: OciImageOptions): Promise<OciImage> {
  const layerDigest = rootfs.digest;
  const layer: ImageBlob = {
    mediaType: OCI_LAYER,
    digest: layerDigest,
    bytes: rootfs.tar,
    labels: {},
  };
  const config = await jsonBlob(OCI_CONFIG, {
    architecture: options.architecture,
    os: "linux",
    config: {
      Entrypoint: [rootfs.entrypoint],
      Env: rootfs.env,
      Labels: { ...options.labels, [ROOTFS_LABEL]: layerDigest },
    },
    rootfs: { type: "layers", diff_ids: [layerDigest] },
    history: [{ created_by: "veryfreshpod install" }],
  });
  const manifest = await jsonBlob(
    OCI_MANIFEST,
    {
      schemaVersion: 2,
      mediaType: OCI_MANIFEST,
      config: descriptor(config),
      layers: [descriptor(layer)],
    },
    // Without these, containerd's GC would collect the config and the layer
    // once the lease is gone: only labelled references count.
    {
      "containerd.io/gc.ref.content.config": config.digest,
      "containerd.io/gc.ref.content.l.0": layer.digest,
    },
  );
  return { layer, config, manifest };
}

/**
 * containerd's name for `reference`, as the kubelet asks the CRI plugin for
 * it: `veryfreshpod:1` is `docker.io/library/veryfreshpod:1`. A UserError for
 * a reference with a digest or bad syntax.
 */
export function containerdImageName(reference: string): string {
  splitForImport(reference);
  const key = imageKey(parseReference(reference));
  if (key === undefined) throw new Error(`${reference} has a digest`); // excluded above
  return key;
}

/** The outcome of ensureContainerdImage. */
export interface ContainerdImport {
  /** The image record's name. */
  readonly name: string;
  /** The manifest digest the record points at. */
  readonly digest: string;
  readonly imported: boolean;
}

/**
 * The CRI plugin adds this label to the images it loads (seen with containerd
 * 1.6); set from the start, the record stays as written instead of being
 * updated by the CRI plugin right after the import.
 */
const CRI_MANAGED_LABEL = "io.cri-containerd.image";

/** How long the lease of an import lasts if veryfreshpod dies before releasing it. */
const LEASE_MS = 60 * 60 * 1000;

/**
 * Makes `reference` name the image of `rootfs` in the client's namespace:
 * writes the blobs and the image record, unless the record already points at
 * the same manifest (`imported` false). The blobs are written under a lease,
 * so that garbage collection cannot take them before the record references
 * them. With `dryRun`, only says whether it would import.
 */
export async function ensureContainerdImage(
  client: ContainerdWriter,
  rootfs: Rootfs,
  reference: string,
  options: OciImageOptions & { readonly dryRun?: boolean },
): Promise<ContainerdImport> {
  const name = containerdImageName(reference);
  const image = await buildOciImage(rootfs, options);
  const result = { name, digest: image.manifest.digest };
  const existing = await client.getImage(name);
  if (existing?.target?.digest === image.manifest.digest) return { ...result, imported: false };
  if (options.dryRun) return { ...result, imported: true };
  const lease = await client.createLease(new Date(Date.now() + LEASE_MS));
  try {
    for (const blob of [image.layer, image.config, image.manifest]) {
      await client.writeContent(
        { digest: blob.digest, data: blob.bytes, labels: blob.labels },
        lease,
      );
    }
    await client.putImage({
      name,
      labels: { [ROOTFS_LABEL]: image.layer.digest, [CRI_MANAGED_LABEL]: "managed" },
      target: descriptor(image.manifest),
    });
  } finally {
    // A lease left behind only delays GC until it expires; it must not hide the real error.
    await client.deleteLease(lease).catch(() => {});
  }
  return { ...result, imported: true };
}
