/**
 * Makes this machine able to run the end-to-end tests, then prints the
 * versions of the daemons they will run against. `deno task test` runs it
 * before `deno test`:
 *
 *   deno run -A tests/env/prepare.ts
 *
 * Installs the Debian packages of the daemons when their programs are missing
 * (as root, with apt-get), builds the control plane and the node's programs
 * (kubelet, kube-scheduler, kube-proxy, kubectl) from tests/controlplane into
 * the cache directory when this version has no complete build there, and the
 * pinned actionlint (tests/workflows_test.ts checks .github/workflows).
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

const requirements: Requirement[] = [
  onPath("dockerd", "docker.io"),
  onPath("docker", "docker.io"),
  onPath("runc", "runc"),
  onPath("containerd", "containerd"),
  onPath("ctr", "containerd"),
  onPath("containerd-shim-runc-v2", "containerd"),
  onPath("docker-registry", "docker-registry"),
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
    present: () => ["bridge", "host-local", "loopback"].every(isExecutable),
  },
  // Test images run it in `FROM scratch`-like images, so it must be static.
  {
    what: `a static ${busyboxPath}`,
    pkg: "busybox-static",
    present: () => isStaticExecutable(busyboxPath),
  },
];

function isExecutable(plugin: string): boolean {
  try {
    return ((Deno.statSync(`${cniBinDir}/${plugin}`).mode ?? 0) & 0o111) !== 0;
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

/** Runs one of tests/controlplane's build scripts into `out`, unless it holds a build. */
async function build(what: string, programs: string[], out: string, built: () => boolean) {
  // A stamp from another version or an interrupted build would make the script skip the build.
  try {
    Deno.removeSync(out, { recursive: true });
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) throw error;
  }
  console.log(`Building ${what} ${kubernetesVersion()} into ${out}`);
  const started = Date.now();
  // go build is silent for minutes; a heartbeat keeps CI from thinking it hangs.
  const heartbeat = setInterval(() => {
    console.log(`  …still building (${Math.round((Date.now() - started) / 1000)}s)`);
  }, 60_000);
  try {
    // The script runs the `go` found here, even when it is not on the PATH.
    const path = `${go!.slice(0, go!.lastIndexOf("/"))}:${Deno.env.get("PATH") ?? ""}`;
    await sh("bash", [`${controlPlaneModuleDir()}build.sh`, out, ...programs], { PATH: path });
  } finally {
    clearInterval(heartbeat);
  }
  if (!built()) fail(`the build of ${what} left no complete build in ${out}`);
  console.log(`Built ${what} in ${Math.round((Date.now() - started) / 1000)}s`);
}

if (needsBuild && go) {
  const programs = ["etcd", "kube-apiserver", "kube-controller-manager"];
  await build("the test control plane", programs, controlPlaneDir(), controlPlaneBuilt);
}
if (needsNodeBuild && go) {
  const programs = ["kubelet", "kube-scheduler", "kube-proxy", "kubectl"];
  await build("the test node", programs, nodeBuildDir(), nodeBuilt);
}

if (needsActionlint && go) {
  console.log(`Building actionlint ${ACTIONLINT_VERSION}`);
  await buildActionlint(go);
}

console.log(`Daemons for the end-to-end tests:\n${await daemonVersions()}`);
