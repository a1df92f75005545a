/**
 * Where the Docker daemon is: `--docker-host`, else `DOCKER_HOST`, else the
 * default socket. A unix socket, or TCP, with TLS when `DOCKER_TLS_VERIFY` is
 * set (as for the docker CLI) or the host is spelled `https://`; every other
 * form is refused here with a one-line message, so a typo never turns into a
 * confusing connection error later.
 */
import { ExitCode, UserError } from "../util/errors.ts";
import { type DockerTlsFiles, dockerTlsFiles } from "./docker_tls.ts";
import { DEFAULT_DOCKER_SOCKET } from "./sockets.ts";

/** The port the docker CLI assumes for `tcp://host` without a port. */
const DEFAULT_TCP_PORT = 2375;
/** Docker's conventional TLS port, assumed for `https://host`. */
const DEFAULT_TLS_PORT = 2376;

/**
 * A parsed Docker host. `url` is the canonical spelling, for log lines:
 * `https://host:port` when TLS is on, so that every message says so.
 */
export type DockerHost =
  | { readonly transport: "unix"; readonly path: string; readonly url: string }
  | {
    readonly transport: "tcp";
    readonly hostname: string;
    readonly port: number;
    readonly url: string;
    /** Present when the connection uses TLS: where its certificates are. */
    readonly tls?: DockerTlsFiles;
  };

type Env = (name: string) => string | undefined;
const processEnv: Env = (name) => Deno.env.get(name);

/** The operating system veryfreshpod runs on, as `Deno.build.os` names it. */
export type OperatingSystem = typeof Deno.build.os;

/**
 * The sockets tried, in order, when neither `--docker-host` nor `DOCKER_HOST`
 * names one. Linux: Docker's own. macOS: the same path first (Docker Desktop
 * links it to its engine when "Allow the default Docker socket to be used" is
 * on, and other engines such as OrbStack may own it), then Docker Desktop's
 * per-user socket, which exists whenever Docker Desktop runs.
 */
export function defaultDockerSockets(os: OperatingSystem, getEnv: Env = processEnv): string[] {
  const home = getEnv("HOME");
  if (os !== "darwin" || !home) return [DEFAULT_DOCKER_SOCKET];
  return [DEFAULT_DOCKER_SOCKET, `${home.replace(/\/$/, "")}/.docker/run/docker.sock`];
}

/** Whether something is at `path`, following links; unreadable counts as there. */
function pathExists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch (error) {
    return !(error instanceof Deno.errors.NotFound);
  }
}

/** What a bad value is called in messages: the flag or the variable. */
export type DockerHostSource = "--docker-host" | "DOCKER_HOST";

const EXPECTED = "expected unix:///path/to/docker.sock, tcp://host:port or https://host:port";

/**
 * Parses `unix:///path`, `tcp://host[:port]`, `http://host[:port]` (the same
 * thing spelled as a URL) or `https://host[:port]` (TLS, certificates as
 * `dockerTlsFiles` finds them through `getEnv`). Throws a UserError for
 * anything else.
 */
export function parseDockerHost(
  text: string,
  source: DockerHostSource = "--docker-host",
  getEnv: Env = processEnv,
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
      return parseTcp(rest, invalid, DEFAULT_TCP_PORT);
    case "https":
      return withTls(parseTcp(rest, invalid, DEFAULT_TLS_PORT), getEnv);
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

function parseTcp(
  rest: string,
  invalid: (why: string) => UserError,
  defaultPort: number,
): DockerHost {
  const match = TCP_PATTERN.exec(rest);
  if (match === null) throw invalid(`${EXPECTED} (no path, user or query)`);
  const hostname = match[1] ?? "";
  const portText = match[2];
  let port = defaultPort;
  if (portText !== undefined) {
    port = Number(portText);
    if (portText === "" || !Number.isInteger(port) || port < 1 || port > 65535) {
      throw invalid(`the port must be a number from 1 to 65535`);
    }
  }
  return { transport: "tcp", hostname, port, url: `tcp://${hostname}:${port}` };
}

/** The same tcp host with TLS on. */
function withTls(host: DockerHost, getEnv: Env): DockerHost {
  if (host.transport !== "tcp" || host.tls !== undefined) return host;
  const { hostname, port } = host;
  return {
    transport: "tcp",
    hostname,
    port,
    url: `https://${hostname}:${port}`,
    tls: dockerTlsFiles(getEnv),
  };
}

function isSet(getEnv: Env, name: string): boolean {
  const value = getEnv(name);
  return value !== undefined && value !== "";
}

/**
 * The host to use: the explicit `--docker-host` value when given, else
 * `DOCKER_HOST` when set and not empty, else the default socket. As for the
 * docker CLI, a non-empty `DOCKER_TLS_VERIFY` turns on TLS for a tcp host,
 * whichever way it was given, and means nothing for a unix socket. The
 * default is the first of `defaultDockerSockets(os)` that `exists`, else the
 * first. `getEnv`, `os` and `exists` are injectable for tests.
 */
export function resolveDockerHost(
  explicit: string | undefined,
  getEnv: Env = processEnv,
  os: OperatingSystem = Deno.build.os,
  exists: (path: string) => boolean = pathExists,
): DockerHost {
  let host: DockerHost;
  if (explicit !== undefined) {
    if (explicit.trim() === "") throw new UserError("--docker-host is empty", ExitCode.usage);
    host = parseDockerHost(explicit, "--docker-host", getEnv);
  } else {
    const fromEnv = getEnv("DOCKER_HOST");
    if (fromEnv === undefined || fromEnv.trim() === "") {
      const sockets = defaultDockerSockets(os, getEnv);
      return parseDockerHost(`unix://${sockets.find(exists) ?? sockets[0]}`);
    }
    host = parseDockerHost(fromEnv, "DOCKER_HOST", getEnv);
  }
  if (host.transport !== "tcp" || host.tls !== undefined) return host;
  if (isSet(getEnv, "DOCKER_TLS_VERIFY")) return withTls(host, getEnv);
  if (isSet(getEnv, "DOCKER_TLS")) {
    // The docker CLI would use TLS without checking the daemon's certificate.
    // Deno's fetch cannot skip that check per connection, and plain HTTP to a
    // TLS port would only fail later with a confusing protocol error.
    throw new UserError(
      `DOCKER_TLS is set without DOCKER_TLS_VERIFY for ${host.url}: TLS without verifying the ` +
        "daemon's certificate is not supported; set DOCKER_TLS_VERIFY=1 with the daemon's " +
        "ca.pem in DOCKER_CERT_PATH, or unset DOCKER_TLS for a daemon without TLS",
      ExitCode.usage,
    );
  }
  return host;
}

/** The URL requests are sent to: a placeholder host for a unix socket. */
export function baseUrl(host: DockerHost): string {
  if (host.transport === "unix") return "http://docker";
  return `${host.tls === undefined ? "http" : "https"}://${host.hostname}:${host.port}`;
}
