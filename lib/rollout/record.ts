/**
 * What veryfreshpod remembers of its own updates, for `veryfreshpod status`:
 * the workload annotation UPDATES_ANNOTATION, a JSON object from container
 * name to the image it set, that image's ID (and config digest, which is what
 * a pod on containerd reports), and when. It lives on the workload's own
 * metadata (not the pod template, so it rolls nothing by itself), is written
 * by the same patch that changes the image, and is readable from any machine.
 */
import type { WorkloadUpdate } from "../plan_types.ts";

/** The workload annotation holding the record. */
export const UPDATES_ANNOTATION = "veryfreshpod.io/updates";

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
}

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
    record[container] = {
      image: e.image,
      at: e.at,
      ...(typeof e.id === "string" ? { id: e.id } : {}),
      ...(typeof e.configId === "string" ? { configId: e.configId } : {}),
    };
  }
  return record;
}

/** The annotation value after `update`, applied at `at`: earlier entries of other containers stay. */
export function recordUpdates(update: WorkloadUpdate, at: Date): string {
  const record: Record<string, ContainerRecord> = { ...parseUpdates(update.updatesRecord) };
  const when = at.toISOString();
  for (const u of update.imageUpdates) {
    record[u.container] = entry(u.to, u.id, u.configId, when);
  }
  for (const r of update.rebuilds) {
    record[r.container] = entry(r.image, r.id, r.configId, when);
  }
  const names = Object.keys(record).sort();
  return JSON.stringify(Object.fromEntries(names.map((n) => [n, record[n]])));
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
