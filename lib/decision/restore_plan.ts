/**
 * What `veryfreshpod restore` does to one workload, decided from the workload
 * alone (pure): each container veryfreshpod moved goes back to the image it
 * had before veryfreshpod's first change (or, with `--to-last`, before its
 * last change), from the workload's own record (model/record.ts). A
 * container someone changed since veryfreshpod's last change is left alone.
 * The record of what is undone goes, and with it the pod-template annotation
 * veryfreshpod added for rebuilds; the workload is marked restored, so that
 * a restart does not redo the moves it undid (resume.ts).
 */
import { parseReference } from "../model/image_ref.ts";
import type { TrackedWorkload } from "../model/workload.ts";
import {
  type ContainerRestore,
  type LeftAlone,
  type RestorePlan,
  ROLLOUT_ANNOTATION,
} from "../model/plan_types.ts";
import { type ContainerRecord, parseUpdates, UPDATES_ANNOTATION } from "../model/record.ts";
import { parseRecord } from "./update_builder.ts";

/** `original`: before veryfreshpod's first change; `last`: before its last one. */
export type RestoreMode = "original" | "last";

/** Where one container goes back to, or why it stays as it is. */
export type RestoreTarget =
  | {
    readonly action: "restore";
    readonly to: string;
    /** The container's record afterwards; undefined when nothing of veryfreshpod's is left. */
    readonly entry: ContainerRecord | undefined;
  }
  | { readonly action: "leave"; readonly why: string };

/**
 * Where the container that runs `running` and whose record is `entry` goes
 * back to in `mode`. `veryfreshpod status` shows the same.
 */
export function restoreTarget(
  entry: ContainerRecord,
  running: string | undefined,
  mode: RestoreMode,
): RestoreTarget {
  if (running === undefined) return { action: "leave", why: "it is no longer in the workload" };
  if (running !== entry.image) {
    return {
      action: "leave",
      why: `it runs ${running}, set by hand since veryfreshpod set ${entry.image}; ` +
        "change it back yourself if you want to",
    };
  }
  const predates = "its record predates veryfreshpod keeping the image it replaced; " +
    "set the image yourself";
  if (mode === "original") {
    if (entry.original === undefined) return { action: "leave", why: predates };
    return { action: "restore", to: entry.original, entry: undefined };
  }
  const previous = entry.previous;
  if (previous === undefined) {
    if (entry.original === undefined) return { action: "leave", why: predates };
    return {
      action: "leave",
      why: `no earlier step is recorded (one step back is kept); "veryfreshpod restore" ` +
        `without --to-last goes back to ${entry.original}`,
    };
  }
  if (previous.image === entry.image) {
    return {
      action: "leave",
      why: `its last change rebuilt ${entry.image} in place, and that tag names no earlier build`,
    };
  }
  // Without a time the previous image was not veryfreshpod's: nothing of its own is left.
  if (previous.at === undefined) return { action: "restore", to: previous.image, entry: undefined };
  const { at, ...image } = previous;
  return {
    action: "restore",
    to: previous.image,
    entry: { ...image, at, ...(entry.original === undefined ? {} : { original: entry.original }) },
  };
}

/** The restore of one workload, or undefined when it carries no record of veryfreshpod's. */
export function planRestore(workload: TrackedWorkload, mode: RestoreMode): RestorePlan | undefined {
  const record = parseUpdates(workload.annotations[UPDATES_ANNOTATION]);
  const names = Object.keys(record).sort();
  if (names.length === 0) return undefined;
  const after: Record<string, ContainerRecord> = { ...record };
  const restores: ContainerRestore[] = [];
  const leftAlone: LeftAlone[] = [];
  const cleared = new Set<string>();
  for (const name of names) {
    const entry = record[name]!;
    const container = workload.containers.find((c) => c.name === name);
    const target = restoreTarget(entry, container?.image, mode);
    if (target.action === "leave") {
      leftAlone.push({ container: name, init: container?.init ?? false, why: target.why });
      continue;
    }
    // restoreTarget leaves a container that is not there.
    const { init, image: from } = container!;
    restores.push({ container: name, init, from, to: target.to });
    if (target.entry !== undefined) {
      after[name] = target.entry;
      continue;
    }
    delete after[name];
    for (const image of [from, target.to]) {
      const repository = repositoryOf(image);
      if (repository !== undefined) cleared.add(repository);
    }
  }
  const remaining = Object.keys(after);
  return {
    workload: workload.key,
    resourceVersion: workload.resourceVersion,
    restores,
    leftAlone,
    updatesRecord: remaining.length === 0 ? null : JSON.stringify(after),
    rolloutAnnotation: clearedRollout(
      workload.templateAnnotations[ROLLOUT_ANNOTATION],
      cleared,
      remaining.length === 0,
    ),
  };
}

/**
 * The rollout annotation without the keys of `repositories` (all of it when
 * `all`); undefined when that changes nothing.
 */
function clearedRollout(
  raw: string | undefined,
  repositories: ReadonlySet<string>,
  all: boolean,
): string | null | undefined {
  if (raw === undefined) return undefined;
  if (all) return null;
  if (repositories.size === 0) return undefined;
  const ids = parseRecord(raw);
  if (ids === undefined) return undefined;
  const kept = Object.entries(ids).filter(([key]) => {
    const repository = repositoryOf(key);
    return repository === undefined || !repositories.has(repository);
  });
  if (kept.length === Object.keys(ids).length) return undefined;
  return kept.length === 0 ? null : JSON.stringify(Object.fromEntries(kept));
}

function repositoryOf(image: string): string | undefined {
  try {
    return parseReference(image).repository;
  } catch {
    return undefined;
  }
}

/** `container app app:v2 -> app:test, initContainer db stays on db:dev`: what a restore does. */
export function describeRestores(restores: readonly ContainerRestore[]): string {
  return restores.map((r) => {
    const what = `${r.init ? "initContainer" : "container"} ${r.container}`;
    return r.from === r.to ? `${what} stays on ${r.to}` : `${what} ${r.from} -> ${r.to}`;
  }).join(", ");
}
