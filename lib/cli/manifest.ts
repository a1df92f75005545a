/**
 * `veryfreshpod manifest`: prints the install manifest with the image, the
 * engine socket and the namespace filled in, for
 * `veryfreshpod manifest | kubectl apply -f -`. Talks to nothing. Also holds
 * the flags it shares with `install`.
 */
import { ExitCode } from "../util/errors.ts";
import { DEFAULT_SOCKET, type Runtime, RUNTIMES } from "../engine/sockets.ts";
import {
  DEFAULT_IMAGE,
  DEFAULT_NAMESPACE,
  type ManifestOptions,
  NO_DOCKER_SOCKET,
  renderManifest,
  validateManifestOptions,
} from "../install/manifest.ts";
import { MANIFEST_FLAGS } from "./flag_tables.ts";
import {
  choiceFlag,
  type Command,
  commandHelp,
  type FlagValues,
  parseFlags,
  stringFlag,
  usageError,
} from "./flags.ts";

const HELP = commandHelp(
  MANIFEST_FLAGS,
  `Print the install manifest with the image, the engine socket and the
namespace filled in, to apply it yourself:

  veryfreshpod manifest | kubectl apply -f -

On a containerd node with Docker beside it for builds, --docker-socket mounts
Docker's socket too: veryfreshpod then watches Docker and copies each build a
workload uses into the node's containerd.`,
);

/** --runtime, or undefined when not given; a bad value is a usage error. */
export function runtimeFlag(command: string, flags: FlagValues): Runtime | undefined {
  if (stringFlag(flags, "runtime") === undefined) return undefined;
  return choiceFlag(command, flags, "runtime", RUNTIMES, "docker");
}

/**
 * --docker-socket: a path, "none" (explicitly off), or undefined when not
 * given; an empty value is a usage error.
 */
export function dockerSocketFlag(command: string, flags: FlagValues): string | undefined {
  const value = stringFlag(flags, "docker-socket");
  if (value === "") throw usageError(command, "--docker-socket needs a path, or none");
  return value;
}

/** The manifest options the flags ask for; throws a UserError for a bad value. */
export function manifestOptionsFromFlags(
  command: string,
  flags: FlagValues,
  runtime: Runtime,
  socket: string,
  dockerSocket?: string,
): ManifestOptions {
  const image = stringFlag(flags, "image");
  const options: ManifestOptions = {
    image: image ?? DEFAULT_IMAGE,
    // An image given by the user may come from a registry; the built one is only on the node.
    pullPolicy: image === undefined ? "Never" : "IfNotPresent",
    namespace: stringFlag(flags, "namespace") ?? DEFAULT_NAMESPACE,
    runtime,
    socket,
    ...(dockerSocket === undefined || dockerSocket === NO_DOCKER_SOCKET ? {} : { dockerSocket }),
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
    const flags = parseFlags(MANIFEST_FLAGS, args);
    if (flags.help) {
      context.stdout(HELP + "\n");
      return Promise.resolve(ExitCode.ok);
    }
    const runtime = runtimeFlag("manifest", flags) ?? "docker";
    const socket = stringFlag(flags, "socket") ?? DEFAULT_SOCKET[runtime];
    const dockerSocket = dockerSocketFlag("manifest", flags);
    context.stdout(
      renderManifest(manifestOptionsFromFlags("manifest", flags, runtime, socket, dockerSocket)),
    );
    return Promise.resolve(ExitCode.ok);
  },
};
