/**
 * Builds the update of one workload for the plan: its image updates and
 * rebuilds, the rollout record they leave, and the warnings a user should see
 * (a pull policy that cannot work, a tool that may revert the change).
 */
import type { ImageSnapshot, TagChanged } from "../model/image_snapshot.ts";
import { DEFAULT_TAG, type ImageReference, withTag } from "../model/image_ref.ts";
import type { TrackedContainer, TrackedWorkload } from "../model/workload.ts";
import {
  type ImageUpdate,
  type Rebuild,
  type RegistryPush,
  ROLLOUT_ANNOTATION,
  type WorkloadUpdate,
} from "../model/plan_types.ts";
import { pinnedReference, type PlanRegistry } from "../model/registry_targets.ts";
import { UPDATES_ANNOTATION } from "../model/record.ts";

/** The rollout record (normalised key → image ID), or undefined when unreadable. */
export function parseRecord(raw: string): Record<string, string> | undefined {
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
export class UpdateBuilder {
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
      id: target.id,
      ...configIdOf(this.#snapshot.get(target.key)),
    });
    const fromRegistry = this.#snapshot.get(target.key)?.fromRegistry ?? target.fromRegistry;
    this.#checkPullPolicy(container, to, target.tag, fromRegistry);
  }

  /**
   * The container moves to a build pushed to the cluster's registry, pinned
   * by its digest once known (a rebuild is a new digest: it rolls without the
   * annotation). The ID recorded is the digest the nodes report for it.
   */
  registryUpdate(container: TrackedContainer, registry: PlanRegistry, push: RegistryPush): void {
    this.#imageUpdates.push({
      container: container.name,
      init: container.init,
      from: container.image,
      to: pinnedReference(registry, push.repository, push.tag, push.digest),
      id: push.digest ?? push.id,
      // A node that had the image before reports the engine's config digest instead.
      configId: this.#snapshot.get(push.source)?.configId ?? push.id,
      push,
    });
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
      ...configIdOf(this.#snapshot.get(key)),
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
    const recorded = this.#workload.annotations[UPDATES_ANNOTATION];
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
      ...(recorded === undefined ? {} : { updatesRecord: recorded }),
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

/** `{ configId }` when the engine knows a config digest for the image, else nothing. */
function configIdOf(image: { configId?: string | undefined } | undefined) {
  return image?.configId ? { configId: image.configId } : {};
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
