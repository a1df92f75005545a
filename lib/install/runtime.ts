/**
 * Which container runtime the cluster's node runs, read from the Node status
 * (`status.nodeInfo.containerRuntimeVersion` is `docker://24.0.7` or
 * `containerd://1.7.11`), and so which engine socket veryfreshpod's pod must
 * mount. veryfreshpod is for single-node dev clusters; with several nodes,
 * they must agree.
 */
import { ExitCode, UserError } from "../util/errors.ts";
import type { KubeClient } from "../kube/rest.ts";
import { apiStatus, explainKubeError } from "../kube/api_errors.ts";
import {
  DEFAULT_SOCKET,
  K3S_CONTAINERD_SOCKET,
  type Runtime,
  RUNTIMES,
} from "../engine/sockets.ts";

/** The parts of a Node object read here. */
export interface NodeObject {
  readonly metadata?: { readonly name?: string | undefined } | undefined;
  readonly status?: {
    readonly nodeInfo?: {
      readonly containerRuntimeVersion?: string | undefined;
      readonly kubeletVersion?: string | undefined;
      readonly architecture?: string | undefined;
    } | undefined;
  } | undefined;
}

/** What the node runs. */
export interface NodeRuntime {
  readonly runtime: Runtime;
  /** The engine's socket on the node. */
  readonly socket: string;
  /** `docker://24.0.7`, for messages. */
  readonly version: string;
  /** The node's name (the first, when there are several). */
  readonly node: string;
  /** `amd64`, `arm64`: the node's architecture. */
  readonly architecture: string | undefined;
  /** How many nodes the cluster has. */
  readonly nodeCount: number;
}

/** The runtime of one node, or a UserError for one veryfreshpod cannot watch. */
export function nodeRuntime(node: NodeObject): Omit<NodeRuntime, "nodeCount"> {
  const name = node.metadata?.name ?? "(unnamed)";
  const version = node.status?.nodeInfo?.containerRuntimeVersion ?? "";
  const scheme = version.includes("://") ? version.slice(0, version.indexOf("://")) : "";
  if (!(RUNTIMES as readonly string[]).includes(scheme)) {
    throw new UserError(
      `Node "${name}" runs the container runtime "${version || "(none reported)"}", which ` +
        `veryfreshpod cannot watch (it supports ${RUNTIMES.join(" and ")}); pass --runtime ` +
        "and --socket if the node has one of those",
      ExitCode.usage,
    );
  }
  const runtime = scheme as Runtime;
  const k3s = /\+k3s/.test(node.status?.nodeInfo?.kubeletVersion ?? "");
  const socket = runtime === "containerd" && k3s ? K3S_CONTAINERD_SOCKET : DEFAULT_SOCKET[runtime];
  return {
    runtime,
    socket,
    version,
    node: name,
    architecture: node.status?.nodeInfo?.architecture,
  };
}

/** The one runtime every node runs; a UserError when there are none or they differ. */
export function runtimeOfNodes(nodes: readonly NodeObject[]): NodeRuntime {
  if (nodes.length === 0) {
    throw new UserError(
      "The cluster has no nodes to read the container runtime from; pass --runtime docker " +
        "or --runtime containerd",
      ExitCode.kubernetes,
    );
  }
  const runtimes = nodes.map(nodeRuntime);
  const first = runtimes[0]!;
  const other = runtimes.find((r) => r.runtime !== first.runtime || r.socket !== first.socket);
  if (other !== undefined) {
    throw new UserError(
      `Nodes "${first.node}" (${first.version}) and "${other.node}" (${other.version}) run ` +
        "different container runtimes; veryfreshpod is for single-node clusters: pass --runtime " +
        "and --socket for the node it should run on",
      ExitCode.usage,
    );
  }
  return { ...first, nodeCount: nodes.length };
}

/** Reads the nodes and returns their runtime; API errors become one-line UserErrors. */
export async function detectRuntime(client: KubeClient): Promise<NodeRuntime> {
  const server = client.server;
  let nodes: NodeObject[];
  try {
    nodes = await listNodes(client);
  } catch (error) {
    const explained = explainKubeError(error, server, { verb: "list", resource: "nodes" });
    if (apiStatus(error) === 403 && explained instanceof UserError) {
      throw new UserError(
        `${explained.message}, or pass --runtime and --socket`,
        explained.exitCode,
        { cause: error },
      );
    }
    throw explained;
  }
  return runtimeOfNodes(nodes);
}

/** Every Node of the cluster. */
export async function listNodes(client: KubeClient): Promise<NodeObject[]> {
  return (await client.json<{ items?: NodeObject[] | null }>("GET", "/api/v1/nodes")).items ?? [];
}
