/**
 * The parts of pods and workloads that rollout following reads, as plain data.
 * Both the client library's models (dates as Date) and raw JSON (dates as
 * strings) fit, so the pure decisions and their tests never depend on either.
 */

/** A timestamp as the API returns it: a string in JSON, a Date in client models. */
export type Timestamp = string | Date;

export interface ContainerStateTerminated {
  readonly exitCode?: number | undefined;
  readonly signal?: number | undefined;
  readonly reason?: string | undefined;
  readonly message?: string | undefined;
  /** When the run that ended began and ended: how long it lasted tells a crash at start. */
  readonly startedAt?: Timestamp | undefined;
  readonly finishedAt?: Timestamp | undefined;
}

export interface ContainerState {
  readonly waiting?: {
    readonly reason?: string | undefined;
    readonly message?: string | undefined;
  };
  readonly running?: { readonly startedAt?: Timestamp | undefined };
  readonly terminated?: ContainerStateTerminated | undefined;
}

export interface ContainerStatus {
  readonly name: string;
  readonly image?: string | undefined;
  readonly imageID?: string | undefined;
  readonly ready?: boolean | undefined;
  readonly restartCount?: number | undefined;
  readonly state?: ContainerState | undefined;
  readonly lastState?: ContainerState | undefined;
}

export interface Condition {
  readonly type: string;
  readonly status: string;
  readonly reason?: string | undefined;
  readonly message?: string | undefined;
  readonly lastTransitionTime?: Timestamp | undefined;
}

export interface PodContainer {
  readonly name: string;
  readonly image?: string | undefined;
  readonly imagePullPolicy?: string | undefined;
}

/** A pod, cut down to what the diagnosis and the verdict read. */
export interface Pod {
  readonly metadata?: {
    readonly name?: string | undefined;
    readonly namespace?: string | undefined;
    readonly annotations?: Record<string, string> | undefined;
    readonly labels?: Record<string, string> | undefined;
    readonly ownerReferences?: readonly { kind?: string; name?: string }[] | undefined;
    readonly deletionTimestamp?: Timestamp | undefined;
    readonly creationTimestamp?: Timestamp | undefined;
  } | undefined;
  readonly spec?: {
    readonly nodeName?: string | undefined;
    readonly containers?: readonly PodContainer[] | undefined;
    readonly initContainers?: readonly PodContainer[] | undefined;
  } | undefined;
  readonly status?: {
    readonly phase?: string | undefined;
    readonly reason?: string | undefined;
    readonly message?: string | undefined;
    readonly conditions?: readonly Condition[] | undefined;
    readonly containerStatuses?: readonly ContainerStatus[] | undefined;
    readonly initContainerStatuses?: readonly ContainerStatus[] | undefined;
  } | undefined;
}

/** A workload (Deployment, StatefulSet, DaemonSet, CronJob), cut down likewise. */
export interface WorkloadObject {
  readonly metadata?: {
    readonly name?: string | undefined;
    readonly namespace?: string | undefined;
    readonly generation?: number | undefined;
    readonly annotations?: Record<string, string> | undefined;
  } | undefined;
  // deno-lint-ignore no-explicit-any -- spec and status differ per kind; read by path
  readonly spec?: any;
  // deno-lint-ignore no-explicit-any
  readonly status?: any;
}

/** Milliseconds since the epoch of a timestamp, or undefined. */
export function timeOf(value: Timestamp | undefined): number | undefined {
  if (value === undefined) return undefined;
  const ms = value instanceof Date ? value.getTime() : Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}
