/**
 * `veryfreshpod run`: the watch loop. Builds the real parts from flags and
 * environment, then hands them to the Controller until SIGINT/SIGTERM.
 */
import "../util/quiet_deprecations.ts";
import { DEFAULT_CONTAINERD_NAMESPACE, DEFAULT_SOCKET, RUNTIMES } from "../engine/sockets.ts";
import { Controller, defineControllerMetrics } from "../loop/controller.ts";
import { DockerEngine } from "../engine/docker.ts";
import type { Engine } from "../engine/engine.ts";
import { imagesOfUpdates } from "../bridge/bridge.ts";
import { BRIDGE_MODES, keepImagesInUse, startBridge } from "../bridge/setup.ts";
import { serveHealth } from "../loop/health.ts";
import { logger, setupLogging } from "../util/log.ts";
import { Metrics } from "../util/metrics.ts";
import { DEFAULT_EXCLUDED_NAMESPACES } from "../decision/plan.ts";
import { VERSION } from "../util/version.ts";
import { checkCluster } from "../kube/cluster.ts";
import { loadKubeConfig } from "../kube/config.ts";
import { kubeClient } from "../kube/rest.ts";
import { EventRecorder } from "../kube/events.ts";
import { WORKLOAD_KINDS } from "../kube/kinds.ts";
import { labelSelectorProblem } from "../kube/label_selector.ts";
import { ClusterSide } from "../kube/kube_side.ts";
import { WorkloadPatcher } from "../kube/patcher.ts";
import { WorkloadIndex } from "../kube/workload_index.ts";
import { WorkloadWatcher } from "../kube/watcher.ts";
import { RUN_FLAGS } from "./flag_tables.ts";
import { startRegistry } from "../registry/setup.ts";
import { type ClusterRegistry, parseRegistryFlag } from "../registry/which.ts";
import { ContainerdImageSource } from "../registry/image_source.ts";
import { errorMessage } from "../util/errors.ts";
import { RolloutFollower, SYSTEM_CLOCK } from "../rollout/follower.ts";
import { defineRolloutMetrics } from "../rollout/rollout_reporter.ts";
import { followRequest } from "../rollout/follow_request.ts";
import { KubeRolloutReader } from "../rollout/kube_reader.ts";
import { ClusterPodSource } from "../rollout/pod_source.ts";
import { PodWatch } from "../rollout/pod_store.ts";
import { watchedWorkloads } from "../rollout/watched_workloads.ts";
import {
  choiceFlag,
  type Command,
  commandHelp,
  flagOrigin,
  invalidFlag,
  kubeFlags,
  listFlag,
  loggingFlags,
  parseFlags,
  stringFlag,
} from "./flags.ts";

const log = logger();

const HELP = commandHelp(
  RUN_FLAGS,
  `Watch the node's container engine and update every workload that runs another
tag of an image that was just built, tagged, pulled or loaded.`,
);

export const runCommand: Command = {
  name: "run",
  help: HELP,
  async run(args, context) {
    const flags = parseFlags(RUN_FLAGS, args, context.env);
    if (flags.help) {
      context.stdout(HELP + "\n");
      return 0;
    }
    const logging = loggingFlags("run", flags);
    const resyncSeconds = Number(stringFlag(flags, "resync-period") ?? "3");
    if (!(resyncSeconds > 0 && resyncSeconds <= 3600)) {
      throw invalidFlag("run", flags, "resync-period", "must be 0 < seconds <= 3600");
    }
    const apiTimeout = Number(stringFlag(flags, "api-timeout") ?? "60");
    if (!(apiTimeout >= 2 && apiTimeout <= 3600)) {
      throw invalidFlag("run", flags, "api-timeout", "must be 2 <= seconds <= 3600");
    }
    const rolloutTimeout = Number(stringFlag(flags, "rollout-timeout") ?? "120");
    if (!(rolloutTimeout > 0 && rolloutTimeout <= 86_400)) {
      throw invalidFlag("run", flags, "rollout-timeout", "must be 0 < seconds <= 86400");
    }
    const namespaces = listFlag(flags, "namespace");
    const labelSelector = stringFlag(flags, "selector");
    const selectorProblem = labelSelector === undefined
      ? undefined
      : labelSelectorProblem(labelSelector);
    if (selectorProblem !== undefined) {
      throw invalidFlag("run", flags, "selector", selectorProblem);
    }
    const dryRun = flags["dry-run"] === true;
    const registryFlag = stringFlag(flags, "registry");
    let namedRegistry: ClusterRegistry | undefined;
    try {
      namedRegistry = registryFlag === undefined
        ? undefined
        : parseRegistryFlag(registryFlag, flagOrigin(flags, "registry"));
    } catch (error) {
      throw invalidFlag("run", flags, "registry", errorMessage(error));
    }
    setupLogging(logging);

    const runtime = choiceFlag("run", flags, "runtime", RUNTIMES, "docker");
    const bridgeMode = choiceFlag("run", flags, "bridge", BRIDGE_MODES, "auto");
    const docker = runtime === "docker"
      ? DockerEngine.create({
        host: stringFlag(flags, "docker-host"),
        getEnv: context.env,
        os: context.os,
      })
      : undefined;
    // gRPC (~30 MiB resident) is loaded only for containerd.
    const engine: Engine = docker ??
      (await import("../engine/containerd.ts")).ContainerdEngine.create({
        socket: stringFlag(flags, "containerd-socket"),
        namespace: stringFlag(flags, "containerd-namespace"),
      });
    // Closed however run ends, a failed start included.
    using _closeEngine = { [Symbol.dispose]: () => engine.close() };
    // Closed however run ends, as the engine.
    await using kube = await kubeClient(
      loadKubeConfig({ ...kubeFlags(flags), env: context.env }),
      { apiTimeoutMs: apiTimeout * 1000 },
    );
    const server = kube.server;
    // Fail fast, in one line, when either side is unreachable.
    await engine.connect();
    const serverVersion = await checkCluster(kube);
    log.info("veryfreshpod {version} started; cluster {server} ({serverVersion})", {
      version: VERSION,
      server,
      serverVersion,
      dryRun,
    });
    if (dryRun) log.info("Dry run: changes are logged, nothing is changed");
    // The registry the nodes pull from: named, or announced by the cluster.
    const pusher = await startRegistry({
      kube,
      named: namedRegistry,
      env: context.env,
      source: async () =>
        docker !== undefined
          ? (await import("../registry/docker_source.ts")).dockerEngineSource(docker.client)
          : new ContainerdImageSource(
            new (await import("../registry/containerd_store.ts")).ContainerdContentStore(
              stringFlag(flags, "containerd-socket") ?? DEFAULT_SOCKET.containerd,
              stringFlag(flags, "containerd-namespace") ?? DEFAULT_CONTAINERD_NAMESPACE,
            ),
          ),
    });
    // Builds in Docker, nodes on containerd: copy images to the nodes before patching.
    const bridge = docker !== undefined && bridgeMode !== "off" && !dryRun
      ? await startBridge({
        kube,
        engine: docker,
        socket: stringFlag(flags, "containerd-socket"),
        hostname: Deno.hostname(),
        registry: pusher?.registry.host,
        // The installed pod learns its node's name from the downward API (NODE_NAME).
        always: bridgeMode === "always"
          ? { node: context.env("NODE_NAME") ?? Deno.hostname() }
          : undefined,
      })
      : undefined;

    const index = new WorkloadIndex();
    const scopes = (namespaces.length > 0 ? namespaces : [undefined]).flatMap((namespace) =>
      WORKLOAD_KINDS.map((info) => ({ info, namespace, labelSelector }))
    );
    const watcher = new WorkloadWatcher(kube, index, scopes);
    const metrics = new Metrics();
    defineControllerMetrics(metrics);
    const events = new EventRecorder(kube, context.env("HOSTNAME") ?? Deno.hostname());
    defineRolloutMetrics(metrics);
    // Every applied patch starts a rollout; the follower says in one line how it ends,
    // from the watch's index and one shared pod watch (started by the first follow).
    const pods = new PodWatch(
      new ClusterPodSource(kube),
      namespaces.length > 0 ? namespaces : [undefined],
      context.signal,
    );
    const follower = new RolloutFollower(
      {
        workloads: watchedWorkloads(index),
        pods,
        logs: new KubeRolloutReader(kube),
        events,
        metrics,
        clock: SYSTEM_CLOCK,
      },
      { timeoutMs: rolloutTimeout * 1000 },
      context.signal,
    );
    const patcher = new WorkloadPatcher(kube, events, {
      dryRun,
      onApplied: (update, patched, at) => follower.follow(followRequest(update, patched, at)),
    });
    // The defaults stay excluded unless named with --namespace.
    const excludeNamespaces = [
      ...DEFAULT_EXCLUDED_NAMESPACES.filter((ns) => !namespaces.includes(ns)),
      ...listFlag(flags, "exclude-namespace"),
    ];
    const planOptions = {
      namespaces,
      excludeNamespaces,
      optIn: flags["opt-in"] === true,
      registry: pusher?.planRegistry,
    };
    const controller = new Controller(
      {
        engine,
        kube: new ClusterSide(watcher, index, patcher),
        metrics,
        // A restart in the middle of a follow still ends in a verdict.
        onSynced: () => void follower.resume(index.values()),
        ...((bridge || (pusher && !dryRun)) && {
          beforePatch: async (updates, snapshot) => {
            const learned = await bridge?.ensure(
              imagesOfUpdates(updates, snapshot),
              context.signal,
            );
            // A dry run pushes nothing: its log shows the updates unpinned.
            if (!dryRun) await pusher?.ensure(updates, context.signal);
            return learned;
          },
        }),
      },
      {
        plan: planOptions,
        resyncMs: resyncSeconds * 1000,
      },
    );
    const healthAddress = stringFlag(flags, "health-addr");
    if (healthAddress !== undefined) {
      serveHealth(healthAddress, {
        get ready() {
          return controller.ready;
        },
        metrics,
      }, context.signal);
      log.info("Serving /healthz, /readyz and /metrics on {address}", { address: healthAddress });
    }
    const keeping = bridge && docker
      ? keepImagesInUse(
        bridge,
        index,
        docker,
        planOptions,
        resyncSeconds * 1000,
        context.signal,
      )
      : undefined;
    try {
      await controller.run(context.signal);
      await keeping;
      await follower.settled();
      await pods.done();
    } finally {
      bridge?.close();
      pusher?.close();
    }
    log.info("Stopped");
    return 0;
  },
};
