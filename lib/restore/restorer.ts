/**
 * Restores one workload on the cluster (the `veryfreshpod restore` command
 * runs it for each): plans from the workload (restore_plan.ts), patches with
 * its resourceVersion as a precondition, plans again after a conflict, and
 * says what it did in one log line and one Event.
 */
import { logger } from "../util/log.ts";
import { apiStatus } from "../kube/api_errors.ts";
import type { WorkloadEvent } from "../kube/events.ts";
import type { KubeObject } from "../kube/kinds.ts";
import { describeWorkload, type TrackedWorkload, type WorkloadKey } from "../model/workload.ts";
import { describeRestores, planRestore, type RestoreMode } from "../decision/restore_plan.ts";
import type { RestorePlan } from "../model/plan_types.ts";

const log = logger("restore");

/** What restoring needs of the cluster; the command's talks to the API server. */
export interface RestoreCluster {
  /** The restore's patch (kube/restore_patch.ts); throws API errors (a 409 included). */
  patch(plan: RestorePlan, at: Date): Promise<KubeObject>;
  /** The workload as it is now; undefined when it is gone. */
  read(key: WorkloadKey): Promise<TrackedWorkload | undefined>;
  /** Records an Event on the workload; never throws. */
  event(event: WorkloadEvent): Promise<void>;
}

/** Conflicts re-read and re-planned before giving up: someone keeps changing the workload. */
const MAX_CONFLICTS = 5;

/**
 * Restores one workload (or says what it would do); true when it restored a
 * container. A 409 means the workload changed since it was read: it is read
 * and planned again. Other API errors are thrown as they come.
 */
export async function restoreWorkload(
  cluster: RestoreCluster,
  first: TrackedWorkload,
  mode: RestoreMode,
  dryRun: boolean,
  now: () => Date = () => new Date(),
): Promise<boolean> {
  let workload: TrackedWorkload | undefined = first;
  for (let attempt = 0;; attempt++) {
    const plan = workload && planRestore(workload, mode);
    if (plan === undefined) return false;
    if (plan.restores.length === 0 || dryRun) {
      report(plan, dryRun);
      return plan.restores.length > 0;
    }
    const what = describeWorkload(plan.workload);
    let patched: KubeObject;
    try {
      patched = await cluster.patch(plan, now());
    } catch (error) {
      const status = apiStatus(error);
      if (status === 404) {
        log.warn("{workload} is gone; nothing to restore", { workload: what });
        return false;
      }
      if (status === 409 && attempt < MAX_CONFLICTS) {
        workload = await cluster.read(plan.workload);
        continue;
      }
      throw error;
    }
    report(plan, false);
    await cluster.event({
      workload: plan.workload,
      uid: patched.metadata?.uid,
      resourceVersion: patched.metadata?.resourceVersion,
      reason: "ImageRestored",
      type: "Normal",
      message: `Restored by "veryfreshpod restore"${mode === "last" ? " --to-last" : ""}: ${
        describeRestores(plan.restores)
      }`,
    });
    return true;
  }
}

/** One line for the workload's restores, one per container left alone. */
function report(plan: RestorePlan, dryRun: boolean): void {
  const workload = describeWorkload(plan.workload);
  if (plan.restores.length > 0) {
    log.info(`${dryRun ? "Would restore" : "Restored"} {workload}: {restores}`, {
      ...plan.workload,
      workload,
      action: "restore",
      dryRun,
      restores: describeRestores(plan.restores),
    });
  }
  for (const left of plan.leftAlone) {
    log.warn(
      `Left {workload} ${left.init ? "initContainer" : "container"} {container} alone: {why}`,
      {
        ...plan.workload,
        workload,
        container: left.container,
        why: left.why,
      },
    );
  }
}
