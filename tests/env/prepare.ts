/**
 * Makes this machine able to run the end-to-end tests, then prints the
 * versions of the daemons they will run against. `deno task test` runs it
 * before `deno test`:
 *
 *   deno run -A tests/env/prepare.ts
 *
 * Installs the Debian packages of the daemons when their programs are missing
 * (as root, with apt-get; Docker 20.10 and containerd 1.6 are the
 * compatibility engines), builds the control plane and the node's programs
 * (kubelet, kube-scheduler, kube-proxy, kubectl) from tests/controlplane and
 * today's engines (Docker 29, its CLI and buildx, containerd 2.x, runc) from
 * tests/engines into the cache directory when these versions have no complete
 * build there, and the pinned actionlint (tests/workflows_test.ts checks
 * .github/workflows).
 * Where it cannot install (not root, not Debian) it fails with one line naming
 * what to install.
 */

import {
  busyboxPath,
  cniBinDir,
  controlPlaneBuilt,
  controlPlaneDir,
  controlPlaneModuleDir,
  findBinary,
  isStaticExecutable,
  kubernetesVersion,
  nodeBuildDir,
  nodeBuilt,
} from "./paths.ts";
import {
  compatBinary,
  compatPackages,
  type EngineProgram,
  enginesBuilt,
  enginesDir,
  enginesModuleDir,
  engineVersions,
} from "./engines.ts";
import { ACTIONLINT_VERSION, actionlintBuilt, buildActionlint } from "./actionlint.ts";
import { daemonVersions } from "./versions.ts";

interface Requirement {
  /** What is missing, as the message names it. */
  readonly what: string;
  /** The Debian package that provides it. */
  readonly pkg: string;
  readonly present: () => boolean;
}

const onPath = (name: string, pkg: string): Requirement => ({
  what: name,
  pkg,
  present: () => findBinary(name) !== undefined,
});

/** The compatibility engines, by their Debian paths: the PATH may hold other versions. */
const compatEngine = (name: EngineProgram): Requirement => ({
  what: compatBinary(name),
  pkg: compatPackages[name],
  present: () => isExecutable(compatBinary(name)),
});

const needsEngines = !enginesBuilt();

const requirements: Requirement[] = [
  ...(Object.keys(compatPackages) as EngineProgram[]).map(compatEngine),
  onPath("docker-registry", "docker-registry"),
  // The API server's door for the node and its pods (controlplane.ts).
  onPath("socat", "socat"),
  onPath("openssl", "openssl"),
  onPath("tar", "tar"),
  onPath("setsid", "util-linux"),
  onPath("umount", "mount"),
  // actionlint checks the workflows' shell scripts with it.
  onPath("shellcheck", "shellcheck"),
  // The node: its network namespace, its pod network and kube-proxy's rules.
  onPath("nsenter", "util-linux"),
  onPath("unshare", "util-linux"),
  onPath("ip", "iproute2"),
  onPath("iptables", "iptables"),
  onPath("iptables-restore", "iptables"),
  {
    what: `the CNI plugins in ${cniBinDir}`,
    pkg: "containernetworking-plugins",
    present: () =>
      ["bridge", "host-local", "loopback"].every((p) => isExecutable(`${cniBinDir}/${p}`)),
  },
  // runc's build (tests/engines/build.sh) links libseccomp with cgo and unpacks its headers.
  ...(needsEngines
    ? [onPath("gcc", "gcc"), onPath("pkg-config", "pkg-config"), onPath("dpkg-deb", "dpkg")]
    : []),
  // Test images run it in `FROM scratch`-like images, so it must be static.
  {
    what: `a static ${busyboxPath}`,
    pkg: "busybox-static",
    present: () => isStaticExecutable(busyboxPath),
  },
];

function isExecutable(path: string): boolean {
  try {
    return ((Deno.statSync(path).mode ?? 0) & 0o111) !== 0;
  } catch {
    return false;
  }
}

function fail(message: string): never {
  console.error(`tests/env/prepare.ts: ${message}`);
  Deno.exit(1);
}

async function sh(command: string, args: string[], env?: Record<string, string>): Promise<void> {
  const status = await new Deno.Command(command, { args, env, stdin: "null" }).spawn().status;
  if (!status.success) {
    fail(`\`${command} ${args.join(" ")}\` failed with exit code ${status.code}`);
  }
}

const isRoot = Deno.uid() === 0;
const aptGet = findBinary("apt-get");
const missing = requirements.filter((requirement) => !requirement.present());
const needsBuild = !controlPlaneBuilt();
const needsActionlint = !actionlintBuilt();
const needsNodeBuild = !nodeBuilt();
const go = findBinary("go");

const problems: string[] = [];
if (missing.length > 0 && !(isRoot && aptGet)) {
  const packages = [...new Set(missing.map((r) => r.pkg))].join(" ");
  const what = missing.map((r) => r.what).join(", ");
  problems.push(`missing ${what}: install them as root with \`apt-get install ${packages}\``);
}
if ((needsBuild || needsNodeBuild) && !go) {
  problems.push(
    `the test cluster (k8s.io/kubernetes ${kubernetesVersion()}) must be built and ` +
      "there is no `go`: install Go >= 1.24 (https://go.dev/dl/)",
  );
}
if (needsEngines && !go) {
  problems.push(
    `today's engines (${enginesLabel()}) must be built and there is no \`go\`: ` +
      "install Go >= 1.26.8 (https://go.dev/dl/)",
  );
}
if (needsEngines && !aptGet) {
  problems.push("today's engines must be built and runc needs `apt-get download libseccomp-dev`");
}
if (needsActionlint && !go) {
  problems.push(
    `actionlint ${ACTIONLINT_VERSION} must be built and there is no \`go\`: ` +
      "install Go >= 1.24 (https://go.dev/dl/)",
  );
}
if (problems.length > 0) fail(problems.join("; and "));

if (missing.length > 0 && aptGet) {
  const packages = [...new Set(missing.map((r) => r.pkg))];
  console.log(
    `Installing ${packages.join(" ")} (missing: ${missing.map((r) => r.what).join(", ")})`,
  );
  // needrestart (Ubuntu, some Debian images) would otherwise ask which services to restart.
  const env = { DEBIAN_FRONTEND: "noninteractive", NEEDRESTART_MODE: "l" };
  await sh(aptGet, ["update"], env);
  await sh(aptGet, ["install", "-y", "--no-install-recommends", ...packages], env);
  const still = missing.filter((requirement) => !requirement.present());
  if (still.length > 0) fail(`still missing after apt-get: ${still.map((r) => r.what).join(", ")}`);
}

function enginesLabel(): string {
  const v = engineVersions();
  return `Docker ${v.DOCKER_VERSION}, CLI ${v.DOCKER_CLI_VERSION}, buildx ${v.BUILDX_VERSION}, ` +
    `containerd ${v.CONTAINERD_VERSION}, runc ${v.RUNC_VERSION}`;
}

/** Runs a build script into `out`, unless it holds a complete build. */
async function build(
  what: string,
  script: string,
  args: string[],
  out: string,
  built: () => boolean,
) {
  // A stamp from another version or an interrupted build would make the script skip the build.
  try {
    Deno.removeSync(out, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  console.log(`Building ${what} into ${out}`);
  const started = Date.now();
  // go build is silent for minutes; a heartbeat keeps CI from thinking it hangs.
  const heartbeat = setInterval(() => {
    console.log(`  …still building (${Math.round((Date.now() - started) / 1000)}s)`);
  }, 60_000);
  try {
    // The script runs the `go` found here, even when it is not on the PATH.
    const path = `${go!.slice(0, go!.lastIndexOf("/"))}:${Deno.env.get("PATH") ?? ""}`;
    await sh("bash", [script, out, ...args], { PATH: path });
  } finally {
    clearInterval(heartbeat);
  }
  if (!built()) fail(`the build of ${what} left no complete build in ${out}`);
  console.log(`Built ${what} in ${Math.round((Date.now() - started) / 1000)}s`);
}

const buildScript = `${controlPlaneModuleDir()}build.sh`;
if (needsBuild && go) {
  const programs = ["etcd", "kube-apiserver", "kube-controller-manager"];
  const what = `the test control plane ${kubernetesVersion()}`;
  await build(what, buildScript, programs, controlPlaneDir(), controlPlaneBuilt);
}
if (needsNodeBuild && go) {
  const programs = ["kubelet", "kube-scheduler", "kube-proxy", "kubectl"];
  const what = `the test node ${kubernetesVersion()}`;
  await build(what, buildScript, programs, nodeBuildDir(), nodeBuilt);
}
if (needsEngines && go) {
  const what = `today's engines (${enginesLabel()})`;
  await build(what, `${enginesModuleDir()}build.sh`, [], enginesDir(), enginesBuilt);
}

if (needsActionlint && go) {
  console.log(`Building actionlint ${ACTIONLINT_VERSION}`);
  await buildActionlint(go);
}

console.log(`Daemons for the end-to-end tests:\n${await daemonVersions()}`);
