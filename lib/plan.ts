/**
 * The decision: given what changed in the engine and what the workloads run,
 * which workloads to change and how. Plain data in, plain data out, no I/O, so
 * every rule of DESIGN.md ("What it does", "Image references") is tested here
 * without a daemon.
 */
import type { ImageSnapshot } from "./engine/engine.ts";
import {
  DEFAULT_TAG,
  type ImageReference,
  InvalidReferenceError,
  isValidTag,
  parseReference,
  withTag,
} from "./image_ref.ts";
import type { TrackedContainer, TrackedWorkload, WorkloadKey } from "./kube/workload.ts";
import { workloadId } from "./kube/workload.ts";
import {
  IGNORE_ANNOTATION,
  type ImageUpdate,
  type Rebuild,
  ROLLOUT_ANNOTATION,
  type WorkloadUpdate,
} from "./plan_types.ts";
import type { ImageChange, TagChanged } from "./snapshot.ts";

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
 * two reads), the last change in the batch decides the image, since the
 * snapshot holds no build times to rank them by; among the tags naming that
 * image, the last one other than `latest` wins, else `latest`.
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
  const targets = chooseTargets(changedTags.values());
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
      if (changed !== undefined) builder.rebuild(container, ref, changed);
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

/** The target tag per repository; see `plan` for the rule. */
function chooseTargets(changes: Iterable<TagChanged>): Map<string, TagChanged> {
  const byRepository = new Map<string, TagChanged[]>();
  for (const change of changes) {
    const list = byRepository.get(change.repository);
    if (list === undefined) byRepository.set(change.repository, [change]);
    else list.push(change);
  }
  const targets = new Map<string, TagChanged>();
  for (const [repository, list] of byRepository) {
    const last = list[list.length - 1]!;
    const named = list.filter((c) => c.id === last.id);
    targets.set(repository, named.findLast((c) => c.tag !== DEFAULT_TAG) ?? last);
  }
  return targets;
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
  const ignore = workload.annotations[IGNORE_ANNOTATION];
  if (ignore !== undefined && ignore.trim().toLowerCase() === "true") {
    return `annotation ${IGNORE_ANNOTATION} is "true"`;
  }
  return undefined;
}

/** The rollout record (normalised key → image ID), or undefined when unreadable. */
function parseRecord(raw: string): Record<string, string> | undefined {
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return undefined;
  const record: Record<string, string> = {};
  for (const [key, id] of Object.entries(value)) {
    if (typeof id !== "string") return undefined;
    record[key] = id;
  }
  return record;
}

/** Collects one workload's changes and the warnings they call for. */
class UpdateBuilder {
  readonly #workload: TrackedWorkload;
  readonly #snapshot: ImageSnapshot;
  readonly #imageUpdates: ImageUpdate[] = [];
  readonly #rebuilds: Rebuild[] = [];
  readonly #warnings: string[] = [];
  /** The record as the workload has it, read when first needed. */
  #recorded: Readonly<Record<string, string>> | undefined;
  /** The record the update writes. */
  readonly #record: Record<string, string> = {};

  constructor(workload: TrackedWorkload, snapshot: ImageSnapshot) {
    this.#workload = workload;
    this.#snapshot = snapshot;
  }

  imageUpdate(container: TrackedContainer, ref: ImageReference, target: TagChanged): void {
    const to = withTag(ref, target.tag);
    this.#imageUpdates.push({
      container: container.name,
      init: container.init,
      from: ref.original,
      to,
    });
    const fromRegistry = this.#snapshot.get(target.key)?.fromRegistry ?? target.fromRegistry;
    this.#checkPullPolicy(container, to, target.tag, fromRegistry);
  }

  /** Adds a rebuild unless the workload's record already holds `change.id` for the tag. */
  rebuild(
    container: TrackedContainer,
    ref: ImageReference,
    change: { previousId: string | undefined; id: string; fromRegistry?: boolean },
  ): void {
    const tag = ref.tag ?? DEFAULT_TAG;
    const key = `${ref.repository}:${tag}`;
    if (this.#readRecord()[key] === change.id) return;
    this.#record[key] = change.id;
    const { previousId, id } = change;
    this.#rebuilds.push({
      container: container.name,
      init: container.init,
      image: ref.original,
      previousId,
      id,
    });
    const fromRegistry = this.#snapshot.get(key)?.fromRegistry ?? change.fromRegistry;
    this.#checkPullPolicy(container, ref.original, tag, fromRegistry);
  }

  build(): WorkloadUpdate | undefined {
    if (this.#imageUpdates.length === 0 && this.#rebuilds.length === 0) return undefined;
    const tools = managers(this.#workload);
    if (tools.length > 0) {
      this.#warnings.push(
        `managed by ${tools.join(" and ")}, which may revert this change on its next sync`,
      );
    }
    let rolloutAnnotation: string | undefined;
    if (this.#rebuilds.length > 0) {
      const merged: Record<string, string> = { ...this.#readRecord(), ...this.#record };
      const keys = Object.keys(merged).sort();
      rolloutAnnotation = JSON.stringify(Object.fromEntries(keys.map((k) => [k, merged[k]])));
    }
    return {
      workload: this.#workload.key,
      resourceVersion: this.#workload.resourceVersion,
      imageUpdates: this.#imageUpdates,
      rebuilds: this.#rebuilds,
      rolloutAnnotation,
      warnings: this.#warnings,
    };
  }

  #readRecord(): Readonly<Record<string, string>> {
    if (this.#recorded !== undefined) return this.#recorded;
    const raw = this.#workload.templateAnnotations[ROLLOUT_ANNOTATION];
    let recorded = raw === undefined ? {} : parseRecord(raw);
    if (recorded === undefined) {
      recorded = {};
      // Someone else wrote it; losing it only costs a possible extra rollout later.
      this.#warnings.push(
        `pod-template annotation ${ROLLOUT_ANNOTATION} was not a JSON object of image IDs; ` +
          "it is replaced",
      );
    }
    return (this.#recorded = recorded);
  }

  /**
   * Warns when the new pods would insist on pulling an image that exists only
   * on this node (`fromRegistry` false; undefined means unknown: no warning).
   */
  #checkPullPolicy(
    container: TrackedContainer,
    image: string,
    tag: string,
    fromRegistry: boolean | undefined,
  ): void {
    if (fromRegistry !== false) return;
    // Kubernetes defaults an empty pull policy from the tag on every write.
    const policy = container.pullPolicy ?? (tag === DEFAULT_TAG ? undefined : "IfNotPresent");
    if (policy !== undefined && policy !== "Always") return;
    const why = policy === "Always"
      ? "imagePullPolicy Always"
      : `no imagePullPolicy, which Kubernetes treats as Always for tag "${DEFAULT_TAG}"`;
    this.#warnings.push(
      `container ${container.name} has ${why}, but ${image} exists only on this node: ` +
        "the new pods cannot start; set imagePullPolicy to IfNotPresent or Never",
    );
  }
}

/** The tools that declare they manage the workload and may undo a change. */
function managers(workload: TrackedWorkload): string[] {
  const { labels, annotations } = workload;
  const tools: string[] = [];
  if (
    labels["app.kubernetes.io/managed-by"] === "Helm" ||
    Object.hasOwn(annotations, "meta.helm.sh/release-name")
  ) tools.push("Helm");
  // The label app.kubernetes.io/instance alone proves nothing (Helm charts set
  // it too); Argo CD's tracking-id annotation does, with or without the label.
  if (Object.hasOwn(annotations, "argocd.argoproj.io/tracking-id")) tools.push("Argo CD");
  if (
    Object.hasOwn(labels, "kustomize.toolkit.fluxcd.io/name") ||
    Object.hasOwn(labels, "helm.toolkit.fluxcd.io/name")
  ) tools.push("Flux");
  return tools;
}

function sortUpdates(updates: WorkloadUpdate[]): WorkloadUpdate[] {
  const id = (u: WorkloadUpdate) => workloadId(u.workload);
  return updates.sort((a, b) => (id(a) < id(b) ? -1 : id(a) > id(b) ? 1 : 0));
}
