/**
 * Carries out a restore (restore_plan.ts) on the cluster: one strategic-merge
 * patch per workload, with the workload's resourceVersion as a precondition,
 * as the patcher does for updates.
 */
import type { RestorePlan } from "../model/plan_types.ts";
import { RESTORED_ANNOTATION, UPDATES_ANNOTATION } from "../model/record.ts";
import { COMPONENT } from "./events.ts";
import { kindInfo, type KubeObject, objectPath } from "./kinds.ts";
import { workloadPatch } from "./patcher.ts";
import type { KubeClient } from "./rest.ts";

/**
 * The strategic-merge patch of one restore, made at `at`: the containers'
 * images, the record (null removes it), the pod-template annotation, the
 * restored mark, and the resourceVersion the plan was made from as a
 * precondition (a concurrent change is a 409 and a fresh plan).
 */
export function restoreBody(plan: RestorePlan, at: Date): ReturnType<typeof workloadPatch> {
  return workloadPatch(
    plan.workload,
    plan.resourceVersion,
    plan.restores.filter((r) => r.from !== r.to).map((r) => ({ ...r, image: r.to })),
    plan.rolloutAnnotation,
    { [UPDATES_ANNOTATION]: plan.updatesRecord, [RESTORED_ANNOTATION]: at.toISOString() },
  );
}

/** Patches the workload as `plan` says; API errors are thrown as they come (409 included). */
export async function patchRestore(
  client: KubeClient,
  plan: RestorePlan,
  at: Date,
): Promise<KubeObject> {
  const { kind, namespace, name } = plan.workload;
  return await client.json<KubeObject>("PATCH", objectPath(kindInfo(kind), namespace, name), {
    body: restoreBody(plan, at),
    contentType: "application/strategic-merge-patch+json",
    query: { fieldManager: COMPONENT },
  });
}
