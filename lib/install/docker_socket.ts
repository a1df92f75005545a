/**
 * On a containerd node, the Docker Engine beside it (k3s's default setup with
 * Docker for builds): which socket `install` mounts for the bridge, found on
 * the node itself and checked to answer, said in one step line.
 */
import { ExitCode, UserError } from "../util/errors.ts";
import { DockerEngine } from "../engine/docker.ts";
import { DEFAULT_DOCKER_SOCKET } from "../engine/sockets.ts";
import { NO_DOCKER_SOCKET } from "./manifest.ts";

/**
 * The Docker Engine socket beside the node's containerd, or undefined: the
 * one --docker-socket names (which must answer), else the default one when
 * Docker answers there. Says what it found in one line.
 */
export async function findDockerSocket(
  asked: string | undefined,
  io: {
    readonly say: (line: string) => void;
    readonly getEnv?: (name: string) => string | undefined;
    /** Where Docker's socket is by default (tests use another path). */
    readonly defaultPath?: string;
  },
): Promise<string | undefined> {
  const say = io.say;
  if (asked === NO_DOCKER_SOCKET) {
    say("No Docker socket (--docker-socket none): veryfreshpod sees the images in containerd");
    return undefined;
  }
  const path = asked ?? io.defaultPath ?? DEFAULT_DOCKER_SOCKET;
  const notThere = `the installed veryfreshpod sees only the images in containerd`;
  if (!isSocket(path)) {
    if (asked === undefined) {
      say(`No Docker Engine socket at ${path}: ${notThere} (--docker-socket PATH names another)`);
      return undefined;
    }
    throw new UserError(
      `No socket at "${path}" (--docker-socket): give the path of the socket the node's ` +
        "Docker Engine listens on, or --docker-socket none",
      ExitCode.engine,
    );
  }
  const engine = DockerEngine.create({
    host: `unix://${path}`,
    ...(io.getEnv === undefined ? {} : { getEnv: io.getEnv }),
  });
  let version: string | undefined;
  try {
    version = (await engine.client.negotiate()).version;
  } catch (error) {
    if (asked !== undefined || !(error instanceof UserError)) throw error;
    say(`Cannot use Docker at ${path} (${error.message}): ${notThere}`);
    return undefined;
  } finally {
    engine.close();
  }
  say(
    `Docker Engine${version ? ` ${version}` : ""} at ${path}: mounting it too; the installed ` +
      "veryfreshpod copies each build a workload uses into the node's containerd",
  );
  return path;
}

/** True when `path` is a unix socket (not a missing file, not a directory). */
function isSocket(path: string): boolean {
  try {
    return Deno.statSync(path).isSocket === true;
  } catch {
    return false;
  }
}
