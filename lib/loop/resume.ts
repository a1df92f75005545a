/**
 * Completes at start a fan-out that a crash (or a stop past its bound) cut
 * short. The workloads' own record (UPDATES_ANNOTATION, written by the same
 * patch that moves an image) says to which tag veryfreshpod last moved each
 * repository, and when; a workload still running another tag of that
 * repository, in a container veryfreshpod has not set since, is moved too.
 * Only veryfreshpod's own moves count: a restart never acts on images that
 * merely exist (the snapshot stays the baseline for everything else). A
 * workload `veryfreshpod restore` put back (RESTORED_ANNOTATION) counts no
 * move recorded up to then, neither its own nor another workload's: a restore
 * is not a build.
 */
import type { ImageSnapshot, TagChanged } from "../model/image_snapshot.ts";
import { DEFAULT_TAG, parseReference } from "../model/image_ref.ts";
import type { TrackedWorkload } from "../model/workload.ts";
import { plan, type PlanOptions, type PlanResult } from "../decision/plan.ts";
import {
  type ContainerRecord,
  parseUpdates,
  RESTORED_ANNOTATION,
  UPDATES_ANNOTATION,
} from "../model/record.ts";

/** The last move veryfreshpod recorded for one repository. */
export interface Move {
  readonly repository: string;
  readonly tag: string;
  /** When (ms since the epoch). */
  readonly at: number;
}

/** The newest recorded move per repository, over every workload's record. */
export function recordedMoves(workloads: Iterable<TrackedWorkload>): Map<string, Move> {
  const moves = new Map<string, Move>();
  for (const workload of workloads) {
    const restored = restoredAt(workload);
    for (const entry of Object.values(parseUpdates(workload.annotations[UPDATES_ANNOTATION]))) {
      const ref = parseOrUndefined(entry.image);
      const at = Date.parse(entry.at);
      if (ref === undefined || ref.digest !== undefined || !(at > restored)) continue;
      const known = moves.get(ref.repository);
      if (known === undefined || at > known.at) {
        moves.set(ref.repository, {
          repository: ref.repository,
          tag: ref.tag ?? DEFAULT_TAG,
          at,
        });
      }
    }
  }
  return moves;
}

/**
 * The updates that complete `moves`: each container on another tag of a
 * moved repository whose own record is older than the move (or absent) goes
 * to the moved tag, when the engine still has it. A container veryfreshpod
 * set at or after the move and that now runs something else was changed back
 * by someone: it is left alone.
 */
export function planResume(
  moves: ReadonlyMap<string, Move>,
  workloads: Iterable<TrackedWorkload>,
  snapshot: ImageSnapshot,
  options: PlanOptions,
): PlanResult {
  const changes: TagChanged[] = [];
  for (const move of moves.values()) {
    const key = `${move.repository}:${move.tag}`;
    const image = snapshot.get(key);
    if (image === undefined) continue;
    changes.push({
      kind: "added",
      key,
      repository: move.repository,
      tag: move.tag,
      id: image.id,
      previousId: undefined,
      fromRegistry: image.fromRegistry,
    });
  }
  if (changes.length === 0) return { updates: [], skipped: [] };
  // Each workload as far as it lags: only the containers still to move, so the
  // plan neither rolls the ones already on the tag nor touches the rest.
  const lagging: TrackedWorkload[] = [];
  for (const workload of workloads) {
    const record = parseUpdates(workload.annotations[UPDATES_ANNOTATION]);
    const restored = restoredAt(workload);
    const containers = workload.containers.filter((container) => {
      const ref = parseOrUndefined(container.image);
      const move = ref && moves.get(ref.repository);
      if (ref === undefined || move === undefined || ref.digest !== undefined) return false;
      if (!(move.at > restored)) return false;
      if ((ref.tag ?? DEFAULT_TAG) === move.tag) return false;
      const own = record[container.name];
      if (own === undefined) return true;
      if (Date.parse(own.at) >= move.at) return false;
      // Set to this very build by the same fan-out (its patches are milliseconds apart, the
      // move's time is its last) and changed since by someone, a rollback perhaps: left alone.
      return !namesBuild(own, move, snapshot.get(`${move.repository}:${move.tag}`)?.id);
    });
    if (containers.length > 0) lagging.push({ ...workload, containers });
  }
  return plan(changes, lagging, snapshot, options);
}

/**
 * True when a container's own record names the moved tag and the build the
 * tag names now (a record without an ID: the tag alone).
 */
function namesBuild(
  own: ContainerRecord,
  move: Move,
  id: string | undefined,
): boolean {
  const ref = parseOrUndefined(own.image);
  if (ref === undefined || ref.repository !== move.repository) return false;
  if ((ref.tag ?? DEFAULT_TAG) !== move.tag) return false;
  return own.id === undefined || own.id === id;
}

/** When the workload was last restored (ms since the epoch), else 0. */
function restoredAt(workload: TrackedWorkload): number {
  const at = Date.parse(workload.annotations[RESTORED_ANNOTATION] ?? "");
  return at > 0 ? at : 0;
}

function parseOrUndefined(image: string) {
  try {
    return parseReference(image);
  } catch {
    return undefined;
  }
}
