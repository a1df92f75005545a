/**
 * Every command's flags, one table each: the parser reads them, `--help`
 * prints them, and `deno task docs` writes them into the README (a unit test
 * fails when the README differs). Light on purpose: importing this loads no
 * client library.
 */
import {
  DEFAULT_CONTAINERD_NAMESPACE,
  DEFAULT_SOCKET,
  K3S_CONTAINERD_SOCKET,
  RUNTIMES,
} from "../engine/sockets.ts";
import type { FlagSpec, FlagTable } from "./flags.ts";

const KUBE: readonly FlagSpec[] = [
  {
    name: "kubeconfig",
    type: "string",
    value: "PATH",
    default: "$KUBECONFIG's existing files, else ~/.kube/config, else in-cluster",
    help: "kubeconfig file",
  },
  {
    name: "context",
    type: "string",
    value: "NAME",
    default: "the current context",
    help: "kubeconfig context to use",
  },
];

const LOGGING: readonly FlagSpec[] = [
  {
    name: "log-level",
    type: "string",
    value: "LEVEL",
    default: "info",
    help: "debug, info, warning or error",
  },
  {
    name: "log-format",
    type: "string",
    value: "FORMAT",
    default: "text",
    help: "text (one readable line per record) or json (JSON lines)",
  },
];

/** `-n` of the commands that read workloads veryfreshpod changed (status, restore). */
const WORKLOAD_NAMESPACES: FlagSpec = {
  name: "namespace",
  short: "n",
  type: "list",
  value: "NS",
  default: "all",
  help: "only workloads in NS (repeatable, or comma-separated)",
};

export const RUN_FLAGS: FlagTable = {
  command: "run",
  env: true,
  flags: [
    ...KUBE,
    {
      name: "runtime",
      type: "string",
      value: "NAME",
      default: "docker",
      help: `the node's container engine: ${RUNTIMES.join(" or ")}`,
    },
    {
      name: "docker-host",
      type: "string",
      value: "URL",
      default: `$DOCKER_HOST, else unix://${DEFAULT_SOCKET.docker}; ` +
        "on macOS, else Docker Desktop's ~/.docker/run/docker.sock",
      help: "Docker Engine address: unix:///path, tcp://host:port (TLS when $DOCKER_TLS_VERIFY " +
        "is set, certificates from $DOCKER_CERT_PATH) or https://host:port",
    },
    {
      name: "containerd-socket",
      type: "string",
      value: "PATH",
      default: DEFAULT_SOCKET.containerd,
      help: `containerd's socket (k3s: ${K3S_CONTAINERD_SOCKET}); with --runtime docker, ` +
        "the node's containerd that builds are copied to",
    },
    {
      name: "containerd-namespace",
      type: "string",
      value: "NS",
      default: `${DEFAULT_CONTAINERD_NAMESPACE}, the one Kubernetes uses`,
      help: "containerd namespace whose images count",
    },
    {
      name: "bridge",
      type: "string",
      value: "MODE",
      default: "auto",
      help: "auto: when the builds land in Docker and the nodes run containerd, copy each new " +
        "or rebuilt image a workload uses to the nodes before patching; always: copy to the " +
        "containerd at --containerd-socket without reading the nodes (the installed pod); " +
        "off: never",
    },
    {
      name: "registry",
      type: "string",
      value: "HOST",
      default: "the cluster's ConfigMap kube-public/local-registry-hosting, else none",
      help:
        "push each new or rebuilt tag that a workload pulls from registry HOST there, and pin " +
        "it by digest; HOST,from-runtime=HOST2 if the nodes call it HOST2",
    },
    {
      name: "namespace",
      short: "n",
      type: "list",
      value: "NS",
      default: "all",
      help: "only update workloads in NS (repeatable, or comma-separated)",
    },
    {
      name: "exclude-namespace",
      type: "list",
      value: "NS",
      help: "never update workloads in NS (repeatable, or comma-separated); kube-system, " +
        "kube-public, kube-node-lease and veryfreshpod always are, unless named with --namespace",
    },
    {
      name: "selector",
      short: "l",
      type: "string",
      value: "SELECTOR",
      default: "all",
      help: "only workloads whose labels match, as kubectl -l takes it: tier=web, " +
        "env in (dev,test), !legacy",
    },
    {
      name: "opt-in",
      type: "boolean",
      help: 'only update workloads annotated veryfreshpod.io/enabled: "true"',
    },
    {
      name: "dry-run",
      type: "boolean",
      help: "log what would change, change nothing",
    },
    {
      name: "health-addr",
      type: "string",
      value: "ADDR",
      default: "off",
      help: "serve /healthz, /readyz and /metrics (Prometheus text) on ADDR, e.g. :8081",
    },
    {
      name: "api-timeout",
      type: "string",
      value: "SECONDS",
      default: "60",
      help: "take a Kubernetes request or watch that stays silent this long for a dead " +
        "connection (a laptop that slept, a VPN that changed) and list again",
    },
    {
      name: "resync-period",
      type: "string",
      value: "SECONDS",
      default: "3",
      help: "re-read the image list this often without an event (some daemons emit none for " +
        "some builds)",
    },
    {
      name: "rollout-timeout",
      type: "string",
      value: "SECONDS",
      default: "120",
      help: "how long to follow a rollout that names no bound of its own (a Deployment's " +
        "progressDeadlineSeconds wins)",
    },
    ...LOGGING,
  ],
};

/** `manifest`'s flags, which `install` shares. */
const MANIFEST: readonly FlagSpec[] = [
  {
    name: "image",
    type: "string",
    value: "REF",
    default: "veryfreshpod:<version>, built from this executable by install, with " +
      "imagePullPolicy Never",
    help: "the image to run",
  },
  {
    name: "namespace",
    short: "n",
    type: "string",
    value: "NS",
    default: "veryfreshpod",
    help: "the namespace to install into",
  },
  {
    name: "runtime",
    type: "string",
    value: "RUNTIME",
    default: "docker; install: read from the Node status",
    help: `the node's container runtime, ${RUNTIMES.join(" or ")}`,
  },
  {
    name: "socket",
    type: "string",
    value: "PATH",
    default: `${DEFAULT_SOCKET.docker} or ${DEFAULT_SOCKET.containerd}; install on k3s: ` +
      K3S_CONTAINERD_SOCKET,
    help: "the runtime's socket on the node",
  },
  {
    name: "docker-socket",
    type: "string",
    value: "PATH|none",
    default: `manifest: none; install on a containerd node: ${DEFAULT_SOCKET.docker} when ` +
      "Docker answers there",
    help: "a Docker Engine socket on a containerd node: veryfreshpod watches it and copies its " +
      "builds into the node's containerd (both sockets mounted); none: only containerd",
  },
];

export const MANIFEST_FLAGS: FlagTable = { command: "manifest", flags: MANIFEST };

export const INSTALL_FLAGS: FlagTable = {
  command: "install",
  flags: [
    ...KUBE,
    ...MANIFEST,
    {
      name: "docker-host",
      type: "string",
      value: "URL",
      default: `$DOCKER_HOST, else unix://${DEFAULT_SOCKET.docker}`,
      help: "the node's Docker Engine, to import the image into",
    },
    {
      name: "executable",
      type: "string",
      value: "PATH",
      default: "the running one",
      help: "build the image from this veryfreshpod executable for Linux",
    },
    {
      name: "dry-run",
      type: "boolean",
      help: "show what would be done; change nothing (server-side dry run)",
    },
    ...LOGGING,
  ],
};

export const UNINSTALL_FLAGS: FlagTable = {
  command: "uninstall",
  flags: [
    ...KUBE,
    {
      name: "dry-run",
      type: "boolean",
      help: "show what would be deleted; delete nothing",
    },
    { name: "no-wait", type: "boolean", help: "return without waiting for the objects to be gone" },
    ...LOGGING,
  ],
};

export const STATUS_FLAGS: FlagTable = {
  command: "status",
  flags: [
    ...KUBE,
    WORKLOAD_NAMESPACES,
    {
      name: "output",
      short: "o",
      type: "string",
      value: "FORMAT",
      default: "table",
      help: "table (like kubectl's) or json",
    },
    ...LOGGING,
  ],
};

export const RESTORE_FLAGS: FlagTable = {
  command: "restore",
  arguments: "[KIND/NAME ...]",
  flags: [
    ...KUBE,
    WORKLOAD_NAMESPACES,
    {
      name: "selector",
      short: "l",
      type: "string",
      value: "SELECTOR",
      default: "all",
      help: "only workloads whose labels match, as kubectl -l takes it",
    },
    {
      name: "to-last",
      type: "boolean",
      help: "undo only veryfreshpod's last change of each container (back to the previous build)",
    },
    {
      name: "dry-run",
      type: "boolean",
      help: "show what would be restored; change nothing",
    },
    ...LOGGING,
  ],
};

export const VERSION_FLAGS: FlagTable = { command: "version", flags: [] };

/** Every table, in the order the README shows them. */
export const FLAG_TABLES: readonly FlagTable[] = [
  RUN_FLAGS,
  STATUS_FLAGS,
  RESTORE_FLAGS,
  INSTALL_FLAGS,
  UNINSTALL_FLAGS,
  MANIFEST_FLAGS,
];
