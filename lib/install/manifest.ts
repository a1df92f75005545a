/**
 * The install manifest: manifest/deployment.yaml, embedded in the program with
 * a text import (so the compiled binary carries it), rendered for one cluster
 * by filling in the image, the engine's socket and the namespace. Rendering
 * edits the parsed objects rather than the text, so the file stays plain YAML
 * that `kubectl apply -f` takes as it is.
 */
import "../util/quiet_deprecations.ts";
import {
  dumpYaml,
  type KubernetesObject,
  loadAllYaml,
  type V1ClusterRoleBinding,
  type V1Container,
  type V1Deployment,
  type V1PodSpec,
} from "@kubernetes/client-node";
import manifestText from "../../manifest/deployment.yaml" with { type: "text" };
import { ExitCode, UserError } from "../util/errors.ts";
import { InvalidReferenceError, parseReference } from "../model/image_ref.ts";
import { VERSION } from "../util/version.ts";
import { DEFAULT_SOCKET, type Runtime } from "../engine/sockets.ts";

/** The labels every installed object carries; uninstall selects on them. */
export const INSTALL_LABELS = {
  "app.kubernetes.io/name": "veryfreshpod",
  "app.kubernetes.io/managed-by": "veryfreshpod",
} as const;

/** `app.kubernetes.io/name=veryfreshpod,app.kubernetes.io/managed-by=veryfreshpod`. */
export const INSTALL_SELECTOR = Object.entries(INSTALL_LABELS).map(([k, v]) => `${k}=${v}`).join(
  ",",
);

export const DEFAULT_NAMESPACE = "veryfreshpod";
/** The tag `veryfreshpod install` gives the image it builds from its own executable. */
export const DEFAULT_IMAGE = `veryfreshpod:${VERSION}`;

/**
 * The socket inside the container: the runtime's default, whatever the host's
 * is, so that the command line does not depend on the host.
 */
const CONTAINER_SOCKET = DEFAULT_SOCKET;

/** What makes one cluster's manifest. */
export interface ManifestOptions {
  readonly image: string;
  readonly pullPolicy: "Never" | "IfNotPresent" | "Always";
  readonly namespace: string;
  readonly runtime: Runtime;
  /** The engine's socket on the node. */
  readonly socket: string;
  /**
   * With the containerd runtime, a Docker Engine socket on the node: then the
   * pod watches Docker and copies its builds into the node's containerd (the
   * bridge), with both sockets mounted.
   */
  readonly dockerSocket?: string | undefined;
  /**
   * The digest of the root filesystem the image was built from, when install
   * built it: recorded on the pod template, so that a rebuilt image under the
   * same tag rolls the pod.
   */
  readonly rootfsDigest?: string;
}

/** `--docker-socket none`: no Docker socket, only the runtime's. */
export const NO_DOCKER_SOCKET = "none";

/** The pod-template annotation that holds `rootfsDigest`. */
export const ROOTFS_ANNOTATION = "veryfreshpod.io/rootfs-sha256";

/** The options that reproduce manifest/deployment.yaml unchanged. */
export const DEFAULT_MANIFEST_OPTIONS: ManifestOptions = {
  image: DEFAULT_IMAGE,
  pullPolicy: "Never",
  namespace: DEFAULT_NAMESPACE,
  runtime: "docker",
  socket: DEFAULT_SOCKET.docker,
};

const NAMESPACE_RE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** Throws a UserError naming the fix when an option cannot make a valid manifest. */
export function validateManifestOptions(options: ManifestOptions): void {
  if (options.namespace.length > 63 || !NAMESPACE_RE.test(options.namespace)) {
    throw new UserError(
      `Invalid --namespace "${options.namespace}": a namespace is at most 63 lower-case ` +
        "letters, digits and '-', starting and ending with a letter or digit",
      ExitCode.usage,
    );
  }
  try {
    parseReference(options.image);
  } catch (error) {
    if (!(error instanceof InvalidReferenceError)) throw error;
    throw new UserError(
      `Invalid --image "${options.image}": ${error.reason}; pass a reference like ` +
        "registry.local/veryfreshpod:1.0",
      ExitCode.usage,
    );
  }
  if (!options.socket.startsWith("/")) {
    throw new UserError(
      `Invalid engine socket "${options.socket}": give the absolute path of the socket on the node`,
      ExitCode.usage,
    );
  }
  if (options.dockerSocket === undefined) return;
  if (options.runtime !== "containerd") {
    throw new UserError(
      `--docker-socket ${options.dockerSocket} is for a containerd node (its Docker builds are ` +
        "copied into the node's containerd); on a Docker node --socket names Docker's socket",
      ExitCode.usage,
    );
  }
  if (!options.dockerSocket.startsWith("/")) {
    throw new UserError(
      `Invalid --docker-socket "${options.dockerSocket}": give the absolute path of the ` +
        "Docker Engine socket on the node, or none",
      ExitCode.usage,
    );
  }
}

/** Parses manifest YAML; a document that does not parse is a UserError naming where. */
export function parseManifest(
  text: string,
  source = "manifest/deployment.yaml",
): KubernetesObject[] {
  let documents: unknown[];
  try {
    documents = loadAllYaml(text);
  } catch (error) {
    const first = error instanceof Error ? (error.message.split("\n")[0] ?? "") : String(error);
    throw new UserError(
      `The manifest ${source} is not valid YAML (${first}); fix the file`,
      ExitCode.usage,
      { cause: error },
    );
  }
  const objects = documents.filter((doc) => doc !== null && doc !== undefined);
  for (const object of objects) {
    const record = object as Partial<KubernetesObject>;
    if (
      typeof object !== "object" || typeof record.apiVersion !== "string" ||
      typeof record.kind !== "string" || typeof record.metadata?.name !== "string"
    ) {
      throw new UserError(
        `The manifest ${source} holds a document without apiVersion, kind and metadata.name; ` +
          "fix the file",
        ExitCode.usage,
      );
    }
  }
  return objects as KubernetesObject[];
}

/** The container's command line for a runtime; run excludes its own namespace by default. */
function containerArgs(options: ManifestOptions): string[] {
  const args = ["run", "--health-addr=:8081"];
  if (options.runtime === "docker") args.push(`--docker-host=unix://${CONTAINER_SOCKET.docker}`);
  else if (options.dockerSocket === undefined) {
    args.push(`--runtime=containerd`, `--containerd-socket=${CONTAINER_SOCKET.containerd}`);
  } else {
    // Watch Docker, copy its builds into the node's containerd. The role cannot read
    // nodes, so the bridge is told where the node's containerd is instead of detecting it.
    args.push(
      `--docker-host=unix://${CONTAINER_SOCKET.docker}`,
      `--containerd-socket=${CONTAINER_SOCKET.containerd}`,
      "--bridge=always",
    );
  }
  if (options.namespace !== DEFAULT_NAMESPACE) {
    args.push(`--exclude-namespace=${options.namespace}`);
  }
  return args;
}

/** The manifest's objects for one cluster. */
export function renderObjects(
  options: ManifestOptions = DEFAULT_MANIFEST_OPTIONS,
  text: string = manifestText,
): KubernetesObject[] {
  validateManifestOptions(options);
  const objects = parseManifest(text);
  for (const object of objects) {
    const metadata = object.metadata!;
    if (object.kind === "Namespace") metadata.name = options.namespace;
    // The registry Role stays where the cluster announces its registry (kube-public).
    else if (metadata.namespace === DEFAULT_NAMESPACE) metadata.namespace = options.namespace;
    if (object.kind === "ClusterRoleBinding" || object.kind === "RoleBinding") {
      for (const subject of (object as V1ClusterRoleBinding).subjects ?? []) {
        if (subject.kind === "ServiceAccount") subject.namespace = options.namespace;
      }
    }
    if (object.kind === "Deployment") renderDeployment(object as V1Deployment, options);
  }
  return objects;
}

function renderDeployment(deployment: V1Deployment, options: ManifestOptions): void {
  const pod = deployment.spec?.template.spec;
  const container = pod?.containers.find((c) => c.name === "veryfreshpod");
  const volume = pod?.volumes?.find((v) => v.name === "engine-socket");
  const mount = container?.volumeMounts?.find((m) => m.name === "engine-socket");
  if (!container || !volume?.hostPath || !mount) {
    throw new UserError(
      'The manifest\'s Deployment lacks the container "veryfreshpod" with the volume ' +
        '"engine-socket"; restore manifest/deployment.yaml',
      ExitCode.usage,
    );
  }
  container.image = options.image;
  container.imagePullPolicy = options.pullPolicy;
  container.args = containerArgs(options);
  volume.hostPath.path = options.socket;
  mount.mountPath = CONTAINER_SOCKET[options.runtime];
  if (options.runtime === "containerd" && options.dockerSocket !== undefined) {
    addDockerSocket(pod!, container, options.dockerSocket);
  }
  if (options.rootfsDigest !== undefined) {
    const template = deployment.spec!.template;
    template.metadata ??= {};
    template.metadata.annotations = {
      ...template.metadata.annotations,
      [ROOTFS_ANNOTATION]: options.rootfsDigest,
    };
  }
}

/** The size limit of /tmp when the bridge stages image archives there. */
export const BRIDGE_TMP_LIMIT = "8Gi";

/**
 * The Docker Engine socket beside the node's containerd: mounted (type
 * Socket: never created where it is missing) where `run` looks by default;
 * the node's name for the bridge's lines; room in /tmp for the archive of
 * the image being copied (`docker save` is staged there).
 */
function addDockerSocket(pod: V1PodSpec, container: V1Container, path: string): void {
  pod.volumes!.push({ name: "docker-socket", hostPath: { path, type: "Socket" } });
  container.volumeMounts!.push({ name: "docker-socket", mountPath: CONTAINER_SOCKET.docker });
  container.env = [
    ...container.env ?? [],
    { name: "NODE_NAME", valueFrom: { fieldRef: { fieldPath: "spec.nodeName" } } },
  ];
  const tmp = pod.volumes!.find((v) => v.name === "tmp");
  if (tmp?.emptyDir) tmp.emptyDir.sizeLimit = BRIDGE_TMP_LIMIT;
}

/** The manifest for one cluster as YAML, documents separated by `---`. */
export function renderManifest(options: ManifestOptions = DEFAULT_MANIFEST_OPTIONS): string {
  return renderObjects(options).map((object) => dumpYaml(object).trimEnd()).join("\n---\n") +
    "\n";
}
