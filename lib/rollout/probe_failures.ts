/**
 * A probe that keeps failing, as the kubelet records it: Unhealthy Events on
 * the pod (`Readiness probe failed: cat: can't open '/etc/ready'…`), read only
 * when a rollout is stuck, and the pod problem they make. Pure.
 */
import { type Pod, timeOf } from "./objects.ts";
import { oneLine, type PodProblem, podReady } from "./pod_diagnosis.ts";

/** A probe failure the kubelet recorded as an Event on a pod (reason Unhealthy). */
export interface ProbeEvent {
  readonly pod: string;
  /** From the Event's fieldPath `spec.containers{web}`. */
  readonly container: string | undefined;
  /** `Readiness probe failed: cat: can't open '/etc/ready': No such file or directory`. */
  readonly message: string;
  /** How many times the kubelet saw it. */
  readonly count: number;
}

/** A new pod that runs but never gets ready because a probe keeps failing, from its Events. */
export function probeProblem(
  fresh: readonly Pod[],
  events: readonly ProbeEvent[] | undefined,
): PodProblem | undefined {
  if (!events || events.length === 0) return undefined;
  for (const pod of fresh) {
    if (podReady(pod)) continue;
    const name = pod.metadata?.name ?? "";
    const event = events.filter((e) => e.pod === name).at(-1);
    if (!event) continue;
    const message = oneLine(event.message);
    const probe = message.match(/^(\w+) probe/)?.[1]?.toLowerCase() ?? "a";
    const output = message.replace(/^\w+ probe (failed|errored):\s*/i, "");
    return {
      pod: name,
      node: pod.spec?.nodeName || undefined,
      container: event.container,
      reason: "Unhealthy",
      detail: `its ${probe} probe keeps failing (${event.count} ${
        event.count === 1 ? "time" : "times"
      }): ${output}`,
      hint: `fix what the ${probe} probe checks, or the probe`,
      exitCode: undefined,
      log: undefined,
    };
  }
  return undefined;
}

/** A core/v1 Event, as far as a probe failure reads it. */
export interface CoreEvent {
  readonly involvedObject?: { readonly name?: string; readonly fieldPath?: string };
  readonly message?: string;
  readonly count?: number;
  readonly series?: { readonly count?: number };
  readonly lastTimestamp?: string | null;
  readonly eventTime?: string | null;
  readonly firstTimestamp?: string | null;
}

/** The probe failures of the `wanted` pods, oldest first. */
export function probeEventsOf(
  events: readonly CoreEvent[],
  wanted: ReadonlySet<string>,
): ProbeEvent[] {
  const when = (e: CoreEvent) =>
    timeOf(e.lastTimestamp ?? e.eventTime ?? e.firstTimestamp ?? undefined) ?? 0;
  return events
    .filter((e) => wanted.has(e.involvedObject?.name ?? "") && e.message)
    .sort((a, b) => when(a) - when(b))
    .map((e) => ({
      pod: e.involvedObject?.name ?? "",
      container: e.involvedObject?.fieldPath?.match(/\{([^}]+)\}/)?.[1],
      message: e.message ?? "",
      count: e.series?.count ?? e.count ?? 1,
    }));
}
