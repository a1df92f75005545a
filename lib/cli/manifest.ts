/**
 * `veryfreshpod manifest`: prints the install manifest with the image, the
 * engine socket and the namespace filled in, for
 * `veryfreshpod manifest | kubectl apply -f -`. Talks to nothing. Also holds
 * the flags it shares with `install`.
 */
import type { ParseArgsOptionsConfig } from "node:util";
import { ExitCode } from "../errors.ts";
import {
  DEFAULT_HOST_SOCKET,
  DEFAULT_IMAGE,
  DEFAULT_NAMESPACE,
  type ManifestOptions,
  renderManifest,
  type Runtime,
  RUNTIMES,
  validateManifestOptions,
} from "../install/manifest.ts";
import { type Command, type FlagValues, parseFlags, stringFlag, usageError } from "./flags.ts";

/** Flags of `manifest` that `install` shares. */
export const MANIFEST_OPTIONS = {
  image: { type: "string" },
  namespace: { type: "string", short: "n" },
  runtime: { type: "string" },
  socket: { type: "string" },
} as const satisfies ParseArgsOptionsConfig;

export const MANIFEST_HELP =
  `  --image REF             the image to run (default: ${DEFAULT_IMAGE}, built from this
                          executable by install, with imagePullPolicy Never)
  -n, --namespace NS      the namespace to install into (default ${DEFAULT_NAMESPACE})
  --runtime RUNTIME       the node's container runtime, docker or containerd
                          (install default: read from the Node status)
  --socket PATH           the runtime's socket on the node (default:
                          ${DEFAULT_HOST_SOCKET.docker} or ${DEFAULT_HOST_SOCKET.containerd};
                          /run/k3s/containerd/containerd.sock on k3s)`;

const HELP = `Print the install manifest with the image, the engine socket and the
namespace filled in, to apply it yourself:

  veryfreshpod manifest | kubectl apply -f -

Usage: veryfreshpod manifest [flags]

Flags:
${MANIFEST_HELP}
  -h, --help              show this help`;

/** --runtime, or undefined when not given; a bad value is a usage error. */
export function runtimeFlag(command: string, flags: FlagValues): Runtime | undefined {
  const value = stringFlag(flags, "runtime");
  if (value === undefined) return undefined;
  if ((RUNTIMES as readonly string[]).includes(value)) return value as Runtime;
  throw usageError(
    command,
    `invalid value "${value}" for --runtime: must be one of ${RUNTIMES.join(", ")}`,
  );
}

/** The manifest options the flags ask for; throws a UserError for a bad value. */
export function manifestOptionsFromFlags(
  command: string,
  flags: FlagValues,
  runtime: Runtime,
  socket: string,
): ManifestOptions {
  const image = stringFlag(flags, "image");
  const options: ManifestOptions = {
    image: image ?? DEFAULT_IMAGE,
    // An image given by the user may come from a registry; the built one is only on the node.
    pullPolicy: image === undefined ? "Never" : "IfNotPresent",
    namespace: stringFlag(flags, "namespace") ?? DEFAULT_NAMESPACE,
    runtime,
    socket,
  };
  if (options.image === "" || options.namespace === "" || options.socket === "") {
    throw usageError(command, "--image, --namespace and --socket need a value");
  }
  validateManifestOptions(options);
  return options;
}

export const manifestCommand: Command = {
  name: "manifest",
  help: HELP,
  run(args, context) {
    const flags = parseFlags("manifest", args, MANIFEST_OPTIONS);
    if (flags.help) {
      context.stdout(HELP + "\n");
      return Promise.resolve(ExitCode.ok);
    }
    const runtime = runtimeFlag("manifest", flags) ?? "docker";
    const socket = stringFlag(flags, "socket") ?? DEFAULT_HOST_SOCKET[runtime];
    context.stdout(renderManifest(manifestOptionsFromFlags("manifest", flags, runtime, socket)));
    return Promise.resolve(ExitCode.ok);
  },
};
