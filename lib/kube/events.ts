/**
 * Records a Kubernetes Event on a workload veryfreshpod changed, so
 * `kubectl describe` and `kubectl get events` show who rolled it and why.
 * Failing to record one is logged, never fatal: the change itself is done.
 */
import { logger } from "../util/log.ts";
import { apiMessage, apiStatus } from "./api_errors.ts";
import { kindInfo } from "./kinds.ts";
import type { KubeClient } from "./rest.ts";
import type { WorkloadKey } from "../model/workload.ts";

const log = logger("kube");

export const COMPONENT = "veryfreshpod";

/** One event to record. */
export interface WorkloadEvent {
  readonly workload: WorkloadKey;
  /** The workload's uid and resourceVersion after the change, when known. */
  readonly uid: string | undefined;
  readonly resourceVersion: string | undefined;
  readonly reason:
    | "ImageUpdated"
    | "ImageRebuilt"
    | "RolloutFailed"
    | "RolledOut"
    | "ImageRestored";
  readonly type: "Normal" | "Warning";
  readonly message: string;
  /** When it happened (epoch ms), when that is before it is recorded; else now. */
  readonly at?: number;
}

/** Creates core/v1 Events in the workload's namespace. */
export class EventRecorder {
  readonly #client: KubeClient;
  readonly #instance: string;

  constructor(client: KubeClient, instance: string) {
    this.#client = client;
    this.#instance = instance;
  }

  /** Records the event; logs (does not throw) when that fails. */
  async record(event: WorkloadEvent): Promise<void> {
    const { workload } = event;
    const now = new Date(event.at ?? Date.now()).toISOString();
    try {
      await this.#client.json(
        "POST",
        `/api/v1/namespaces/${encodeURIComponent(workload.namespace)}/events`,
        {
          body: {
            apiVersion: "v1",
            kind: "Event",
            metadata: { generateName: `${workload.name}.`, namespace: workload.namespace },
            involvedObject: {
              apiVersion: kindInfo(workload.kind).apiVersion,
              kind: workload.kind,
              name: workload.name,
              namespace: workload.namespace,
              ...(event.uid ? { uid: event.uid } : {}),
              ...(event.resourceVersion ? { resourceVersion: event.resourceVersion } : {}),
            },
            reason: event.reason,
            message: event.message,
            type: event.type,
            count: 1,
            firstTimestamp: now,
            lastTimestamp: now,
            source: { component: COMPONENT, host: this.#instance },
            reportingComponent: COMPONENT,
            reportingInstance: this.#instance,
          },
        },
      );
    } catch (error) {
      const reason = apiStatus(error) === 403
        ? `Kubernetes refused to create events in namespace "${workload.namespace}" (403 ` +
          `Forbidden): grant "create" on "events"`
        : apiMessage(error);
      log.warn("Cannot record an event on {workload}: {error}", {
        workload: `${workload.kind} ${workload.namespace}/${workload.name}`,
        error: reason,
      });
    }
  }
}
