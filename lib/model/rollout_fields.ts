/**
 * The few fields of a workload that tell how its rollout stands (what
 * lib/rollout/verdict.ts reads), picked out of a whole object so that the
 * watch loop's index can keep them without the rest of the status: the
 * follower then decides from the index, with no request of its own.
 */

/** A LabelSelector as the API writes it. */
export interface LabelSelector {
  readonly matchLabels?: Readonly<Record<string, string>> | undefined;
  readonly matchExpressions?:
    | ReadonlyArray<{
      readonly key: string;
      readonly operator: string;
      readonly values?: readonly string[] | undefined;
    }>
    | undefined;
}

/** A status condition, without its timestamps. */
export interface RolloutCondition {
  readonly type: string;
  readonly status: string;
  readonly reason?: string | undefined;
  readonly message?: string | undefined;
}

/** What the verdict reads of a Deployment, StatefulSet or DaemonSet. */
export interface RolloutFields {
  readonly generation: number | undefined;
  readonly spec: {
    readonly replicas?: number | undefined;
    readonly selector?: LabelSelector | undefined;
    readonly progressDeadlineSeconds?: number | undefined;
    /** A paused Deployment rolls nothing until resumed. */
    readonly paused?: boolean | undefined;
    /** How long a new pod must be ready to count: the crash window is at least this. */
    readonly minReadySeconds?: number | undefined;
    /** A Deployment's strategy: whether a surge pod needs room of its own. */
    readonly strategy?: {
      readonly type?: string | undefined;
      readonly rollingUpdate?: { readonly maxSurge?: number | string | undefined } | undefined;
    } | undefined;
    /** A CronJob's schedule and time zone (its next run) and its Jobs' pod labels. */
    readonly schedule?: string | undefined;
    readonly timeZone?: string | undefined;
    readonly jobPodLabels?: Readonly<Record<string, string>> | undefined;
    readonly updateStrategy?: {
      readonly type?: string | undefined;
      readonly rollingUpdate?: { readonly partition?: number | undefined } | undefined;
    } | undefined;
  };
  /** Only the counters and revisions the verdict compares, and failure conditions. */
  readonly status: Readonly<Record<string, number | string | readonly RolloutCondition[]>>;
}

const NUMBERS = [
  "observedGeneration",
  "replicas",
  "updatedReplicas",
  "availableReplicas",
  "readyReplicas",
  "desiredNumberScheduled",
  "updatedNumberScheduled",
  "numberAvailable",
] as const;
const STRINGS = ["updateRevision", "currentRevision"] as const;

/**
 * The rollout fields of `object` (raw JSON or a client model). A CronJob has
 * no status to follow: its schedule, time zone and Jobs' pod labels instead.
 */
export function rolloutFields(
  kind: string,
  // deno-lint-ignore no-explicit-any -- spec and status differ per kind; read by name
  object: { metadata?: { generation?: number | undefined } | undefined; spec?: any; status?: any },
): RolloutFields | undefined {
  const spec = object.spec ?? {};
  if (kind === "CronJob") {
    const labels = spec.jobTemplate?.spec?.template?.metadata?.labels;
    return {
      generation: typeof object.metadata?.generation === "number"
        ? object.metadata.generation
        : undefined,
      spec: {
        ...(typeof spec.schedule === "string" && { schedule: spec.schedule }),
        ...(typeof spec.timeZone === "string" && { timeZone: spec.timeZone }),
        ...(labels && typeof labels === "object" && { jobPodLabels: { ...labels } }),
      },
      status: {},
    };
  }
  const status = object.status ?? {};
  const kept: Record<string, number | string | readonly RolloutCondition[]> = {};
  for (const name of NUMBERS) if (typeof status[name] === "number") kept[name] = status[name];
  for (const name of STRINGS) if (typeof status[name] === "string") kept[name] = status[name];
  const failing = failureConditions(status.conditions);
  if (failing.length > 0) kept.conditions = failing;
  const strategy = spec.updateStrategy;
  const partition = strategy?.rollingUpdate?.partition;
  return {
    generation: typeof object.metadata?.generation === "number"
      ? object.metadata.generation
      : undefined,
    spec: {
      ...(typeof spec.replicas === "number" && { replicas: spec.replicas }),
      ...(spec.selector && { selector: copySelector(spec.selector) }),
      ...(typeof spec.progressDeadlineSeconds === "number" &&
        { progressDeadlineSeconds: spec.progressDeadlineSeconds }),
      ...(spec.paused === true && { paused: true }),
      ...(typeof spec.minReadySeconds === "number" && spec.minReadySeconds > 0 &&
        { minReadySeconds: spec.minReadySeconds }),
      ...(kind === "Deployment" && spec.strategy && {
        strategy: {
          type: spec.strategy.type,
          ...(spec.strategy.rollingUpdate?.maxSurge !== undefined &&
            { rollingUpdate: { maxSurge: spec.strategy.rollingUpdate.maxSurge } }),
        },
      }),
      ...(strategy && {
        updateStrategy: {
          type: strategy.type,
          ...(typeof partition === "number" && { rollingUpdate: { partition } }),
        },
      }),
    },
    status: kept,
  };
}

/**
 * Only the conditions that say a rollout cannot go on (a Deployment's
 * ProgressDeadlineExceeded, ReplicaFailure): the healthy ones are never read.
 */
function failureConditions(conditions: unknown): RolloutCondition[] {
  if (!Array.isArray(conditions)) return [];
  return conditions
    .filter((c) =>
      (c?.type === "Progressing" && c.status === "False") ||
      (c?.type === "ReplicaFailure" && c.status === "True")
    )
    .map((c) => ({ type: c.type, status: c.status, reason: c.reason, message: c.message }));
}

function copySelector(selector: LabelSelector): LabelSelector {
  return {
    ...(selector.matchLabels && { matchLabels: { ...selector.matchLabels } }),
    ...(selector.matchExpressions && {
      matchExpressions: selector.matchExpressions.map((e) => ({
        key: e.key,
        operator: e.operator,
        ...(e.values && { values: [...e.values] }),
      })),
    }),
  };
}

/** True when `labels` satisfy `selector`; an empty or missing selector selects nothing here. */
export function selectorMatches(
  selector: LabelSelector | undefined,
  labels: Readonly<Record<string, string>> | undefined,
): boolean {
  if (!selector) return false;
  const have = labels ?? {};
  const matchLabels = Object.entries(selector.matchLabels ?? {});
  const expressions = selector.matchExpressions ?? [];
  // Never every pod: a workload without a selector has none of its own.
  if (matchLabels.length === 0 && expressions.length === 0) return false;
  for (const [key, value] of matchLabels) if (have[key] !== value) return false;
  for (const { key, operator, values = [] } of expressions) {
    const present = Object.hasOwn(have, key);
    switch (operator) {
      case "In":
        if (!present || !values.includes(have[key]!)) return false;
        break;
      case "NotIn":
        if (present && values.includes(have[key]!)) return false;
        break;
      case "Exists":
        if (!present) return false;
        break;
      case "DoesNotExist":
        if (present) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}
