/**
 * The plans' output: what to change in one workload. Plain data, produced by
 * `plan()` in decision/plan.ts and carried out by the patcher (kube/patcher.ts),
 * and what `veryfreshpod restore` changes in one, produced by `planRestore()`
 * in decision/restore_plan.ts and carried out by kube/restore_patch.ts.
 */
import type { WorkloadKey } from "./workload.ts";
import { withLearnedConfigId } from "./image_snapshot.ts";

/** The pod-template annotation that records the image ID each tag had when rolled. */
export const ROLLOUT_ANNOTATION = "veryfreshpod.io/image-ids";
/** A workload annotation that opts the workload out when "true". */
export const IGNORE_ANNOTATION = "veryfreshpod.io/ignore";
/** With `--opt-in`, only workloads whose annotation this is "true" are touched. */
export const ENABLED_ANNOTATION = "veryfreshpod.io/enabled";

/**
 * An engine image to push to the cluster's registry before the update may be
 * patched (lib/registry/): the update's `to` is pinned to the digest it gets.
 */
export interface RegistryPush {
  /** The engine's snapshot key of the tag (`docker.io/library/app:v2`), and its image ID. */
  readonly source: string;
  readonly id: string;
  /** The repository in the registry (`app`) and the tag it is pushed under. */
  readonly repository: string;
  readonly tag: string;
  /** The registry's digest once pushed; undefined while the push has not landed. */
  readonly digest: string | undefined;
}

/** One container's image moves to another tag. */
export interface ImageUpdate {
  readonly container: string;
  readonly init: boolean;
  readonly from: string;
  readonly to: string;
  /** The image ID `to` names, and its config digest when that differs (for the status record). */
  readonly id?: string | undefined;
  readonly configId?: string | undefined;
  /** Through the cluster's registry: what to push first. */
  readonly push?: RegistryPush | undefined;
}

/** One container's tag now names a new image ID; the pods are rolled. */
export interface Rebuild {
  readonly container: string;
  readonly init: boolean;
  readonly image: string;
  readonly previousId: string | undefined;
  readonly id: string;
  /** The config digest of `id` when that differs (containerd), for the status record. */
  readonly configId?: string | undefined;
}

/** Everything to change in one workload, as one patch. */
export interface WorkloadUpdate {
  readonly workload: WorkloadKey;
  /** The resourceVersion the plan was made from (a precondition for the patch). */
  readonly resourceVersion: string;
  readonly imageUpdates: readonly ImageUpdate[];
  readonly rebuilds: readonly Rebuild[];
  /**
   * The full new value of ROLLOUT_ANNOTATION when rebuilds is not empty
   * (JSON object: normalised `repo:tag` -> image ID), else undefined.
   */
  readonly rolloutAnnotation: string | undefined;
  /** The workload's status record (model/record.ts) before this update, to merge into. */
  readonly updatesRecord?: string | undefined;
  /** Things the user should know (pull policy Always on a local image, managed by Helm…). */
  readonly warnings: readonly string[];
}

/**
 * `update` with the config digests learned elsewhere (image ID -> config
 * digest) on the images it records without one.
 */
export function withConfigIdsOf(
  update: WorkloadUpdate,
  configIds: ReadonlyMap<string, string>,
): WorkloadUpdate {
  return {
    ...update,
    imageUpdates: update.imageUpdates.map((u) => withLearnedConfigId(u, configIds)),
    rebuilds: update.rebuilds.map((r) => withLearnedConfigId(r, configIds)),
  };
}

/** True while an update waits for a push: it must not be patched yet. */
export function awaitingPush(update: WorkloadUpdate): boolean {
  return update.imageUpdates.some((u) => u.push !== undefined && u.push.digest === undefined);
}

/** One container going back. */
export interface ContainerRestore {
  readonly container: string;
  readonly init: boolean;
  readonly from: string;
  readonly to: string;
}

/** One container left as it is, and why. */
export interface LeftAlone {
  readonly container: string;
  readonly init: boolean;
  readonly why: string;
}

/** Everything restore changes in one workload, as one patch (none when `restores` is empty). */
export interface RestorePlan {
  readonly workload: WorkloadKey;
  readonly resourceVersion: string;
  readonly restores: readonly ContainerRestore[];
  readonly leftAlone: readonly LeftAlone[];
  /** The record's new value; null removes it. */
  readonly updatesRecord: string | null;
  /** The rollout annotation's new value; null removes it, undefined leaves it. */
  readonly rolloutAnnotation: string | null | undefined;
}
