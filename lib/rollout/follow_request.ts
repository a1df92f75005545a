/**
 * What a follow starts from: the patch veryfreshpod applied (`followRequest`),
 * or, after a restart, what the workload's own record says it set
 * (`recordedRequest`). Pure.
 */
import type { TrackedWorkload, WorkloadKey } from "../model/workload.ts";
import { ROLLOUT_ANNOTATION, type WorkloadUpdate } from "../model/plan_types.ts";
import { parseUpdates, UPDATES_ANNOTATION } from "../model/record.ts";
import type { RolloutTarget, SetImage } from "./verdict.ts";

/** One rollout to follow: the patch that started it. */
export interface FollowRequest {
  readonly key: WorkloadKey;
  readonly target: RolloutTarget;
  /** When the patch was applied (ms). */
  readonly startedAt: number;
  /** The workload's uid after the patch, for the Event. */
  readonly uid: string | undefined;
}

/** The rollout a patch starts, from the update and the object the API server returned. */
export function followRequest(
  update: WorkloadUpdate,
  patched: { metadata?: { generation?: number; uid?: string } | undefined },
  startedAt: number,
): FollowRequest {
  return {
    key: update.workload,
    target: {
      kind: update.workload.kind,
      generation: patched.metadata?.generation,
      images: [
        ...update.imageUpdates.map((u) => ({ container: u.container, image: u.to, id: u.id })),
        ...update.rebuilds.map((r) => ({ container: r.container, image: r.image, id: r.id })),
      ],
      rolloutAnnotation: update.rolloutAnnotation,
    },
    startedAt,
    uid: patched.metadata?.uid,
  };
}

/**
 * The rollout a workload's record shows (model/record.ts): the images it set
 * that the workload still runs, since the newest of them was set; undefined
 * when it shows none.
 */
export function recordedRequest(workload: TrackedWorkload): FollowRequest | undefined {
  const record = parseUpdates(workload.annotations[UPDATES_ANNOTATION]);
  const images: SetImage[] = [];
  let startedAt = -Infinity;
  for (const [container, entry] of Object.entries(record)) {
    if (workload.containers.find((c) => c.name === container)?.image !== entry.image) continue;
    images.push({ container, image: entry.image, id: entry.id });
    startedAt = Math.max(startedAt, Date.parse(entry.at));
  }
  if (images.length === 0 || !Number.isFinite(startedAt)) return undefined;
  return {
    key: workload.key,
    target: {
      kind: workload.key.kind,
      generation: workload.rollout?.generation,
      images,
      rolloutAnnotation: workload.templateAnnotations[ROLLOUT_ANNOTATION],
    },
    startedAt,
    uid: workload.uid,
  };
}
