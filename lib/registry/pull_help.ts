/**
 * What to tell the user when a node cannot pull an image from the cluster's
 * registry: set once at start (registry/setup.ts) from the registry in use,
 * read by the rollout's pod diagnosis, which otherwise knows only the pod.
 */
import { parseReference } from "../model/image_ref.ts";

/** Registry domain (as image fields name it) → the cluster's help text, "" when none. */
const helps = new Map<string, string>();

/** Remembers that images under `domain` come from the cluster's registry, with its help. */
export function setRegistryPullHelp(domain: string, help: string | undefined): void {
  helps.set(domain, help ?? "");
}

/**
 * The hint for a node that cannot pull `image`, when it comes from the
 * cluster's registry (undefined otherwise).
 */
export function registryPullHint(image: string, node: string | undefined): string | undefined {
  let domain: string;
  try {
    domain = parseReference(image).domain;
  } catch {
    return undefined;
  }
  const help = helps.get(domain);
  if (help === undefined) return undefined;
  const who = node ? `node ${node}` : "the node";
  return `${who} cannot pull it from the cluster's registry ${domain}: check that the nodes ` +
    `reach it under that name and may pull from it${help ? ` (${help})` : ""}`;
}
