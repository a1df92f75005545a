/**
 * Builders of pods and workloads for the rollout tests: a pod is described by
 * a few words of state, so each table row reads as the situation it tests.
 */
import { ROLLOUT_ANNOTATION } from "../model/plan_types.ts";
import type { ContainerStatus, Pod, WorkloadObject } from "./objects.ts";

export const NOW = Date.parse("2026-11-25T12:00:00Z");

/** A container status: running and ready unless `extra` says otherwise. */
export function cs(name: string, extra: Partial<ContainerStatus> = {}): ContainerStatus {
  return {
    name,
    image: "docker.io/library/app:v2",
    imageID: "sha256:c0nf19",
    ready: true,
    restartCount: 0,
    state: { running: { startedAt: "2026-11-25T11:59:00Z" } },
    ...extra,
  };
}

export const crashLoop = (exitCode: number, message?: string, reason = "Error") =>
  cs("web", {
    ready: false,
    restartCount: 3,
    state: { waiting: { reason: "CrashLoopBackOff", message: "back-off 40s restarting" } },
    lastState: { terminated: { exitCode, reason, message } },
  });

export const waiting = (reason: string, message?: string) =>
  cs("web", { ready: false, state: { waiting: { reason, message } } });

export interface PodOptions {
  name?: string;
  image?: string;
  pullPolicy?: string;
  statuses?: ContainerStatus[];
  initStatuses?: ContainerStatus[];
  ready?: boolean;
  phase?: string;
  reason?: string;
  message?: string;
  unschedulableSince?: number;
  record?: string;
  terminating?: boolean;
  node?: string;
}

/** A pod of container `web` (and init container `init` when initStatuses are given). */
export function pod(options: PodOptions = {}): Pod {
  const statuses = options.statuses ?? [cs("web")];
  const ready = options.ready ?? statuses.every((s) => s.ready);
  const conditions = options.unschedulableSince !== undefined
    ? [{
      type: "PodScheduled",
      status: "False",
      reason: "Unschedulable",
      message: "0/1 nodes are available: 1 Insufficient cpu.",
      lastTransitionTime: new Date(options.unschedulableSince).toISOString(),
    }]
    : [{ type: "PodScheduled", status: "True" }, {
      type: "Ready",
      status: ready ? "True" : "False",
    }];
  return {
    metadata: {
      name: options.name ?? "web-new-1",
      namespace: "dev",
      annotations: options.record ? { [ROLLOUT_ANNOTATION]: options.record } : {},
      ...(options.terminating ? { deletionTimestamp: "2026-11-25T11:59:59Z" } : {}),
    },
    spec: {
      nodeName: options.unschedulableSince !== undefined ? undefined : options.node ?? "node-1",
      containers: [{
        name: "web",
        image: options.image ?? "app:v2",
        imagePullPolicy: options.pullPolicy ?? "IfNotPresent",
      }],
      initContainers: options.initStatuses ? [{ name: "init", image: "init:v1" }] : [],
    },
    status: {
      phase: options.phase ?? (ready ? "Running" : "Pending"),
      reason: options.reason,
      message: options.message,
      conditions,
      containerStatuses: options.unschedulableSince !== undefined ? [] : statuses,
      initContainerStatuses: options.initStatuses ?? [],
    },
  };
}

/** An old pod, on the image before the update. */
export const oldPod = (name = "web-old-1") => pod({ name, image: "app:v1" });

/** A Deployment of `replicas`, with the given status fields. */
export function deployment(
  replicas: number,
  status: Record<string, unknown>,
  generation = 2,
): WorkloadObject {
  return {
    metadata: { name: "web", namespace: "dev", generation },
    spec: { replicas, progressDeadlineSeconds: 600 },
    status: { observedGeneration: generation, ...status },
  };
}
