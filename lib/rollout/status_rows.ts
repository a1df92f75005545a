/**
 * The rows of `veryfreshpod status`: for each container veryfreshpod changed in
 * a workload, what it set and when (from the workload's own annotations),
 * where that rollout stands (the same verdict the follower uses), and how many
 * of the workload's pods run the image it set. Pure, over objects read from
 * the cluster.
 */
import { imageKey, parseReference } from "../model/image_ref.ts";
import { kindInfo } from "../kube/kinds.ts";
import type { WorkloadKind } from "../model/workload.ts";
import { ROLLOUT_ANNOTATION } from "../model/plan_types.ts";
import { parseRecord } from "../decision/update_builder.ts";
import type { ContainerStatus, Pod, PodContainer, WorkloadObject } from "./objects.ts";
import { type ContainerRecord, parseUpdates, UPDATES_ANNOTATION } from "../model/record.ts";
import { failureText, problemText } from "./report.ts";
import { restoreTarget } from "../decision/restore_plan.ts";
import { probeProblem } from "./probe_failures.ts";
import { decide, type DecideContext, isNewPod, type SetImage } from "./verdict.ts";

/** Where a rollout stands, for the ROLLOUT column. */
export type RolloutState =
  | "done"
  | "in progress"
  | "failing"
  | "paused"
  | "deferred"
  | "replaced";

/** One row: one container of one workload. */
export interface StatusRow {
  readonly namespace: string;
  readonly kind: WorkloadKind;
  readonly name: string;
  readonly container: string;
  /** The image veryfreshpod set. */
  readonly image: string;
  /** The image `veryfreshpod restore` would put back; undefined when it would leave it. */
  readonly original: string | undefined;
  readonly id: string | undefined;
  readonly configId: string | undefined;
  /** When it set it (ISO 8601); undefined for records older than the time was kept. */
  readonly at: string | undefined;
  readonly rollout: { readonly state: RolloutState; readonly detail: string | undefined };
  /** Pods that run the image it set, of all the workload's pods; undefined for a CronJob. */
  readonly pods: { readonly onImage: number; readonly total: number } | undefined;
}

/** True when a workload carries a record of veryfreshpod's (the rows would not be empty). */
export function hasRecord(kind: WorkloadKind, workload: WorkloadObject): boolean {
  return workload.metadata?.annotations?.[UPDATES_ANNOTATION] !== undefined ||
    templateOf(kind, workload)?.metadata?.annotations?.[ROLLOUT_ANNOTATION] !== undefined;
}

/**
 * The rows of one workload, given its pods (by its selector; a CronJob's: its
 * Jobs') at time `now`, and the pods' probe failures when read.
 */
export function statusRows(
  kind: WorkloadKind,
  workload: WorkloadObject,
  pods: readonly Pod[],
  now: number,
  context: DecideContext = {},
): StatusRow[] {
  const template = templateOf(kind, workload);
  const containers: PodContainer[] = [
    ...template?.spec?.initContainers ?? [],
    ...template?.spec?.containers ?? [],
  ];
  const records = recordsOf(workload, template?.metadata?.annotations, containers);
  const current = Object.entries(records).filter(([name, r]) =>
    containers.find((c) => c.name === name)?.image === r.image
  );
  const images: SetImage[] = current.map(([container, r]) => ({ container, image: r.image }));
  const target = {
    kind,
    generation: workload.metadata?.generation,
    images,
    rolloutAnnotation: template?.metadata?.annotations?.[ROLLOUT_ANNOTATION],
  };
  const verdict = decide(target, workload, pods, now, context);
  let rollout: StatusRow["rollout"];
  switch (verdict.state) {
    case "done": {
      const held = verdict.held && verdict.held.pods.length > 0
        ? `; ${verdict.held.pods.join(", ")} on the old build (${verdict.held.why})`
        : "";
      rollout = {
        state: "done",
        detail: verdict.job
          ? `Job ${verdict.job.name} succeeded`
          : `${verdict.ready}/${verdict.desired} ready${held}`,
      };
      break;
    }
    case "progressing": {
      // A probe that keeps failing is what it waits for.
      const probe = probeProblem(pods.filter((p) => isNewPod(p, target)), context.probeEvents);
      rollout = {
        state: "in progress",
        detail: `${verdict.ready}/${verdict.desired} ready` +
          (probe
            ? `; waiting for ${problemText(probe)}`
            : verdict.waitingFor
            ? `; waiting for ${verdict.waitingFor}`
            : ""),
      };
      break;
    }
    case "paused":
      rollout = {
        state: "paused",
        detail: `kubectl rollout resume deployment/${workload.metadata?.name ?? ""} -n ${
          workload.metadata?.namespace ?? ""
        }`,
      };
      break;
    case "deferred":
      rollout = { state: "deferred", detail: verdict.why };
      break;
    case "failed":
      rollout = {
        state: "failing",
        detail: (verdict.job ? `Job ${verdict.job.name}: ` : "") + failureText(verdict),
      };
  }
  const live = pods.filter((p) => !p.metadata?.deletionTimestamp);
  return Object.entries(records).map(([container, record]) => {
    const running = containers.find((c) => c.name === container)?.image;
    const restore = restoreTarget(record, running, "original");
    return {
      namespace: workload.metadata?.namespace ?? "",
      kind,
      name: workload.metadata?.name ?? "",
      container,
      image: record.image,
      original: restore.action === "restore" ? restore.to : undefined,
      id: record.id,
      configId: record.configId,
      at: record.at || undefined,
      rollout: running === record.image
        ? rollout
        : { state: "replaced", detail: `the workload now runs ${running ?? "no such container"}` },
      pods: kind === "CronJob" ? undefined : {
        onImage: live.filter((p) => runsImage(p, container, record)).length,
        total: live.length,
      },
    };
  });
}

/**
 * True when the pod's container runs the recorded image: started (or, for an
 * init container, done), the same reference, and the ID the kubelet reports is
 * the recorded one. Compared like with like:
 * a pod on containerd reports the config digest (`sha256:…`) or, for a pulled
 * image, `repo@<manifest digest>`; Docker nodes report Docker's image ID.
 */
export function runsImage(pod: Pod, container: string, record: ContainerRecord): boolean {
  const specs = [...pod.spec?.initContainers ?? [], ...pod.spec?.containers ?? []];
  if (specs.find((c) => c.name === container)?.image !== record.image) return false;
  const statuses: ContainerStatus[] = [
    ...pod.status?.initContainerStatuses ?? [],
    ...pod.status?.containerStatuses ?? [],
  ];
  const status = statuses.find((s) => s.name === container);
  // A container waiting to restart (a crash loop) does not run anything.
  const started = status?.state?.running !== undefined ||
    status?.state?.terminated?.exitCode === 0;
  const digest = reportedDigest(status?.imageID);
  if (!started || digest === undefined) return false;
  return digest === record.id || digest === record.configId;
}

/** The digest in a container status' imageID (`docker-pullable://repo@sha256:…`, `sha256:…`). */
export function reportedDigest(imageID: string | undefined): string | undefined {
  if (!imageID) return undefined;
  const bare = imageID.replace(/^[a-z-]+:\/\//, "");
  const at = bare.lastIndexOf("@");
  return at >= 0 ? bare.slice(at + 1) : bare;
}

// deno-lint-ignore no-explicit-any -- a pod template, walked by the kind's path
function templateOf(kind: WorkloadKind, workload: WorkloadObject): any {
  let template = workload.spec;
  for (const step of kindInfo(kind).templatePath) template = template?.[step];
  return template;
}

/**
 * The record, or for workloads rolled before it existed, what the rollout
 * annotation says: the containers whose tag it names, without a time.
 */
function recordsOf(
  workload: WorkloadObject,
  templateAnnotations: Record<string, string> | undefined,
  containers: readonly PodContainer[],
): Record<string, ContainerRecord> {
  const records = parseUpdates(workload.metadata?.annotations?.[UPDATES_ANNOTATION]);
  if (Object.keys(records).length > 0) return { ...records };
  const ids = parseRecord(templateAnnotations?.[ROLLOUT_ANNOTATION] ?? "") ?? {};
  const legacy: Record<string, ContainerRecord> = {};
  for (const c of containers) {
    if (!c.image) continue;
    let key: string | undefined;
    try {
      key = imageKey(parseReference(c.image));
    } catch {
      continue;
    }
    const id = key === undefined ? undefined : ids[key];
    if (id !== undefined) legacy[c.name] = { image: c.image, id, at: "" };
  }
  return legacy;
}
