import assert from "node:assert/strict";
import { ExitCode, UserError } from "../util/errors.ts";
import {
  baseUrl,
  defaultDockerSockets,
  type OperatingSystem,
  parseDockerHost,
  resolveDockerHost,
} from "./docker_host.ts";

function env(values: Record<string, string>): (name: string) => string | undefined {
  return (name) => values[name];
}

function assertRefused(text: string, includes: string, source?: "DOCKER_HOST"): void {
  assert.throws(() => parseDockerHost(text, source), (error: unknown) => {
    assert.ok(error instanceof UserError, `${text}: ${error}`);
    assert.equal(error.exitCode, ExitCode.usage);
    assert.ok(error.message.startsWith(`Invalid ${source ?? "--docker-host"} "${text}": `));
    assert.ok(error.message.includes(includes), `${text}: ${error.message}`);
    assert.ok(!error.message.includes("\n"), "one line");
    return true;
  });
}

Deno.test("unix hosts", () => {
  assert.deepEqual(parseDockerHost("unix:///var/run/docker.sock"), {
    transport: "unix",
    path: "/var/run/docker.sock",
    url: "unix:///var/run/docker.sock",
  });
  assert.deepEqual(parseDockerHost("unix:///tmp/x y/d.sock").transport, "unix");
  // `unix://` alone is the default socket, as for the docker CLI.
  assert.equal(parseDockerHost("unix://").url, "unix:///var/run/docker.sock");
  assert.equal(parseDockerHost("UNIX:///run/d.sock").url, "unix:///run/d.sock");
  assert.equal(baseUrl(parseDockerHost("unix:///run/d.sock")), "http://docker");
});

Deno.test("tcp hosts, http:// as a synonym, default port 2375", () => {
  assert.deepEqual(parseDockerHost("tcp://127.0.0.1:2375"), {
    transport: "tcp",
    hostname: "127.0.0.1",
    port: 2375,
    url: "tcp://127.0.0.1:2375",
  });
  assert.equal(parseDockerHost("tcp://docker.local").url, "tcp://docker.local:2375");
  assert.equal(parseDockerHost("tcp://docker:80/").url, "tcp://docker:80");
  assert.equal(parseDockerHost("http://localhost:2375").url, "tcp://localhost:2375");
  assert.equal(parseDockerHost("tcp://[::1]:2376").url, "tcp://[::1]:2376");
  assert.equal(baseUrl(parseDockerHost("tcp://[::1]:2376")), "http://[::1]:2376");
  assert.equal(baseUrl(parseDockerHost("tcp://h:1234")), "http://h:1234");
});

Deno.test("every unsupported or malformed host is refused with a one-line reason", () => {
  assertRefused("ssh://me@box", "ssh:// is not supported");
  assertRefused("ssh://me@box", "unix:///tmp/docker.sock");
  assertRefused("npipe:////./pipe/docker_engine", "named pipes are not supported");
  assertRefused("fd://", "only meaningful to dockerd");
  assertRefused("ftp://x", 'unknown scheme "ftp://"');
  assertRefused("/var/run/docker.sock", "did you mean unix:///var/run/docker.sock?");
  assertRefused(
    "localhost:2375",
    "expected unix:///path/to/docker.sock, tcp://host:port or https://host:port",
  );
  assertRefused("https://docker:2376/base", "no path");
  assertRefused("garbage", "expected unix://");
  assertRefused("", "expected unix://");
  assertRefused("unix://relative.sock", "must be absolute");
  assertRefused("unix:///a?b", "contains ?");
  assertRefused("tcp://", "expected unix://");
  assertRefused("tcp://host:", "port must be a number");
  assertRefused("tcp://host:0", "port must be a number");
  assertRefused("tcp://host:65536", "port must be a number");
  assertRefused("tcp://host:port", "expected unix://");
  assertRefused("tcp://host:2375/base", "no path");
  assertRefused("tcp://user@host:2375", "no path, user");
  assertRefused("tcp://host:2375?x=1", "no path, user or query");
  assertRefused("tcp://-bad-:1", "expected");
  assertRefused("ssh://box", "ssh://", "DOCKER_HOST");
});

Deno.test("resolve: flag, then DOCKER_HOST, then the default", () => {
  const environment = env({ DOCKER_HOST: "tcp://from-env:1" });
  assert.equal(resolveDockerHost("unix:///flag.sock", environment).url, "unix:///flag.sock");
  assert.equal(resolveDockerHost(undefined, environment).url, "tcp://from-env:1");
  assert.equal(resolveDockerHost(undefined, env({})).url, "unix:///var/run/docker.sock");
  assert.equal(
    resolveDockerHost(undefined, env({ DOCKER_HOST: " " })).url,
    "unix:///var/run/docker.sock",
  );
  assert.throws(() => resolveDockerHost("", env({})), /--docker-host is empty/);
  assert.throws(
    () => resolveDockerHost(undefined, env({ DOCKER_HOST: "npipe://x" })),
    /^UserError: Invalid DOCKER_HOST "npipe:\/\/x"/,
  );
});

const MINIKUBE = {
  DOCKER_HOST: "tcp://192.168.49.2:2376",
  DOCKER_TLS_VERIFY: "1",
  DOCKER_CERT_PATH: "/home/me/.minikube/certs",
};

Deno.test("https:// is TLS on port 2376 by default, certificates as the docker CLI finds them", () => {
  const host = parseDockerHost("https://docker.local", "--docker-host", env({ HOME: "/home/me" }));
  assert.equal(host.transport, "tcp");
  assert.equal(host.url, "https://docker.local:2376");
  assert.equal(baseUrl(host), "https://docker.local:2376");
  assert.deepEqual(host.transport === "tcp" ? host.tls : undefined, {
    certPath: "/home/me/.docker",
    origin: "~/.docker, as DOCKER_CERT_PATH is not set",
    ca: "/home/me/.docker/ca.pem",
    cert: "/home/me/.docker/cert.pem",
    key: "/home/me/.docker/key.pem",
  });
  const ported = parseDockerHost("HTTPS://[::1]:3000/", "DOCKER_HOST", env({ HOME: "/h" }));
  assert.equal(ported.url, "https://[::1]:3000");
});

Deno.test("resolve: DOCKER_TLS_VERIFY turns TLS on for a tcp host from the flag or DOCKER_HOST", () => {
  const fromEnv = resolveDockerHost(undefined, env(MINIKUBE));
  assert.equal(fromEnv.url, "https://192.168.49.2:2376");
  assert.equal(baseUrl(fromEnv), "https://192.168.49.2:2376");
  assert.equal(
    fromEnv.transport === "tcp" ? fromEnv.tls?.ca : undefined,
    "/home/me/.minikube/certs/ca.pem",
  );
  // As for the docker CLI, the variables apply to an explicit host too.
  const fromFlag = resolveDockerHost("tcp://127.0.0.1:2376", env(MINIKUBE));
  assert.equal(fromFlag.url, "https://127.0.0.1:2376");
  // Any non-empty value counts, as for the docker CLI; an empty one does not.
  assert.equal(
    resolveDockerHost(undefined, env({ ...MINIKUBE, DOCKER_TLS_VERIFY: "0" })).url,
    "https://192.168.49.2:2376",
  );
  assert.equal(
    resolveDockerHost(undefined, env({ ...MINIKUBE, DOCKER_TLS_VERIFY: "" })).url,
    "tcp://192.168.49.2:2376",
  );
  // A unix socket has no TLS.
  assert.deepEqual(resolveDockerHost("unix:///d.sock", env(MINIKUBE)), {
    transport: "unix",
    path: "/d.sock",
    url: "unix:///d.sock",
  });
});

Deno.test("resolve: DOCKER_TLS without DOCKER_TLS_VERIFY is refused for a tcp host", () => {
  assert.throws(
    () => resolveDockerHost(undefined, env({ DOCKER_HOST: "tcp://h:2376", DOCKER_TLS: "1" })),
    (error: unknown) => {
      assert.ok(error instanceof UserError);
      assert.equal(error.exitCode, ExitCode.usage);
      assert.equal(
        error.message,
        "DOCKER_TLS is set without DOCKER_TLS_VERIFY for tcp://h:2376: TLS without verifying " +
          "the daemon's certificate is not supported; set DOCKER_TLS_VERIFY=1 with the daemon's " +
          "ca.pem in DOCKER_CERT_PATH, or unset DOCKER_TLS for a daemon without TLS",
      );
      return true;
    },
  );
  // https:// always verifies; a unix socket ignores it.
  const tls = env({ DOCKER_TLS: "1", HOME: "/h" });
  assert.equal(resolveDockerHost("https://h", tls).url, "https://h:2376");
  assert.equal(resolveDockerHost("unix:///d.sock", tls).url, "unix:///d.sock");
});

Deno.test("the default socket: Docker's on Linux; on macOS Docker Desktop's when that is the one there", async (t) => {
  const home = env({ HOME: "/Users/me" });
  const desktop = "/Users/me/.docker/run/docker.sock";
  const cases: [string, OperatingSystem, string[], string][] = [
    ["Linux", "linux", ["/var/run/docker.sock"], "/var/run/docker.sock"],
    ["Linux never guesses Docker Desktop's", "linux", [desktop], "/var/run/docker.sock"],
    ["macOS, both", "darwin", ["/var/run/docker.sock", desktop], "/var/run/docker.sock"],
    ["macOS, only Docker Desktop's", "darwin", [desktop], desktop],
    ["macOS, neither", "darwin", [], "/var/run/docker.sock"],
  ];
  for (const [name, os, present, expected] of cases) {
    await t.step(name, () => {
      const host = resolveDockerHost(undefined, home, os, (path) => present.includes(path));
      assert.equal(host.url, `unix://${expected}`);
    });
  }
  await t.step("DOCKER_HOST still wins on macOS", () => {
    const host = resolveDockerHost(
      undefined,
      env({ HOME: "/Users/me", DOCKER_HOST: "unix:///tmp/colima.sock" }),
      "darwin",
      () => true,
    );
    assert.equal(host.url, "unix:///tmp/colima.sock");
  });
  assert.deepEqual(defaultDockerSockets("darwin", env({})), ["/var/run/docker.sock"]);
});
