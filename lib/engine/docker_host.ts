/**
 * Where the Docker daemon is: `--docker-host`, else `DOCKER_HOST`, else the
 * default socket. Only plain transports are supported (a unix socket, or TCP
 * without TLS); every other form is refused here with a one-line message, so a
 * typo never turns into a confusing connection error later.
 */
import { ExitCode, UserError } from "../errors.ts";

export const DEFAULT_DOCKER_SOCKET = "/var/run/docker.sock";
export const DEFAULT_DOCKER_HOST = `unix://${DEFAULT_DOCKER_SOCKET}`;
/** The port the docker CLI assumes for `tcp://host` without a port. */
const DEFAULT_TCP_PORT = 2375;

/** A parsed Docker host. `url` is the canonical spelling, for log lines. */
export type DockerHost =
  | { readonly transport: "unix"; readonly path: string; readonly url: string }
  | {
    readonly transport: "tcp";
    readonly hostname: string;
    readonly port: number;
    readonly url: string;
  };

/** What a bad value is called in messages: the flag or the variable. */
export type DockerHostSource = "--docker-host" | "DOCKER_HOST";

const EXPECTED = "expected unix:///path/to/docker.sock or tcp://host:port";

/**
 * Parses `unix:///path`, `tcp://host[:port]` or `http://host[:port]` (the same
 * thing spelled as a URL). Throws a UserError for anything else.
 */
export function parseDockerHost(
  text: string,
  source: DockerHostSource = "--docker-host",
): DockerHost {
  const invalid = (why: string) =>
    new UserError(`Invalid ${source} "${text}": ${why}`, ExitCode.usage);
  const trimmed = text.trim();
  const schemeEnd = trimmed.indexOf("://");
  if (schemeEnd < 0) {
    // The docker CLI reads a bare value as tcp; a bare path is the common
    // mistake, so point at the spelling that was probably meant.
    const hint = trimmed.startsWith("/") ? ` (did you mean unix://${trimmed}?)` : "";
    throw invalid(`${EXPECTED}${hint}`);
  }
  const scheme = trimmed.slice(0, schemeEnd).toLowerCase();
  const rest = trimmed.slice(schemeEnd + 3);
  switch (scheme) {
    case "unix":
      return parseUnix(rest, invalid);
    case "tcp":
    case "http":
      return parseTcp(rest, invalid);
    case "https":
      throw invalid("TLS connections to Docker are not supported; use the unix socket on the node");
    case "ssh":
      throw invalid(
        "ssh:// is not supported; run veryfreshpod on the Docker host, or forward the socket " +
          "(ssh -L /tmp/docker.sock:/var/run/docker.sock) and pass unix:///tmp/docker.sock",
      );
    case "npipe":
      throw invalid("Windows named pipes are not supported; use unix:// or tcp://");
    case "fd":
      throw invalid("fd:// is only meaningful to dockerd itself; use unix:// or tcp://");
    default:
      throw invalid(`unknown scheme "${scheme}://"; ${EXPECTED}`);
  }
}

function parseUnix(rest: string, invalid: (why: string) => UserError): DockerHost {
  // `unix://` alone means the default socket, as it does for the docker CLI.
  const path = rest === "" ? DEFAULT_DOCKER_SOCKET : rest;
  if (!path.startsWith("/")) {
    throw invalid(`the socket path must be absolute (unix:///${path})`);
  }
  if (/[?#\0]/.test(path)) throw invalid("the socket path contains ?, # or a NUL byte");
  return { transport: "unix", path, url: `unix://${path}` };
}

// A host name or IPv4 address, or an IPv6 address in brackets; an optional
// port; an optional trailing slash. Paths, users and queries are refused.
const TCP_PATTERN =
  /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?)(?::(\d*))?\/?$/;

function parseTcp(rest: string, invalid: (why: string) => UserError): DockerHost {
  const match = TCP_PATTERN.exec(rest);
  if (match === null) throw invalid(`${EXPECTED} (no path, user or query)`);
  const hostname = match[1] ?? "";
  const portText = match[2];
  let port = DEFAULT_TCP_PORT;
  if (portText !== undefined) {
    port = Number(portText);
    if (portText === "" || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw invalid(`the port must be a number from 1 to 65535`);
    }
  }
  return { transport: "tcp", hostname, port, url: `tcp://${hostname}:${port}` };
}

/**
 * The host to use: the explicit `--docker-host` value when given, else
 * `DOCKER_HOST` when set and not empty, else the default socket.
 * `getEnv` is injectable for tests.
 */
export function resolveDockerHost(
  explicit: string | undefined,
  getEnv: (name: string) => string | undefined = (name) => Deno.env.get(name),
): DockerHost {
  if (explicit !== undefined) {
    if (explicit.trim() === "") throw new UserError("--docker-host is empty", ExitCode.usage);
    return parseDockerHost(explicit, "--docker-host");
  }
  const fromEnv = getEnv("DOCKER_HOST");
  if (fromEnv === undefined || fromEnv.trim() === "") return parseDockerHost(DEFAULT_DOCKER_HOST);
  const host = parseDockerHost(fromEnv, "DOCKER_HOST");
  const tlsVerify = getEnv("DOCKER_TLS_VERIFY");
  if (host.transport === "tcp" && tlsVerify !== undefined && tlsVerify !== "") {
    // Talking plain HTTP to a daemon that expects TLS would only fail later
    // with a confusing protocol error.
    throw new UserError(
      `DOCKER_TLS_VERIFY is set for DOCKER_HOST "${fromEnv}", but TLS connections to Docker ` +
        "are not supported; use the unix socket on the node",
      ExitCode.usage,
    );
  }
  return host;
}

/** The URL requests are sent to: a placeholder host for a unix socket. */
export function baseUrl(host: DockerHost): string {
  if (host.transport === "unix") return "http://docker";
  return `http://${host.hostname}:${host.port}`;
}
