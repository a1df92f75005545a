/**
 * Carries out a restore (restore_plan.ts) on the cluster: one strategic-merge
 * patch per workload, with the workload's resourceVersion as a precondition,
 * as the patcher does for updates.
 */
import { ROLLOUT_ANNOTATION } from "../plan_types.ts";
import { RESTORED_ANNOTATION, type RestorePlan } from "../restore_plan.ts";
import { UPDATES_ANNOTATION } from "../rollout/record.ts";
import { COMPONENT } from "./events.ts";
import { kindInfo, type KubeObject, objectPath } from "./kinds.ts";
import type { KubeClient } from "./rest.ts";

/**
 * The strategic-merge patch of one restore, made at `at`: the containers'
 * images, the record (null removes it), the pod-template annotation, the
 * restored mark, and the resourceVersion the plan was made from as a
 * precondition (a concurrent change is a 409 and a fresh plan).
 */
export function restoreBody(plan: RestorePlan, at: Date): Record<string, unknown> {
  const info = kindInfo(plan.workload.kind);
  const changed = plan.restores.filter((r) => r.from !== r.to);
  const images = (init: boolean) =>
    changed.filter((r) => r.init === init).map((r) => ({ name: r.container, image: r.to }));
  const template: Record<string, unknown> = {};
  if (plan.rolloutAnnotation !== undefined) {
    template.metadata = { annotations: { [ROLLOUT_ANNOTATION]: plan.rolloutAnnotation } };
  }
  const [containers, initContainers] = [images(false), images(true)];
  if (changed.length > 0) {
    template.spec = {
      ...(containers.length > 0 ? { containers } : {}),
      ...(initContainers.length > 0 ? { initContainers } : {}),
    };
  }
  let spec: Record<string, unknown> = template;
  for (const step of [...info.templatePath].reverse()) spec = { [step]: spec };
  return {
    apiVersion: info.apiVersion,
    kind: plan.workload.kind,
    metadata: {
      name: plan.workload.name,
      namespace: plan.workload.namespace,
      resourceVersion: plan.resourceVersion,
      annotations: {
        [UPDATES_ANNOTATION]: plan.updatesRecord,
        [RESTORED_ANNOTATION]: at.toISOString(),
      },
    },
    spec,
  };
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
