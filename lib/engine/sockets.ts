/**
 * The container runtimes veryfreshpod watches, where their sockets are by
 * default, and which containerd namespace Kubernetes uses: one place for
 * every module, flag and message that names them.
 */

/** The container runtimes whose engine veryfreshpod can watch. */
export const RUNTIMES = ["docker", "containerd"] as const;
export type Runtime = typeof RUNTIMES[number];

/** Docker's socket (Linux; macOS's Docker Desktop links it when allowed to). */
export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";
/** containerd's socket: a plain containerd host, minikube and kind nodes. */
export const DEFAULT_CONTAINERD_SOCKET = "/run/containerd/containerd.sock";
/** k3s runs its own containerd here. */
export const K3S_CONTAINERD_SOCKET = "/run/k3s/containerd/containerd.sock";

/** Each runtime's socket on a node when nothing else is known. */
export const DEFAULT_SOCKET: Readonly<Record<Runtime, string>> = {
  docker: DEFAULT_DOCKER_SOCKET,
  containerd: DEFAULT_CONTAINERD_SOCKET,
};

/** Kubernetes' CRI keeps its images here; Docker's own containerd store uses `moby`. */
export const DEFAULT_CONTAINERD_NAMESPACE = "k8s.io";
