/**
 * Carries out the plan: one strategic-merge patch per workload, with the
 * workload's resourceVersion as a precondition so a concurrent writer causes a
 * 409 and a fresh plan instead of a silent overwrite. One attempt at a time,
 * classified (applied, conflict, worth a retry, gone, forbidden, failed); the
 * patch queue (patch_queue.ts) retries and runs many at once. A 403 is one
 * line. Every change is one log line and one Kubernetes Event.
 */
import { logger } from "../util/log.ts";
import { ROLLOUT_ANNOTATION, type WorkloadUpdate } from "../model/plan_types.ts";
import { recordUpdates, UPDATES_ANNOTATION } from "../model/record.ts";
import { apiMessage, apiStatus, forbiddenMessage, isRetryable } from "./api_errors.ts";
import { COMPONENT, type EventRecorder, type WorkloadEvent } from "./events.ts";
import { kindInfo, type KubeObject, objectPath } from "./kinds.ts";
import type { KubeClient } from "./rest.ts";
import { describeWorkload, type WorkloadKey } from "../model/workload.ts";

const log = logger("update");

export interface PatcherOptions {
  readonly dryRun: boolean;
  /** Told of every applied patch, with the object the API server returned (rollout following). */
  readonly onApplied?: (update: WorkloadUpdate, patched: KubeObject, at: number) => void;
}

/** One container's new image, for a patch. */
export interface ImagePatch {
  readonly container: string;
  readonly init: boolean;
  readonly image: string;
}

/**
 * A strategic-merge patch of one workload (pure): the container images by
 * name, the pod template's rollout annotation when given (null removes it),
 * the workload's own annotations, and its resourceVersion as a precondition.
 * The template sits under the kind's path (CronJobs keep it in jobTemplate).
 */
export function workloadPatch(
  workload: WorkloadKey,
  resourceVersion: string,
  images: readonly ImagePatch[],
  rolloutAnnotation: string | null | undefined,
  annotations: Record<string, string | null>,
): KubeObject & { apiVersion: string; kind: string; spec: unknown } {
  const info = kindInfo(workload.kind);
  const named = (init: boolean) =>
    images.filter((u) => u.init === init).map((u) => ({ name: u.container, image: u.image }));
  const [containers, initContainers] = [named(false), named(true)];
  const template: Record<string, unknown> = {};
  if (rolloutAnnotation !== undefined) {
    template.metadata = { annotations: { [ROLLOUT_ANNOTATION]: rolloutAnnotation } };
  }
  if (images.length > 0) {
    template.spec = {
      ...(containers.length > 0 ? { containers } : {}),
      ...(initContainers.length > 0 ? { initContainers } : {}),
    };
  }
  let spec: Record<string, unknown> = template;
  for (const step of [...info.templatePath].reverse()) spec = { [step]: spec };
  return {
    apiVersion: info.apiVersion,
    kind: workload.kind,
    metadata: {
      name: workload.name,
      namespace: workload.namespace,
      resourceVersion,
      annotations: annotations as Record<string, string>,
    },
    spec,
  };
}

/** The strategic-merge patch body for one update (pure; exported for tests). */
export function patchBody(
  update: WorkloadUpdate,
  at = new Date(),
): KubeObject & { apiVersion: string; kind: string; spec: unknown } {
  return workloadPatch(
    update.workload,
    update.resourceVersion,
    update.imageUpdates.map((u) => ({ container: u.container, init: u.init, image: u.to })),
    update.rolloutAnnotation,
    // What `veryfreshpod status` reads back: which image, which ID, when.
    { [UPDATES_ANNOTATION]: recordUpdates(update, at) },
  );
}

/** The log lines / event messages of one update, one per changed container. */
export function describeChanges(update: WorkloadUpdate): WorkloadEvent[] {
  const type = update.warnings.length > 0 ? "Warning" : "Normal";
  const suffix = update.warnings.length > 0 ? `; ${update.warnings.join("; ")}` : "";
  const base = { workload: update.workload, uid: undefined, resourceVersion: undefined, type };
  return [
    ...update.imageUpdates.map((u): WorkloadEvent => ({
      ...base,
      type,
      reason: "ImageUpdated",
      message: `${containerLabel(u)} "${u.container}" image ${u.from} -> ${u.to}${suffix}`,
    })),
    ...update.rebuilds.map((r): WorkloadEvent => ({
      ...base,
      type,
      reason: "ImageRebuilt",
      message: `${containerLabel(r)} "${r.container}" image ${r.image} was rebuilt ` +
        `(${shortId(r.previousId)} -> ${shortId(r.id)}): rolling the pods${suffix}`,
    })),
  ];
}

function containerLabel(change: { init: boolean }): string {
  return change.init ? "initContainer" : "container";
}

/** `sha256:0123456789ab`, or `unknown`. */
export function shortId(id: string | undefined): string {
  if (!id) return "unknown";
  const [algorithm, hex] = id.includes(":") ? id.split(":", 2) : ["sha256", id];
  return `${algorithm}:${(hex ?? "").slice(0, 12)}`;
}

/**
 * One attempt at one update, classified for the patch queue (patch_queue.ts),
 * which owns retries, concurrency and supersession.
 */
export type PatchAttempt =
  | {
    readonly result: "applied";
    /**
     * Records the applied change (its Kubernetes Events). The patch queue runs
     * it once no other patch is ready to go: a fan-out's rollouts start first,
     * their records follow.
     */
    readonly record?: () => Promise<void>;
  }
  | { readonly result: "dry-run" | "gone" | "forbidden" | "failed" }
  /** 409: someone changed the workload since it was read; plan it again. */
  | { readonly result: "conflict" }
  /** Throttled, a server error or no answer: worth trying again. */
  | { readonly result: "retry"; readonly error: string };

/** Applies updates to the cluster (or only logs them with --dry-run), one attempt at a time. */
export class WorkloadPatcher {
  readonly #client: KubeClient;
  readonly #events: EventRecorder;
  readonly #options: PatcherOptions;

  constructor(client: KubeClient, events: EventRecorder, options: PatcherOptions) {
    this.#client = client;
    this.#events = events;
    this.#options = options;
  }

  /** Patches once; an applied change is logged, and its Events are returned to record. */
  async attempt(update: WorkloadUpdate): Promise<PatchAttempt> {
    const workload = describeWorkload(update.workload);
    if (this.#options.dryRun) {
      this.#logChanges(update, true);
      return { result: "dry-run" };
    }
    let patched: KubeObject;
    try {
      const { name, namespace } = update.workload;
      patched = await this.#client.json<KubeObject>(
        "PATCH",
        objectPath(kindInfo(update.workload.kind), namespace, name),
        {
          body: patchBody(update),
          contentType: "application/strategic-merge-patch+json",
          query: { fieldManager: COMPONENT },
        },
      );
    } catch (error) {
      const status = apiStatus(error);
      if (status === 404) {
        log.debug("{workload} is gone; nothing to update", { workload });
        return { result: "gone" };
      }
      if (status === 403) {
        const info = kindInfo(update.workload.kind);
        log.error(forbiddenMessage({
          verb: "patch",
          resource: `${info.plural}.${info.group}`,
          namespace: update.workload.namespace,
        }));
        return { result: "forbidden" };
      }
      if (status === 409) return { result: "conflict" };
      if (!isRetryable(error)) {
        log.error("Cannot update {workload}: {error}", { workload, error: apiMessage(error) });
        return { result: "failed" };
      }
      return { result: "retry", error: apiMessage(error) };
    }
    this.#logChanges(update, false);
    const at = Date.now();
    this.#options.onApplied?.(update, patched, at);
    const record = async () => {
      for (const event of describeChanges(update)) {
        await this.#events.record({
          ...event,
          uid: patched.metadata?.uid,
          resourceVersion: patched.metadata?.resourceVersion,
          at,
        });
      }
    };
    return { result: "applied", record };
  }

  #logChanges(update: WorkloadUpdate, dryRun: boolean): void {
    const workload = describeWorkload(update.workload);
    const verb = dryRun ? "Would update" : "Updated";
    const fields = { ...update.workload, workload, dryRun };
    for (const u of update.imageUpdates) {
      log.info(`${verb} {workload} ${containerLabel(u)} {container}: {from} -> {to}`, {
        ...fields,
        action: "update",
        container: u.container,
        from: u.from,
        to: u.to,
      });
    }
    for (const r of update.rebuilds) {
      log.info(
        `${dryRun ? "Would roll" : "Rolled"} {workload} ${containerLabel(r)} {container}: ` +
          "{image} rebuilt, {from} -> {to}",
        {
          ...fields,
          action: "rebuild",
          container: r.container,
          image: r.image,
          from: shortId(r.previousId),
          to: shortId(r.id),
        },
      );
    }
    for (const warning of update.warnings) {
      log.warn("{workload}: {warning}", { workload, warning });
    }
  }
}
