/**
 * The one thing veryfreshpod acts on at start: a workload whose rollout record
 * (ROLLOUT_ANNOTATION) names an image ID that its tag no longer points to was
 * rebuilt while veryfreshpod was down. Everything else that existed before
 * start is the baseline.
 */
import type { ImageSnapshot } from "./engine/engine.ts";
import type { TrackedWorkload } from "./kube/workload.ts";
import { ROLLOUT_ANNOTATION } from "./plan_types.ts";
import type { ImageChange } from "./snapshot.ts";
import { splitImageKey } from "./image_ref.ts";

/** Synthetic `moved` changes for every recorded tag whose image ID has changed since. */
export function startupChanges(
  workloads: Iterable<TrackedWorkload>,
  snapshot: ImageSnapshot,
): ImageChange[] {
  const changes = new Map<string, ImageChange>();
  for (const workload of workloads) {
    const recorded = parseRecord(workload.templateAnnotations[ROLLOUT_ANNOTATION]);
    for (const [key, recordedId] of Object.entries(recorded)) {
      const current = snapshot.get(key);
      const parts = splitImageKey(key);
      if (!current || !parts || current.id === recordedId || changes.has(key)) continue;
      changes.set(key, {
        kind: "moved",
        key,
        repository: parts.repository,
        tag: parts.tag,
        id: current.id,
        previousId: recordedId,
        fromRegistry: current.fromRegistry,
      });
    }
  }
  return [...changes.values()];
}

function parseRecord(value: string | undefined): Record<string, string> {
  if (!value) return {};
  try {
    const parsed = JSON.parse(value);
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) return {};
    return Object.fromEntries(
      Object.entries(parsed).filter((entry): entry is [string, string] =>
        typeof entry[1] === "string"
      ),
    );
  } catch {
    return {};
  }
}
