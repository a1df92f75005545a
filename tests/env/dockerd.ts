/**
 * Docker Engines of the test run's own: every path each writes is under the
 * run root, it listens on a unix socket there, and it has no networking of
 * its own (`docker run --network none` still works).
 *
 * With today's engines (engines.ts) there are two: `dockerContainerdStore()`
 * with the containerd image store, which Docker 29 turns on for new installs
 * and Docker Desktop has, and `dockerClassic()` with the classic (graph
 * driver) store that upgraded installs keep; `docker()` is one of them
 * (DEFAULT_DOCKER_STORE). They differ where veryfreshpod looks (image IDs,
 * repo digests, `docker save`, events; FACTS.md, "Today's engines"). With the
 * compatibility set (Docker 20.10) there is one daemon with the classic store,
 * the only one 20.10 has.
 *
 * Each gets a private containerd through `--containerd`: left to itself,
 * dockerd uses the machine's containerd whenever
 * /run/containerd/containerd.sock exists, and would share it with the
 * machine. Its own `/etc/docker/daemon.json` and `/etc/docker/key.json` are
 * kept out with `--config-file` (which also sets the trust-key path).
 * 127.0.0.0/8 registries are insecure by default, which is what lets it pull
 * from the test registry over plain HTTP (checked at start).
 *
 * It also listens on a loopback tcp port with `--tlsverify`, as minikube's
 * dockerd does on 2376: a CA of its own signs its serving certificate and one
 * client certificate, laid out the docker CLI's way (`ca.pem`, `cert.pem`,
 * `key.pem`) in `certPath`. The docker CLI is checked against it at start.
 */

import { makeCA, makeClientCert, makeServingCert } from "./certs.ts";
import { startContainerd } from "./containerd.ts";
import { cliPluginsDir, enginePath, engineSet } from "./engines.ts";
import { binary } from "./paths.ts";
import { freePort, makeDir, run, runName, spawnDaemon, stopDaemon, waitReady } from "./process.ts";

/** Where the engine keeps images: Docker's containerd (the default since Docker 29), or its own. */
export type ImageStore = "containerd" | "classic";

export interface Docker {
  /** The image store this daemon runs with. */
  readonly store: ImageStore;
  /** The daemon's unix socket path. */
  readonly socket: string;
  /** `unix://<socket>`, for DOCKER_HOST. */
  readonly host: string;
  /** Environment for running the docker CLI against this daemon. */
  readonly env: Record<string, string>;
  /** `tcp://127.0.0.1:<port>`: the same daemon over TLS, client certificate required. */
  readonly tlsHost: string;
  /** The directory with `ca.pem`, `cert.pem` and `key.pem` for `tlsHost` (DOCKER_CERT_PATH). */
  readonly certPath: string;
  /** DOCKER_HOST, DOCKER_TLS_VERIFY and DOCKER_CERT_PATH for `tlsHost` (as minikube docker-env). */
  readonly tlsEnv: Record<string, string>;
  /** Runs the docker CLI against this daemon; returns stdout trimmed, throws with stderr. */
  run(args: string[]): Promise<string>;
  /** Stops dockerd and starts it again on the same socket and data; resolves once it answers. */
  restart(): Promise<void>;
  /** dockerd's process id (a new one after `restart`), e.g. to stop it with SIGSTOP. */
  readonly pid: number;
}

/**
 * `docker run` flags for a nearly privileged container, as kind runs its node
 * containers: every capability the engine can give. The test process lacks
 * CAP_SYS_RESOURCE, which --privileged would ask runc for. Docker 29 leaves
 * what the machine lacks out of ALL by itself and refuses to be told to drop
 * it; Docker 20.10 puts it in ALL and runc then fails, so there it is dropped.
 */
export function allCapabilitiesFlags(): string[] {
  return engineSet() === "compat"
    ? ["--cap-add", "ALL", "--cap-drop", "SYS_RESOURCE"]
    : ["--cap-add", "ALL"];
}

/** fetch() over a unix socket; the client must be closed after use. */
export function unixHttpClient(socket: string): Deno.HttpClient {
  return Deno.createHttpClient({ proxy: { transport: "unix", path: socket } });
}

/** The TLS material of the tcp listener: the daemon's flags and the client's directory. */
async function makeTlsMaterial(
  name: string,
): Promise<{ daemonArgs: string[]; certPath: string }> {
  const serverDir = makeDir(`${name}/tls`);
  const certPath = makeDir(`${name}/client-certs`);
  const ca = await makeCA(serverDir, "veryfreshpod test dockerd CA");
  const [server, client] = await Promise.all([
    makeServingCert(ca, serverDir, "dockerd"),
    makeClientCert(ca, serverDir, "client"),
  ]);
  Deno.copyFileSync(ca.certFile, `${certPath}/ca.pem`);
  Deno.copyFileSync(client.certFile, `${certPath}/cert.pem`);
  Deno.copyFileSync(client.keyFile, `${certPath}/key.pem`);
  const daemonArgs = ["--tlsverify", "--tlscacert", ca.certFile];
  daemonArgs.push("--tlscert", server.certFile, "--tlskey", server.keyFile);
  return { daemonArgs, certPath };
}

/** Starts a dockerd named `name` (its directory and log) with `store`. */
async function start(name: string, store: ImageStore): Promise<Docker> {
  const [engineContainerd, tls] = await Promise.all([
    startContainerd(`${name}-containerd`, { cri: false }),
    makeTlsMaterial(name),
  ]);
  const tlsHost = `tcp://127.0.0.1:${freePort()}`;
  const dir = makeDir(name);
  const socket = `${dir}/docker.sock`;
  const cliConfig = makeDir(`${name}/cli`);
  const daemonConfig: Record<string, unknown> = { "deprecated-key-path": `${dir}/key.json` };
  // Docker 20.10 has only the classic store; from 29 the default depends on how it was
  // installed, so say which.
  if (engineSet() === "today") {
    daemonConfig.features = { "containerd-snapshotter": store === "containerd" };
  }
  Deno.writeTextFileSync(`${dir}/daemon.json`, JSON.stringify(daemonConfig));
  const plugins = cliPluginsDir();
  // The CLI finds buildx here, so that `docker build` is a BuildKit build as users have it.
  Deno.writeTextFileSync(
    `${cliConfig}/config.json`,
    JSON.stringify(plugins ? { cliPluginsExtraDirs: [plugins] } : {}),
  );
  // vfs for the classic store: overlay2 needs a file system the run root may not be on. The
  // containerd store uses containerd's overlayfs snapshotter, as new installs do.
  const storageDriver = store === "classic" ? ["--storage-driver=vfs"] : [];
  const args = [
    ...["--config-file", `${dir}/daemon.json`, "--data-root", `${dir}/data`],
    ...["--exec-root", `${dir}/exec`, "--pidfile", `${dir}/docker.pid`],
    ...["-H", `unix://${socket}`, "--containerd", engineContainerd.socket],
    // TLS applies to the tcp listener only; the unix socket stays plain.
    ...["-H", tlsHost, ...tls.daemonArgs],
    ...storageDriver,
    ...["--iptables=false", "--ip6tables=false", "--bridge=none"],
    ...["--ip-forward=false", "--ip-masq=false", "--userland-proxy=false"],
    // Containers of a test run are disposable: do not wait long for them at shutdown.
    "--shutdown-timeout=2",
    // A cgroup named after the run, by which cleanup finds the container processes.
    ...["--exec-opt", "native.cgroupdriver=cgroupfs", "--cgroup-parent", `/${runName()}`],
  ];
  const launch = async () => {
    // SIGTERM and time to stop containers, so that no shim or mount outlives it.
    const daemon = spawnDaemon(
      name === "docker" ? "dockerd" : `dockerd-${store}`,
      binary("dockerd"),
      args,
      {
        graceMs: 10_000,
        // dockerd finds runc through it.
        env: { PATH: enginePath() },
      },
    );
    await waitReady(daemon, async () => {
      const client = unixHttpClient(socket);
      try {
        const response = await fetch("http://localhost/_ping", { client });
        return response.ok && (await response.text()) === "OK";
      } finally {
        client.close();
      }
    });
    return daemon;
  };
  let daemon = await launch();
  const host = `unix://${socket}`;
  // The CLI's own config dir, so that no credential helper or context of the machine applies.
  const env = {
    DOCKER_HOST: host,
    DOCKER_CONFIG: cliConfig,
    DOCKER_CONTEXT: "default",
    // A TLS setting of the user's shell would make the CLI fail on a unix socket.
    DOCKER_TLS_VERIFY: "",
    DOCKER_CERT_PATH: "",
  };
  const tlsEnv = { DOCKER_HOST: tlsHost, DOCKER_TLS_VERIFY: "1", DOCKER_CERT_PATH: tls.certPath };
  const docker: Docker = {
    store,
    socket,
    host,
    env,
    tlsHost,
    certPath: tls.certPath,
    tlsEnv,
    run: async (cliArgs) => (await run(binary("docker"), cliArgs, { env })).trim(),
    restart: async () => {
      await stopDaemon(daemon);
      daemon = await launch();
    },
    get pid() {
      return daemon.pid;
    },
  };
  const insecure = await docker.run([
    "info",
    "--format",
    "{{json .RegistryConfig.InsecureRegistryCIDRs}}",
  ]);
  if (!insecure.includes("127.0.0.0/8")) {
    throw new Error(`the test dockerd does not treat 127.0.0.0/8 as insecure: ${insecure}`);
  }
  // The docker CLI itself must get through the TLS listener, or tests of it prove nothing.
  await run(binary("docker"), ["version", "--format", "{{.Server.APIVersion}}"], {
    env: { ...env, ...tlsEnv },
  });
  return docker;
}

/**
 * The store `docker()` has with today's engines: the containerd image store,
 * the default of new installs and of Docker Desktop (docs/decisions.md).
 * Tests of the classic store ask for it by name (`dockerClassic()`).
 */
export const DEFAULT_DOCKER_STORE: ImageStore = "containerd";

const daemons: Partial<Record<ImageStore, Promise<Docker>>> = {};

/** The daemon with `store`, started on first use; the default store's is named `docker`. */
function dockerWithStore(store: ImageStore): Promise<Docker> {
  if (engineSet() === "compat" && store === "containerd") {
    return Promise.reject(
      new Error(
        "Docker 20.10 of the compatibility engines has no containerd image store: " +
          "run this test with today's engines only",
      ),
    );
  }
  const name = store === defaultStore() ? "docker" : `docker-${store}`;
  return daemons[store] ??= start(name, store);
}

function defaultStore(): ImageStore {
  return engineSet() === "compat" ? "classic" : DEFAULT_DOCKER_STORE;
}

/**
 * The Docker Engine of this test run, started on first use: with today's
 * engines, the store DEFAULT_DOCKER_STORE says; with the compatibility set,
 * Docker 20.10's classic store.
 */
export function docker(): Promise<Docker> {
  return dockerWithStore(defaultStore());
}

/**
 * A Docker Engine with the classic (graph driver) image store, which upgraded
 * installs keep; `docker()` itself when that has it.
 */
export function dockerClassic(): Promise<Docker> {
  return dockerWithStore("classic");
}

/**
 * A Docker Engine with the containerd image store, which Docker 29 turns on
 * for new installs and Docker Desktop has; `docker()` itself when that has it.
 * With the compatibility set it rejects: Docker 20.10 has no such store.
 */
export function dockerContainerdStore(): Promise<Docker> {
  return dockerWithStore("containerd");
}
