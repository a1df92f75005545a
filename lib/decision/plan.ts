/**
 * The decision: given what changed in the engine and what the workloads run,
 * which workloads to change and how. Plain data in, plain data out, no I/O, so
 * every rule of DESIGN.md ("What it does", "Image references") is tested here
 * without a daemon.
 */
import type { ImageChange, ImageSnapshot, TagChanged } from "../model/image_snapshot.ts";
import {
  DEFAULT_TAG,
  type ImageReference,
  InvalidReferenceError,
  isValidTag,
  parseReference,
} from "../model/image_ref.ts";
import type { TrackedContainer, TrackedWorkload, WorkloadKey } from "../model/workload.ts";
import { workloadId } from "../model/workload.ts";
import {
  ENABLED_ANNOTATION,
  IGNORE_ANNOTATION,
  ROLLOUT_ANNOTATION,
  type WorkloadUpdate,
} from "../model/plan_types.ts";
import { parseRecord, UpdateBuilder } from "./update_builder.ts";
import { type PlanRegistry, pulledPath, pushedPath } from "../model/registry_targets.ts";

/**
 * Namespaces never touched unless the user says otherwise: the cluster's own,
 * and veryfreshpod's (it must not roll itself). The caller adds them to
 * `PlanOptions.excludeNamespaces`; `plan` does not add them by itself.
 */
export const DEFAULT_EXCLUDED_NAMESPACES: readonly string[] = [
  "kube-system",
  "kube-public",
  "kube-node-lease",
  "veryfreshpod",
];

/** Which namespaces the plan may touch. */
export interface PlanOptions {
  /** Only these namespaces; empty means all. */
  readonly namespaces: readonly string[];
  /** Never these, even when listed in `namespaces`. */
  readonly excludeNamespaces: readonly string[];
  /** Only workloads annotated `veryfreshpod.io/enabled: "true"` (`--opt-in`). */
  readonly optIn?: boolean;
  /** The cluster's registry: workloads pulling from it get pushed, digest-pinned builds. */
  readonly registry?: PlanRegistry | undefined;
}

/** Something deliberately left alone, worth a debug line. */
export interface Skipped {
  readonly workload?: WorkloadKey;
  readonly container?: string;
  readonly image?: string;
  readonly reason: string;
}

/** What to do: one update per workload that changes, and what was left alone. */
export interface PlanResult {
  /** Sorted by workload (kind, namespace, name). */
  readonly updates: WorkloadUpdate[];
  readonly skipped: Skipped[];
}

/**
 * Decides what a batch of image changes (from `diffSnapshots`) does to the
 * workloads. `snapshot` is the engine's state after the changes. Never throws
 * on bad data in a workload: an invalid image reference is skipped and reported.
 *
 * New tag: each repository with added or moved tags gets one target tag. When
 * the batch holds several images for one repository (say two builds between
 * two reads), the one tagged last decides the image: by the changes' `time`
 * (the events' time, else the engine's; see tag_times.ts), then by the tags'
 * natural order (`v10` after `v9`) when times are equal or unknown. Among the
 * tags naming that image, the newest other than `latest` wins, else `latest`.
 *
 * Rebuilt tag: a workload running exactly the changed tag is rolled only when
 * it was seen running it before the change (`TrackedContainer.since` before
 * `TagChanged.seenAt`, both on veryfreshpod's clock): one applied right after
 * a build already runs the new image.
 *
 * Through the cluster's registry (`options.registry`): a container pulling a
 * repository of that registry takes the newest tag of the engine repository
 * pushed there (same rule), new or rebuilt, pinned by the digest the push
 * gives (model/registry_targets.ts says which match). Its reference may be pinned
 * already (`host/app:v1@sha256:…`, as veryfreshpod leaves it): the repository
 * counts, and one already pinned to the pushed digest is left alone. Until
 * the push has landed the update carries `push` without a digest
 * (`awaitingPush`): the controller pushes, then plans again.
 *
 * Skips are reported only for workloads that use a changed repository (and
 * for invalid references, whose repository is unknown), so a batch does not
 * log every workload of the cluster.
 */
export function plan(
  changes: readonly ImageChange[],
  workloads: Iterable<TrackedWorkload>,
  snapshot: ImageSnapshot,
  options: PlanOptions,
): PlanResult {
  const skipped: Skipped[] = [];
  const changedTags = new Map<string, TagChanged>();
  for (const change of changes) {
    if (change.kind === "removed") continue;
    if (isValidTag(change.tag)) changedTags.set(change.key, change);
    else skipped.push({ image: change.key, reason: "the engine reported an invalid tag" });
  }
  const targets = chooseTargets(changedTags.values(), (change) => change.repository);
  const registry = options.registry;
  const pushTargets = registry === undefined
    ? new Map<string, TagChanged>()
    : chooseTargets(changedTags.values(), (change) => pushedPath(change.repository, registry));
  if (targets.size === 0) return { updates: [], skipped };

  const parse = memoisedParser();
  const updates: WorkloadUpdate[] = [];
  for (const workload of workloads) {
    const refusal = refusalReason(workload, options);
    if (refusal !== undefined) {
      const relevant = workload.containers.some((c) => {
        const ref = parse(c.image);
        return !(ref instanceof InvalidReferenceError) && targets.has(ref.repository);
      });
      if (relevant) skipped.push({ workload: workload.key, reason: refusal });
      continue;
    }
    const builder = new UpdateBuilder(workload, snapshot);
    for (const container of workload.containers) {
      const pulled = registry && registryReference(container, parse, registry, pushTargets);
      if (pulled !== undefined) {
        planPush(builder, container, pulled, registry!, skipped, workload.key);
        continue;
      }
      const ref = usableReference(workload, container, parse, skipped, (r) => targets.has(r));
      if (ref === undefined) continue;
      const target = targets.get(ref.repository);
      if (target === undefined) continue;
      const tag = ref.tag ?? DEFAULT_TAG;
      const key = `${ref.repository}:${tag}`;
      // A workload already running the new image under another tag (one build
      // tagged twice) is left alone: it would be a second rollout of the same image.
      if (tag !== target.tag && snapshot.get(key)?.id !== target.id) {
        builder.imageUpdate(container, ref, target);
        continue;
      }
      const changed = changedTags.get(key);
      if (changed === undefined) continue;
      if (ranBefore(container, changed)) builder.rebuild(container, ref, changed);
      else {
        skipped.push({
          workload: workload.key,
          container: container.name,
          image: container.image,
          reason: "it came after the tag's new image, so it runs that already",
        });
      }
    }
    const update = builder.build();
    if (update !== undefined) updates.push(update);
  }
  return { updates: sortUpdates(updates), skipped };
}

/**
 * Rolls workloads whose tag was rebuilt while veryfreshpod was not running:
 * the rollout annotation records an image ID for a tag a container runs, and
 * the tag now names another image. Run once at start, against the first
 * snapshot; only veryfreshpod's own record counts, so other workloads are not
 * restarted by a restart of veryfreshpod.
 */
export function planMissedRebuilds(
  workloads: Iterable<TrackedWorkload>,
  snapshot: ImageSnapshot,
  options: PlanOptions,
): PlanResult {
  const skipped: Skipped[] = [];
  const updates: WorkloadUpdate[] = [];
  const parse = memoisedParser();
  for (const workload of workloads) {
    const raw = workload.templateAnnotations[ROLLOUT_ANNOTATION];
    if (raw === undefined || refusalReason(workload, options) !== undefined) continue;
    const record = parseRecord(raw);
    if (record === undefined) continue;
    const builder = new UpdateBuilder(workload, snapshot);
    for (const container of workload.containers) {
      const ref = usableReference(workload, container, parse, skipped, () => false);
      if (ref === undefined) continue;
      const key = `${ref.repository}:${ref.tag ?? DEFAULT_TAG}`;
      const recorded = record[key];
      const current = snapshot.get(key);
      if (recorded === undefined || current === undefined || current.id === recorded) continue;
      builder.rebuild(container, ref, { previousId: recorded, id: current.id });
    }
    const update = builder.build();
    if (update !== undefined) updates.push(update);
  }
  return { updates: sortUpdates(updates), skipped };
}

/** True when the container was seen running the tag before the change (or nothing says otherwise). */
function ranBefore(container: TrackedContainer, change: TagChanged): boolean {
  return container.since === undefined || change.seenAt === undefined ||
    container.since < change.seenAt;
}

/** A container pulling from the registry, with the push that serves its repository. */
interface Pulled {
  readonly ref: ImageReference;
  readonly path: string;
  readonly target: TagChanged;
}

/** The container's reference when it pulls a registry repository that a change serves. */
function registryReference(
  container: TrackedContainer,
  parse: Parser,
  registry: PlanRegistry,
  pushTargets: ReadonlyMap<string, TagChanged>,
): Pulled | undefined {
  const ref = parse(container.image);
  if (ref instanceof InvalidReferenceError) return undefined;
  const path = pulledPath(ref, registry);
  const target = path === undefined ? undefined : pushTargets.get(path);
  return target === undefined ? undefined : { ref, path: path!, target };
}

/** The update of a container pulling from the registry: the pushed build, by digest. */
function planPush(
  builder: UpdateBuilder,
  container: TrackedContainer,
  { ref, path, target }: Pulled,
  registry: PlanRegistry,
  skipped: Skipped[],
  workload: WorkloadKey,
): void {
  const base = { workload, container: container.name, image: container.image };
  if (ref.digest !== undefined && ref.tag === undefined) {
    skipped.push({ ...base, reason: "the image is pinned by digest alone (no tag to follow)" });
    return;
  }
  const digest = registry.pushed(target.key, target.id);
  if (digest !== undefined && ref.digest === digest) {
    skipped.push({ ...base, reason: `it runs the pushed ${target.key} already` });
    return;
  }
  builder.registryUpdate(container, registry, {
    source: target.key,
    id: target.id,
    repository: path,
    tag: target.tag,
    digest,
  });
}

/** The target tag per group (a repository, or a registry path); see `plan` for the rule. */
function chooseTargets(
  changes: Iterable<TagChanged>,
  groupOf: (change: TagChanged) => string | undefined,
): Map<string, TagChanged> {
  const byRepository = new Map<string, TagChanged[]>();
  for (const change of changes) {
    const group = groupOf(change);
    if (group === undefined) continue;
    const list = byRepository.get(group);
    if (list === undefined) byRepository.set(group, [change]);
    else list.push(change);
  }
  const targets = new Map<string, TagChanged>();
  for (const [repository, list] of byRepository) {
    const newest = list.reduce(later);
    const named = list.filter((c) => c.id === newest.id);
    const versioned = named.filter((c) => c.tag !== DEFAULT_TAG);
    targets.set(repository, (versioned.length > 0 ? versioned : named).reduce(later));
  }
  return targets;
}

/** The change made last of two: by time (a known one beats none), then by the tags' natural order. */
function later(a: TagChanged, b: TagChanged): TagChanged {
  const at = a.time ?? -Infinity;
  const bt = b.time ?? -Infinity;
  if (at !== bt) return bt > at ? b : a;
  return naturalCompare(b.tag, a.tag) > 0 ? b : a;
}

/**
 * Compares strings with runs of digits as numbers: `v9` < `v10` < `v10a`.
 * Runs of equal value spelled differently (`v010`, `v10`) differ only when
 * nothing else does, so the order is total.
 */
export function naturalCompare(a: string, b: string): number {
  const runs = /\d+|\D+/g;
  const as = a.match(runs) ?? [];
  const bs = b.match(runs) ?? [];
  let spelling = 0;
  for (let i = 0; i < Math.min(as.length, bs.length); i++) {
    const x = as[i]!;
    const y = bs[i]!;
    if (x === y) continue;
    if (/^\d/.test(x) && /^\d/.test(y)) {
      const nx = BigInt(x);
      const ny = BigInt(y);
      if (nx !== ny) return nx < ny ? -1 : 1;
      spelling ||= x < y ? -1 : 1;
      continue;
    }
    return x < y ? -1 : 1;
  }
  return as.length - bs.length || spelling;
}

type Parser = (image: string) => ImageReference | InvalidReferenceError;

/** Parses each distinct image string once per plan: workloads share a few images. */
function memoisedParser(): Parser {
  const cache = new Map<string, ImageReference | InvalidReferenceError>();
  return (image) => {
    let result = cache.get(image);
    if (result === undefined) {
      try {
        result = parseReference(image);
      } catch (error) {
        result = error instanceof InvalidReferenceError
          ? error
          : new InvalidReferenceError(String(image), String(error));
      }
      cache.set(image, result);
    }
    return result;
  };
}

/**
 * The container's reference when it can be acted on; otherwise undefined,
 * reporting an invalid reference always and a digest pin when `relevant`.
 */
function usableReference(
  workload: TrackedWorkload,
  container: TrackedContainer,
  parse: Parser,
  skipped: Skipped[],
  relevant: (repository: string) => boolean,
): ImageReference | undefined {
  const ref = parse(container.image);
  const base = { workload: workload.key, container: container.name, image: container.image };
  if (ref instanceof InvalidReferenceError) {
    skipped.push({ ...base, reason: ref.message });
    return undefined;
  }
  if (ref.digest !== undefined) {
    if (relevant(ref.repository)) {
      skipped.push({ ...base, reason: "the image is pinned by digest" });
    }
    return undefined;
  }
  return ref;
}

/** Why a workload is never touched, or undefined when it may be. */
function refusalReason(workload: TrackedWorkload, options: PlanOptions): string | undefined {
  const namespace = workload.key.namespace;
  if (options.excludeNamespaces.includes(namespace)) {
    return `namespace ${namespace} is excluded`;
  }
  if (options.namespaces.length > 0 && !options.namespaces.includes(namespace)) {
    return `namespace ${namespace} is not among the watched namespaces`;
  }
  if (isTrue(workload.annotations[IGNORE_ANNOTATION])) {
    return `annotation ${IGNORE_ANNOTATION} is "true"`;
  }
  if (options.optIn && !isTrue(workload.annotations[ENABLED_ANNOTATION])) {
    return `annotation ${ENABLED_ANNOTATION} is not "true" (--opt-in)`;
  }
  return undefined;
}

function isTrue(value: string | undefined): boolean {
  return value !== undefined && value.trim().toLowerCase() === "true";
}

function sortUpdates(updates: WorkloadUpdate[]): WorkloadUpdate[] {
  const id = (u: WorkloadUpdate) => workloadId(u.workload);
  return updates.sort((a, b) => (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0));
}
