/**
 * What veryfreshpod remembers of its own updates, for `veryfreshpod status`:
 * the workload annotation UPDATES_ANNOTATION, a JSON object from container
 * name to the image it set, that image's ID (and config digest, which is what
 * a pod on containerd reports), and when. It lives on the workload's own
 * metadata (not the pod template, so it rolls nothing by itself), is written
 * by the same patch that changes the image, and is readable from any machine.
 * Each entry also keeps what the container ran before (the previous entry, or
 * the image before veryfreshpod's first change) and the image it had before
 * veryfreshpod's first change, which `veryfreshpod restore` goes back to.
 */
import type { WorkloadUpdate } from "./plan_types.ts";

/** The workload annotation holding the record. */
export const UPDATES_ANNOTATION = "veryfreshpod.io/updates";

/**
 * The workload annotation saying when it was last restored (ISO 8601): moves
 * veryfreshpod recorded up to then are not completed at a restart.
 */
export const RESTORED_ANNOTATION = "veryfreshpod.io/restored-at";

/** What veryfreshpod last set in one container. */
export interface ContainerRecord {
  /** The reference as written into the workload. */
  readonly image: string;
  /** The image ID in the engine (Docker `Id`; containerd: the target digest). */
  readonly id?: string | undefined;
  /** The image's config digest, when the engine's ID is another digest (containerd). */
  readonly configId?: string | undefined;
  /** When (ISO 8601). */
  readonly at: string;
  /**
   * What the container ran right before this change: veryfreshpod's previous
   * entry (with its time), or, when this was veryfreshpod's first change, the
   * image alone. Absent in records written before it was kept.
   */
  readonly previous?: PreviousRecord | undefined;
  /**
   * The image the container had before veryfreshpod's first change (or since
   * it was last changed by hand). Absent in records written before it was kept.
   */
  readonly original?: string | undefined;
}

/** One step back: an earlier entry of veryfreshpod's, or (no `at`) an image it never set. */
export type PreviousRecord = Omit<ContainerRecord, "previous" | "original" | "at"> & {
  readonly at?: string | undefined;
};

export type UpdatesRecord = Readonly<Record<string, ContainerRecord>>;

/** The record in an annotation value; entries that are not well-formed are left out. */
export function parseUpdates(raw: string | undefined): UpdatesRecord {
  if (raw === undefined) return {};
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    return {};
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) return {};
  const record: Record<string, ContainerRecord> = {};
  for (const [container, entry] of Object.entries(value)) {
    const e = entry as Record<string, unknown> | null;
    if (typeof e?.image !== "string" || typeof e.at !== "string") continue;
    const previous = e.previous as Record<string, unknown> | null | undefined;
    record[container] = {
      ...imageFields(e.image, e),
      at: e.at,
      ...(typeof previous?.image === "string"
        ? {
          previous: {
            ...imageFields(previous.image, previous),
            ...(typeof previous.at === "string" ? { at: previous.at } : {}),
          },
        }
        : {}),
      ...(typeof e.original === "string" ? { original: e.original } : {}),
    };
  }
  return record;
}

function imageFields(image: string, e: Record<string, unknown>) {
  return {
    image,
    ...(typeof e.id === "string" ? { id: e.id } : {}),
    ...(typeof e.configId === "string" ? { configId: e.configId } : {}),
  };
}

/** The annotation value after `update`, applied at `at`: earlier entries of other containers stay. */
export function recordUpdates(update: WorkloadUpdate, at: Date): string {
  const earlier = parseUpdates(update.updatesRecord);
  const record: Record<string, ContainerRecord> = { ...earlier };
  const when = at.toISOString();
  for (const u of update.imageUpdates) {
    record[u.container] = {
      ...entry(u.to, u.id, u.configId, when),
      ...history(earlier[u.container], u.from),
    };
  }
  for (const r of update.rebuilds) {
    record[r.container] = {
      ...entry(r.image, r.id, r.configId, when),
      ...history(earlier[r.container], r.image),
    };
  }
  const names = Object.keys(record).sort();
  return JSON.stringify(Object.fromEntries(names.map((n) => [n, record[n]])));
}

/**
 * `previous` and `original` of a change of a container that runs `current`:
 * when it still runs what veryfreshpod last set, the chain goes on (that entry
 * is the previous one, its original stays); else (first change, or changed by
 * hand since) `current` is both.
 */
function history(
  earlier: ContainerRecord | undefined,
  current: string,
): Pick<ContainerRecord, "previous" | "original"> {
  if (earlier === undefined || earlier.image !== current) {
    return { previous: { image: current }, original: current };
  }
  const { previous: _, original, ...kept } = earlier;
  return { previous: kept, ...(original === undefined ? {} : { original }) };
}

function entry(
  image: string,
  id: string | undefined,
  configId: string | undefined,
  at: string,
): ContainerRecord {
  return {
    image,
    ...(id ? { id } : {}),
    ...(configId && configId !== id ? { configId } : {}),
    at,
  };
}
