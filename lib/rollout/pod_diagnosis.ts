/**
 * Why a pod does not run: the one problem that explains it (a container that
 * crashes, an image the node cannot get, a pod no node takes) with what to do
 * about it, read from the pod's own status. Pure: the follower and `status`
 * both call it on pods they have read.
 */
import {
  type ContainerStateTerminated,
  type ContainerStatus,
  type Pod,
  type PodContainer,
  timeOf,
} from "./objects.ts";
import { registryPullHint } from "../registry/pull_help.ts";

/** How long a pod may stay unschedulable before that counts as a failure (a surge pod waits for room). */
export const UNSCHEDULABLE_GRACE_MS = 5_000;
/**
 * A container that restarts or ends with an error within this long of
 * starting is a crash of the build (a longer minReadySeconds widens it).
 */
export const CRASH_WINDOW_MS = 30_000;

/** How the pod's owner reads its containers' ends. */
export interface DiagnosisRules {
  /**
   * A container that exits 0 has failed: true for Deployments, StatefulSets and
   * DaemonSets, whose containers must keep running; false for a Job's pods.
   */
  readonly mustKeepRunning: boolean;
  /** A restart after a run shorter than this is a crash (CRASH_WINDOW_MS by default). */
  readonly crashWindowMs: number;
}

/** The rules for a workload's own pods. */
export const WORKLOAD_RULES: DiagnosisRules = {
  mustKeepRunning: true,
  crashWindowMs: CRASH_WINDOW_MS,
};

/** One problem that stops a pod from running. */
export interface PodProblem {
  readonly pod: string;
  readonly node: string | undefined;
  /** The container at fault; undefined for pod-level problems (unschedulable, evicted). */
  readonly container: string | undefined;
  /** Kubernetes' own word for it: CrashLoopBackOff, Error, ErrImageNeverPull, Unschedulable… */
  readonly reason: string;
  /** What happened, in words: `exited with code 1: cannot open config`. */
  readonly detail: string;
  /** What to do about it. */
  readonly hint: string;
  /** The exit code, when the container ended. */
  readonly exitCode: number | undefined;
  /** Where the container's log tells more: its current or its previous run. */
  readonly log: { readonly container: string; readonly previous: boolean } | undefined;
  /** How long the crashed run lasted, when the kubelet says (ms). */
  readonly ranMs?: number | undefined;
}

const PULL_FAILURES = new Set(["ErrImagePull", "ImagePullBackOff"]);
const CONFIG_FAILURES = new Set([
  "CreateContainerConfigError",
  "CreateContainerError",
  "RunContainerError",
  "StartError",
  "PreStartHookError",
  "PostStartHookError",
]);
const MAX_TEXT = 200;

/** The problem that keeps `pod` from running, or undefined when none is (yet) known. */
export function diagnosePod(
  pod: Pod,
  now: number,
  rules: DiagnosisRules = WORKLOAD_RULES,
): PodProblem | undefined {
  const name = pod.metadata?.name ?? "(unnamed)";
  const node = pod.spec?.nodeName || undefined;
  const base = { pod: name, node, exitCode: undefined, log: undefined };
  const status = pod.status ?? {};

  // Init containers run first: a failing one is why the others never start.
  // A failed pod's containers say why it failed better than the pod does.
  const specs = [...pod.spec?.initContainers ?? [], ...pod.spec?.containers ?? []];
  // An init container's job is to end: exit 0 is its success.
  const initRules = { ...rules, mustKeepRunning: false };
  for (
    const [container, containerRules] of [
      ...(status.initContainerStatuses ?? []).map((s) => [s, initRules] as const),
      ...(status.containerStatuses ?? []).map((s) => [s, rules] as const),
    ]
  ) {
    const spec = specs.find((s) => s.name === container.name);
    const problem = diagnoseContainer(container, spec, node, containerRules);
    if (problem) return { ...base, container: container.name, ...problem };
  }

  if (status.phase === "Failed") {
    const reason = status.reason ?? "Failed";
    return {
      ...base,
      container: undefined,
      reason,
      detail: `the pod failed${status.message ? `: ${oneLine(status.message)}` : ""}`,
      hint: reason === "Evicted"
        ? "the node ran short of a resource; free some or lower the pod's requests"
        : "see kubectl describe pod",
    };
  }

  const scheduled = status.conditions?.find((c) => c.type === "PodScheduled");
  if (scheduled?.status === "False" && scheduled.reason === "Unschedulable") {
    const since = timeOf(scheduled.lastTransitionTime) ?? now;
    if (now - since < UNSCHEDULABLE_GRACE_MS) return undefined;
    return {
      ...base,
      container: undefined,
      reason: "Unschedulable",
      detail: `cannot be scheduled: ${schedulerReason(scheduled.message)}`,
      hint: "free or add capacity, or relax the pod's requests, nodeSelector, affinity or " +
        "tolerations",
    };
  }
  return undefined;
}

/**
 * The scheduler's reason without what its post-filter plugins add, which only
 * says that evicting other pods or freeing resource claims would not help
 * either (`… no new claims to deallocate, preemption: 0/1 nodes are
 * available: 1 No preemption victims found for incoming pod.`, seen on the
 * real node, Kubernetes 1.34).
 */
export function schedulerReason(message: string | undefined): string {
  const text = oneLine(message ?? "no node fits", Infinity);
  const cut = text.search(/\s*preemption:/);
  const reason = (cut >= 0 ? text.slice(0, cut) : text)
    .replace(/\s*no new claims to deallocate,?/, "")
    .replace(/[\s,]*$/, "");
  return oneLine(reason || "no node fits");
}

type ContainerProblem = Omit<PodProblem, "pod" | "node" | "container">;

function diagnoseContainer(
  status: ContainerStatus,
  spec: PodContainer | undefined,
  node: string | undefined,
  rules: DiagnosisRules,
): ContainerProblem | undefined {
  const waiting = status.state?.waiting;
  const terminated = status.state?.terminated;
  const image = spec?.image ?? status.image ?? "the image";
  const onNode = node ? ` on node ${node}` : " on the node";
  const restarts = status.restartCount ?? 0;
  const restarted = restarts > 0 ? `, restarted ${plural(restarts, "time")}` : "";

  // The command is not in the image: the program never ran, and no log or restart will tell more.
  const unstartable = missingCommand(terminated?.message) ??
    missingCommand(waiting?.message) ??
    missingCommand(status.lastState?.terminated?.message);
  if (unstartable !== undefined) {
    return {
      reason: terminated?.reason ?? waiting?.reason ?? status.lastState?.terminated?.reason ??
        "StartError",
      detail: `the command ${unstartable.command} is not in the image ${image}, so the program ` +
        `never ran: ${unstartable.message}`,
      hint: "fix the image's ENTRYPOINT/CMD or the workload's command and args",
      exitCode: undefined,
      log: undefined,
    };
  }
  if (waiting?.reason === "CrashLoopBackOff") {
    const last = status.lastState?.terminated;
    return {
      reason: "CrashLoopBackOff",
      detail: exitText(last, restarted),
      hint: crashHint(last),
      exitCode: last?.exitCode,
      log: { container: status.name, previous: true },
      ranMs: runMs(last),
    };
  }
  if (
    terminated && terminated.exitCode !== undefined &&
    (terminated.exitCode !== 0 || rules.mustKeepRunning)
  ) {
    return {
      reason: terminated.reason ?? "Error",
      detail: exitText(terminated, restarted),
      hint: crashHint(terminated),
      exitCode: terminated.exitCode,
      log: { container: status.name, previous: false },
      ranMs: runMs(terminated),
    };
  }
  // Running (or starting) again after a crash: the build crashes, whatever this run does.
  const last = status.lastState?.terminated;
  if (
    restarts > 0 && last && (last.exitCode !== 0 || rules.mustKeepRunning) &&
    (runMs(last) ?? 0) < rules.crashWindowMs
  ) {
    return {
      reason: last.reason ?? "Error",
      detail: exitText(last, restarted),
      hint: crashHint(last),
      exitCode: last.exitCode,
      log: { container: status.name, previous: true },
      ranMs: runMs(last),
    };
  }
  if (waiting?.reason === "ErrImageNeverPull") {
    return {
      reason: "ErrImageNeverPull",
      detail: `image ${image} is not${onNode} and imagePullPolicy is Never`,
      hint: `build, load or import ${image} into the node's container engine ` +
        "(the one the kubelet uses), or point the workload at a tag the node has",
      exitCode: undefined,
      log: undefined,
    };
  }
  if (waiting?.reason !== undefined && PULL_FAILURES.has(waiting.reason)) {
    const always = spec?.imagePullPolicy === "Always";
    const fromRegistry = registryPullHint(image, node);
    return {
      reason: waiting.reason,
      detail: `cannot pull ${image}${waiting.message ? `: ${oneLine(waiting.message)}` : ""}`,
      hint: fromRegistry ??
        (always
          ? "imagePullPolicy is Always, so the kubelet pulls even an image that is on the node; " +
            "for a local build set imagePullPolicy to IfNotPresent or Never"
          : `${image} is not${onNode} and no registry serves it: build, load or import it into ` +
            "the node's container engine, or push it where the node can pull it"),
      exitCode: undefined,
      log: undefined,
    };
  }
  if (waiting?.reason === "InvalidImageName") {
    return {
      reason: "InvalidImageName",
      detail: `the image reference ${image} is not valid`,
      hint: "fix the image reference in the workload",
      exitCode: undefined,
      log: undefined,
    };
  }
  if (waiting?.reason !== undefined && CONFIG_FAILURES.has(waiting.reason)) {
    return {
      reason: waiting.reason,
      detail: `cannot start${waiting.message ? `: ${oneLine(waiting.message)}` : ""}`,
      hint: "fix what the message names (a missing ConfigMap or Secret, a bad command, a " +
        "volume)",
      exitCode: undefined,
      log: undefined,
    };
  }
  return undefined;
}

/**
 * The runtime's word that the container's command does not exist (or cannot
 * be run) in the image: `exec: "/bin/nope": stat /bin/nope: no such file or
 * directory`, as runc and Docker write it.
 */
export function missingCommand(
  message: string | undefined,
): { command: string; message: string } | undefined {
  if (!message) return undefined;
  const match = message.match(
    /exec: "([^"]*)": (?:stat [^:]*: )?(no such file or directory|executable file not found in \$PATH|permission denied)/,
  );
  if (!match) return undefined;
  return { command: match[1]!, message: match[0] };
}

/** How long a run that ended lasted, when the kubelet gives both times. */
function runMs(terminated: ContainerStateTerminated | undefined): number | undefined {
  const started = timeOf(terminated?.startedAt);
  const finished = timeOf(terminated?.finishedAt);
  return started === undefined || finished === undefined ? undefined : finished - started;
}

/** `exited with code 1 (OOMKilled), restarted 3 times: the termination message`. */
function exitText(terminated: ContainerStateTerminated | undefined, restarts = ""): string {
  if (!terminated) return `keeps exiting${restarts}`;
  const code = terminated.exitCode ?? "unknown";
  const reason = terminated.reason && !["Error", "Completed"].includes(terminated.reason)
    ? ` (${terminated.reason})`
    : "";
  const ran = runMs(terminated);
  const after = ran === undefined ? "" : ` after ${secondsOf(ran)} s`;
  const message = terminated.message?.trim() ? `: ${oneLine(terminated.message)}` : "";
  return `exited with code ${code}${reason}${after}${restarts}${message}`;
}

function crashHint(terminated: ContainerStateTerminated | undefined): string {
  if (terminated?.reason === "OOMKilled") {
    return "raise the container's memory limit, or use less memory";
  }
  if (terminated?.exitCode === 0) {
    return "the program ended by itself; a workload's container must keep running";
  }
  return "fix the program and build again";
}

/** Whole seconds, at least 0. */
function secondsOf(ms: number): number {
  return Math.max(0, Math.round(ms / 1000));
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

/**
 * What a pod still waits for, in a few words, for "in progress" lines:
 * `container web ContainerCreating`, `not ready`; undefined when it is ready.
 */
export function podWaitingFor(pod: Pod): string | undefined {
  const status = pod.status ?? {};
  const scheduled = status.conditions?.find((c) => c.type === "PodScheduled");
  if (scheduled?.status === "False") return `not scheduled: ${oneLine(scheduled.message ?? "")}`;
  for (
    const container of [...status.initContainerStatuses ?? [], ...status.containerStatuses ?? []]
  ) {
    const reason = container.state?.waiting?.reason;
    if (reason) return `container ${container.name} ${reason}`;
  }
  const ready = status.conditions?.find((c) => c.type === "Ready");
  if (ready?.status === "True") return undefined;
  const unready = (status.containerStatuses ?? []).find((c) => !c.ready);
  if (unready) return `container ${unready.name} not ready`;
  return status.phase === "Pending" ? "pending" : "not ready";
}

/** True when the pod counts as ready (its Ready condition is True). */
export function podReady(pod: Pod): boolean {
  return pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") ?? false;
}

/** Text on one line and of a bounded length: messages can be long and multi-line. */
export function oneLine(text: string, max = MAX_TEXT): string {
  // deno-lint-ignore no-control-regex -- control characters in a message must not reach a log line
  const flat = text.trim().replace(/\s*\n\s*/g, " / ").replace(/[\u0000-\u001f\u007f]/g, " ")
    .trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
