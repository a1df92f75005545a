/**
 * `run`'s side of the bridge: decides at start whether to bridge
 * (`--bridge=auto|always|off`), says in its first lines which node it feeds and how,
 * and keeps the images workloads use on the nodes while it runs.
 */
import { sleep } from "../util/backoff.ts";
import { errorMessage } from "../util/errors.ts";
import { apiStatus } from "../kube/api_errors.ts";
import type { KubeClient } from "../kube/rest.ts";
import { listNodes, type NodeObject } from "../install/runtime.ts";
import { logger } from "../util/log.ts";
import type { DockerEngine } from "../engine/docker.ts";
import type { ContainerdWriter } from "../engine/containerd_writer.ts";
import { DEFAULT_CONTAINERD_NAMESPACE, DEFAULT_CONTAINERD_SOCKET } from "../engine/sockets.ts";
import type { WorkloadIndex } from "../kube/workload_index.ts";
import type { TrackedWorkload } from "../model/workload.ts";
import type { PlanOptions } from "../decision/plan.ts";
import { ImageBridge, imagesInUse } from "./bridge.ts";
import { feedsOf, listContainers, type NodeRoute, routeNodes } from "./detect.ts";
import type { NodeFeed } from "./feed.ts";
import { hostPlatform, type Platform } from "./image_graph.ts";
import { exists } from "../util/exists.ts";

const log = logger("bridge");

export const BRIDGE_MODES = ["auto", "always", "off"] as const;
export type BridgeMode = typeof BRIDGE_MODES[number];

/** What startBridge needs. */
export interface BridgeSetup {
  readonly kube: KubeClient;
  readonly engine: DockerEngine;
  /** `--containerd-socket`, when given. */
  readonly socket: string | undefined;
  readonly hostname: string;
  readonly exists?: (path: string) => boolean;
  /**
   * `--bridge=always`: feed the containerd at `socket` (the node this runs on,
   * named `node`) without reading the nodes, which the installed pod's role
   * may not.
   */
  readonly always?: { readonly node: string } | undefined;
  /** The cluster's registry, when one is used: it reaches the nodes the bridge cannot. */
  readonly registry?: string | undefined;
}

/**
 * The bridge for this cluster, or undefined when no node runs containerd
 * (or the nodes cannot be read). Logs one line per node it feeds, or cannot.
 * Throws a UserError when a containerd socket it should use does not answer.
 */
export async function startBridge(setup: BridgeSetup): Promise<ImageBridge | undefined> {
  if (setup.always !== undefined) {
    const socket = setup.socket ?? DEFAULT_CONTAINERD_SOCKET;
    // The installed pod runs on that node: its platform is this machine's.
    const route = { kind: "socket" as const, socket };
    return await bridgeTo(setup, [{ node: setup.always.node, platform: hostPlatform(), route }]);
  }
  let nodes: NodeObject[];
  try {
    nodes = await listNodes(setup.kube);
  } catch (error) {
    // The in-cluster role has no access to nodes: there the engine is the node's own.
    if (apiStatus(error) === 403) {
      log.debug("Not allowed to list nodes: images are not copied to nodes");
      return undefined;
    }
    log.warn(
      "Cannot list the nodes to see whether they run containerd ({error}); images are not " +
        "copied to nodes (--bridge=off silences this)",
      { error: errorMessage(error).split("\n")[0] },
    );
    return undefined;
  }
  const routes = routeNodes({
    nodes,
    containers: await listContainers(setup.engine.client),
    socket: setup.socket,
    hostname: setup.hostname,
    exists: setup.exists ?? exists,
  });
  return await bridgeTo(setup, routes);
}

/** The bridge along `routes`, or undefined when there are none; logs one line per node. */
async function bridgeTo(
  setup: BridgeSetup,
  routes: readonly NodeRoute[],
): Promise<ImageBridge | undefined> {
  const docker = setup.engine.client;
  if (routes.length === 0) return undefined;
  // gRPC is loaded only when a node is fed through a socket (it costs ~30 MiB resident).
  const modules = routes.some(({ route }) => route.kind === "socket")
    ? await Promise.all([import("../engine/containerd_writer.ts"), import("./socket_feed.ts")])
    : undefined;
  const sockets: ContainerdWriter[] = [];
  const socketFeed = (feedNodes: string[], socket: string, platform: Platform): NodeFeed => {
    const [writers, feeds] = modules!;
    const writer = new writers.ContainerdWriter(socket, DEFAULT_CONTAINERD_NAMESPACE);
    sockets.push(writer);
    return new feeds.SocketFeed(feedNodes, docker, writer, platform);
  };
  const feeds = feedsOf(routes, docker, socketFeed);
  try {
    // Fail fast, in one line, when a socket it should write to does not answer.
    for (const writer of sockets) await writer.version();
  } catch (error) {
    for (const feed of feeds) feed.close();
    throw error;
  }
  for (const feed of feeds) {
    log.info("Bridging: images built in {engine} go to node {node} {how}", {
      engine: setup.engine.description,
      node: feed.nodes.join(", "),
      how: feed.how,
    });
  }
  for (const { node, route } of routes) {
    if (route.kind !== "none") continue;
    if (setup.registry !== undefined) {
      // Not a fault: the registry is the way there for workloads that pull from it.
      log.info(
        "Node {node} runs containerd that veryfreshpod cannot reach ({why}); builds reach it " +
          "through the cluster's registry {registry}, for workloads that pull from there",
        { node, why: route.why, registry: setup.registry },
      );
      continue;
    }
    log.warn(
      "Node {node} runs containerd, but veryfreshpod cannot reach it ({why}); images built in " +
        "Docker are not copied there: pass --containerd-socket PATH, or --bridge=off",
      { node, why: route.why },
    );
  }
  // Docker's classic store names images by their config digest: nothing to ask the nodes.
  const idsMayNotBeConfigs = () => setup.engine.containerdStore();
  return feeds.length === 0 ? undefined : new ImageBridge(feeds, { idsMayNotBeConfigs });
}

/**
 * Every `periodMs`, copies to the nodes the images tracked workloads use that
 * Docker has and a node lacks (the first `kubectl apply` after a build), until
 * `signal` aborts.
 */
export async function keepImagesInUse(
  bridge: ImageBridge,
  index: WorkloadIndex,
  engine: DockerEngine,
  scope: Pick<PlanOptions, "namespaces" | "excludeNamespaces">,
  periodMs: number,
  signal: AbortSignal,
): Promise<void> {
  // Only workloads veryfreshpod may update: never kube-system's images, which the node pulled.
  const inScope = (workload: TrackedWorkload) =>
    !scope.excludeNamespaces.includes(workload.key.namespace) &&
    (scope.namespaces.length === 0 || scope.namespaces.includes(workload.key.namespace));
  while (!signal.aborted) {
    try {
      const workloads = [...index.values()].filter(inScope);
      if (workloads.length > 0) {
        await bridge.sweep(imagesInUse(workloads, await engine.snapshot()), signal);
      }
    } catch (error) {
      log.debug("Cannot read the images to keep on the nodes: {error}", {
        error: errorMessage(error),
      });
    }
    await sleep(periodMs, signal);
  }
}
