/**
 * The plan's view of the cluster's registry (pure, no I/O): which workload
 * references pull from it, which engine repositories a push there serves,
 * and the pinned reference a workload gets once a push landed.
 *
 * A workload pulls from the registry when its reference's domain is the
 * push host or the host the nodes use (`localhost:5001/app:v1`,
 * `kind-registry:5000/app:v2@sha256:…`); its repository there is the path
 * (`app`). An engine tag serves that repository when it is the same path in
 * Docker Hub's familiar form (`app:v2`, `team/app:v2`) or already carries
 * one of the registry's hosts (`localhost:5001/app:v2`).
 */
import type { ImageReference } from "./image_ref.ts";

/** The registry as the plan needs it. */
export interface PlanRegistry {
  /** Where pushes go. */
  readonly host: string;
  /** How the nodes name it: the domain of every reference written into a workload. */
  readonly fromRuntime: string;
  /** The digest the registry gave for the engine's image `id` under snapshot key `key`, once pushed. */
  readonly pushed: (key: string, id: string) => string | undefined;
}

const DOCKER_HUB = "docker.io";
const OFFICIAL = "library/";

/** The registry repository a workload reference pulls, or undefined when it pulls from elsewhere. */
export function pulledPath(ref: ImageReference, registry: PlanRegistry): string | undefined {
  return ref.domain === registry.host || ref.domain === registry.fromRuntime ? ref.path : undefined;
}

/** The registry repository an engine repository (`docker.io/library/app`) is pushed to, if any. */
export function pushedPath(repository: string, registry: PlanRegistry): string | undefined {
  for (const host of [registry.host, registry.fromRuntime]) {
    if (repository.startsWith(`${host}/`)) return repository.slice(host.length + 1);
  }
  if (!repository.startsWith(`${DOCKER_HUB}/`)) return undefined;
  const path = repository.slice(DOCKER_HUB.length + 1);
  return path.startsWith(OFFICIAL) ? path.slice(OFFICIAL.length) : path;
}

/** `fromRuntime/path:tag@digest` (without `@digest` while it is unknown). */
export function pinnedReference(
  registry: PlanRegistry,
  path: string,
  tag: string,
  digest: string | undefined,
): string {
  return `${registry.fromRuntime}/${path}:${tag}${digest === undefined ? "" : `@${digest}`}`;
}
