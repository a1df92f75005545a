/**
 * Whether `run` bridges, and how it reaches each node: the nodes' runtime
 * comes from their status (as `install` reads it); nodes that run containerd
 * are fed through a node container in Docker when one carries the node's
 * name and a kind or minikube label, else through a containerd socket on this
 * host: `--containerd-socket`, or, for the node named like this host, the
 * socket its runtime uses (k3s's or the default) when it exists. A socket is
 * never guessed for a node that is another machine.
 */
import type { DockerClient } from "../engine/docker_client.ts";
import { type NodeObject, nodeRuntime } from "../install/runtime.ts";
import { ContainerFeed, KIND_CLUSTER_LABEL, MINIKUBE_PROFILE_LABEL } from "./container_feed.ts";
import type { NodeFeed } from "./feed.ts";
import { hostPlatform, type Platform } from "./image_graph.ts";

/** A running container as `GET /containers/json` lists it. */
export interface ContainerSummary {
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
}

/** Where each containerd node's images go. */
export interface NodeRoute {
  readonly node: string;
  /** The node's platform, for the manifest of a multi-platform image it gets. */
  readonly platform: Platform;
  readonly route:
    | { readonly kind: "container"; readonly container: string; readonly what: string }
    | { readonly kind: "socket"; readonly socket: string }
    | { readonly kind: "none"; readonly why: string };
}

/** What detection needs from the machine; injectable for tests. */
export interface DetectInput {
  readonly nodes: readonly NodeObject[];
  readonly containers: readonly ContainerSummary[];
  /** `--containerd-socket`, when given. */
  readonly socket: string | undefined;
  /** This machine's host name. */
  readonly hostname: string;
  readonly exists: (path: string) => boolean;
}

/**
 * The route of every node that runs containerd; empty when none does (Docker
 * nodes: nothing to bridge). Nodes with a runtime veryfreshpod does not know
 * are left out.
 */
export function routeNodes(input: DetectInput): NodeRoute[] {
  const routes: NodeRoute[] = [];
  const shortHost = input.hostname.split(".")[0]!.toLowerCase();
  for (const node of input.nodes) {
    let runtime;
    try {
      runtime = nodeRuntime(node);
    } catch {
      continue;
    }
    if (runtime.runtime !== "containerd") continue;
    const platform = runtime.architecture === undefined
      ? hostPlatform()
      : { os: "linux", architecture: runtime.architecture };
    const container = input.containers.find((candidate) => candidate.name === runtime.node);
    const kind = container?.labels[KIND_CLUSTER_LABEL];
    const minikube = container?.labels[MINIKUBE_PROFILE_LABEL];
    if (container !== undefined && (kind !== undefined || minikube !== undefined)) {
      const what = kind !== undefined ? `kind cluster "${kind}"` : `minikube profile "${minikube}"`;
      routes.push({
        node: runtime.node,
        platform,
        route: { kind: "container", container: container.name, what },
      });
      continue;
    }
    if (input.socket !== undefined) {
      routes.push({
        node: runtime.node,
        platform,
        route: { kind: "socket", socket: input.socket },
      });
      continue;
    }
    const local = runtime.node.split(".")[0]!.toLowerCase() === shortHost;
    if (local && input.exists(runtime.socket)) {
      routes.push({
        node: runtime.node,
        platform,
        route: { kind: "socket", socket: runtime.socket },
      });
      continue;
    }
    const why = local
      ? `its containerd socket ${runtime.socket} is not on this machine`
      : "it is neither this machine nor a kind or minikube node container in this Docker";
    routes.push({ node: runtime.node, platform, route: { kind: "none", why } });
  }
  return routes;
}

/** The running containers of the Docker daemon, by name and labels. */
export async function listContainers(client: DockerClient): Promise<ContainerSummary[]> {
  const list = await client.json("/containers/json");
  if (!Array.isArray(list)) return [];
  return list.flatMap((item) => {
    const names = Array.isArray(item?.Names) ? item.Names : [];
    const labels = typeof item?.Labels === "object" && item.Labels !== null ? item.Labels : {};
    return names.filter((name: unknown) => typeof name === "string")
      .map((name: string) => ({ name: name.replace(/^\//, ""), labels }));
  });
}

/**
 * The feeds for the routes: one per node container, one per socket (shared
 * by the nodes behind it). `socketFeed` makes a socket feed (it opens a
 * containerd connection).
 */
export function feedsOf(
  routes: readonly NodeRoute[],
  docker: DockerClient,
  socketFeed: (nodes: string[], socket: string, platform: Platform) => NodeFeed,
): NodeFeed[] {
  const feeds: NodeFeed[] = [];
  const bySocket = new Map<string, { nodes: string[]; platform: Platform }>();
  for (const { node, platform, route } of routes) {
    if (route.kind === "container") {
      feeds.push(new ContainerFeed(node, route.container, route.what, docker, platform));
    } else if (route.kind === "socket") {
      // The nodes behind one socket are one machine: one platform.
      const feed = bySocket.get(route.socket) ?? { nodes: [], platform };
      feed.nodes.push(node);
      bySocket.set(route.socket, feed);
    }
  }
  for (const [socket, { nodes, platform }] of bySocket) {
    feeds.push(socketFeed(nodes, socket, platform));
  }
  return feeds;
}
