import assert from "node:assert/strict";
import { main, wantsDebug } from "./main.ts";
import { fakeDocker, json } from "../testing/fake_docker.ts";
import { fakeContainerd } from "../testing/fake_containerd.ts";

async function cli(args: string[], env: Record<string, string> = {}) {
  let stdout = "";
  let stderr = "";
  const code = await main(args, {
    env: (name) => env[name],
    stdout: (text) => stdout += text,
    stderr: (text) => stderr += text,
    signal: AbortSignal.abort(),
    os: "linux",
  });
  return { code, stdout, stderr };
}

Deno.test("main() answers bad usage with exit code 2 and a pointer to --help", async (t) => {
  const cases: [string[], RegExp][] = [
    [["frobnicate"], /unknown command "frobnicate"/],
    [["run", "--bogus"], /unknown option '--bogus'/],
    [["--bogus"], /unknown option '--bogus'/],
    [["run", "--log-format", "xml"], /invalid value "xml" for --log-format/],
    [["run", "--log-level", "loud"], /invalid value "loud" for --log-level/],
    [["run", "--resync-period", "0"], /invalid value "0" for --resync-period/],
    [["run", "--resync-period", "soon"], /invalid value "soon" for --resync-period/],
    [["run", "extra"], /unexpected argument "extra"/],
    [["run", "-l", "tier=web!"], /invalid value "tier=web!" for --selector: "web!" is not a valid/],
    [["run", "--kubeconfig"], /argument missing/],
    [["version", "--short"], /unknown option '--short'/],
  ];
  for (const [args, pattern] of cases) {
    await t.step(args.join(" "), async () => {
      const { code, stdout, stderr } = await cli(args);
      assert.equal(code, 2);
      assert.equal(stdout, "");
      assert.match(stderr, pattern);
      assert.match(stderr, /Run "veryfreshpod (\w+ )?--help" for usage\./);
      assert.doesNotMatch(stderr, /at .*\.ts:\d+/, "no stack trace");
    });
  }
});

Deno.test("main() prints help on stdout for every command", async (t) => {
  for (const args of [["--help"], ["help"], ["run", "--help"], ["version", "-h"]]) {
    await t.step(args.join(" "), async () => {
      const { code, stdout, stderr } = await cli(args);
      assert.equal(code, 0);
      assert.equal(stderr, "");
      assert.match(stdout, /Usage: veryfreshpod/);
    });
  }
});

Deno.test("main() prints the version", async () => {
  const { code, stdout } = await cli(["version"]);
  assert.equal(code, 0);
  assert.match(stdout, /^veryfreshpod \d+\.\d+\.\d+\n$/);
});

Deno.test("main() reports a missing kubeconfig in one line with exit code 4", async () => {
  const { code, stderr } = await cli(["run", "--kubeconfig", "/nonexistent/kubeconfig"]);
  assert.equal(code, 4);
  assert.equal(stderr.trim().split("\n").length, 1);
  assert.match(stderr, /^error: Cannot read kubeconfig "\/nonexistent\/kubeconfig": no such file/);
});

Deno.test("main() reports a bad DOCKER_HOST in one line with exit code 2", async () => {
  const { code, stderr } = await cli(["run"], { DOCKER_HOST: "ssh://me@box" });
  assert.equal(code, 2);
  assert.equal(stderr.trim().split("\n").length, 1);
  assert.match(stderr, /DOCKER_HOST/);
});

Deno.test("main() names an unknown command and lists the commands", async () => {
  const { code, stdout, stderr } = await cli(["frobnicate"]);
  assert.equal(code, 2);
  assert.equal(stdout, "");
  assert.equal(
    stderr,
    'error: unknown command "frobnicate"; the commands are run, status, restore, install, ' +
      'uninstall, manifest, version\nRun "veryfreshpod --help" for usage.\n',
  );
});

Deno.test("main() reports an empty kubeconfig in one line with the fix, exit code 4", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vfp-main-test-" });
  try {
    await Deno.writeTextFile(`${dir}/config`, "");
    const { code, stderr } = await cli(["run", "--kubeconfig", `${dir}/config`]);
    assert.equal(code, 4);
    assert.equal(
      stderr,
      `error: Cannot load kubeconfig "${dir}/config": the file is empty; point --kubeconfig or ` +
        "KUBECONFIG at your cluster's configuration (kind get kubeconfig, minikube " +
        "update-context, k3s: /etc/rancher/k3s/k3s.yaml)\n",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("main() adds causes only for --log-level debug, not for the word debug elsewhere", async () => {
  const dir = await Deno.makeTempDir({ prefix: "vfp-main-test-" });
  try {
    // A kubeconfig that is not YAML is a UserError with a cause (the parser's error).
    const config = `${dir}/config`;
    await Deno.writeTextFile(config, "{{{ not yaml");
    for (const args of [["-n", "debug"], ["--namespace", "debug"], ["--context=debug"]]) {
      const { code, stderr } = await cli(["run", "--kubeconfig", config, ...args]);
      assert.equal(code, 4);
      assert.equal(stderr.split("\n").length, 2, `${args.join(" ")}: ${stderr}`);
      assert.doesNotMatch(stderr, /caused by/);
    }
    for (const args of [["--log-level", "debug"], ["--log-level=debug"]]) {
      const { code, stderr } = await cli(["run", "--kubeconfig", config, ...args]);
      assert.equal(code, 4);
      assert.match(stderr, /\n {2}caused by: unexpected end of the stream/, args.join(" "));
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("wantsDebug() reads only the value of --log-level", () => {
  assert.equal(wantsDebug(["run", "--log-level", "debug"]), true);
  assert.equal(wantsDebug(["--log-level=debug"]), true);
  assert.equal(wantsDebug(["run", "-n", "debug"]), false);
  assert.equal(wantsDebug(["run", "debug"]), false);
  assert.equal(wantsDebug(["run", "--log-level", "info", "-n", "debug"]), false);
  assert.equal(wantsDebug(["run", "--log-level=debugx"]), false);
  assert.equal(wantsDebug(["run", "--", "--log-level", "debug"]), false);
});

/** Runs the real CLI in a child process. */
async function spawnCli(args: string[]) {
  const main = new URL("../../main.ts", import.meta.url).pathname;
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "--allow-all", "--no-check", main, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder();
  return {
    code: output.code,
    stdout: text.decode(output.stdout),
    stderr: text.decode(output.stderr),
  };
}

Deno.test("the CLI answers version and --help in a child process", async () => {
  const version = await spawnCli(["version"]);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^veryfreshpod \d+\.\d+\.\d+\n$/);
  assert.equal(version.stderr, "");
  const help = await spawnCli(["--help"]);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /^Commands:\n {2}run +watch the engine/m);
  assert.equal(help.stderr, "");
  const unknown = await spawnCli(["frobnicate"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /^error: unknown command "frobnicate"; the commands are run, /);
});

/**
 * The modules main.ts loads before any command runs: its static imports,
 * followed through `deno info` (dynamic imports are not followed).
 */
async function staticModules(entry: string): Promise<Set<string>> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", entry],
    stdout: "piped",
  }).output();
  assert.equal(output.code, 0, "deno info failed");
  const graph = JSON.parse(new TextDecoder().decode(output.stdout)) as {
    roots: string[];
    redirects: Record<string, string>;
    modules: Array<{
      specifier: string;
      dependencies?: Array<{ code?: { specifier: string }; isDynamic?: boolean }>;
    }>;
  };
  const bySpecifier = new Map(graph.modules.map((module) => [module.specifier, module]));
  const seen = new Set<string>();
  const queue = [...graph.roots];
  while (queue.length > 0) {
    let specifier = queue.pop()!;
    specifier = graph.redirects[specifier] ?? specifier;
    if (seen.has(specifier)) continue;
    seen.add(specifier);
    for (const dependency of bySpecifier.get(specifier)?.dependencies ?? []) {
      if (dependency.code && !dependency.isDynamic) queue.push(dependency.code.specifier);
    }
  }
  return seen;
}

Deno.test("main.ts loads client-node and gRPC only for the commands that use them; run never loads client-node", async () => {
  const modules = await staticModules(new URL("../../main.ts", import.meta.url).pathname);
  assert.ok([...modules].some((m) => m.endsWith("/lib/cli/main.ts")), [...modules].join("\n"));
  const heavy = [...modules].filter((m) => /^npm:\/?@(kubernetes|grpc)\//.test(m));
  assert.deepEqual(heavy, [], "loaded by version and --help too");
  const runModules = await staticModules(new URL("./run.ts", import.meta.url).pathname);
  assert.deepEqual(
    [...runModules].filter((m) => /^npm:\/?@kubernetes\/client-node/.test(m)),
    [],
    "run talks to the API server with its own client",
  );
  assert.deepEqual(
    [...runModules].filter((m) => /^npm:\/?@grpc\//.test(m)),
    [],
    "gRPC is loaded only for containerd (the runtime, or a node fed through its socket)",
  );
  const installModules = await staticModules(new URL("./install.ts", import.meta.url).pathname);
  assert.ok(
    [...installModules].some((m) => /^npm:\/?@kubernetes\/client-node/.test(m)),
    "the check itself sees npm packages",
  );
});

/** A kubeconfig naming a cluster nobody serves: `run` checks the engine first. */
async function unusedKubeconfig(): Promise<string> {
  const path = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(
    path,
    `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "http://127.0.0.1:9"}}]
users: [{name: u, user: {}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`,
  );
  return path;
}

// No engine that old runs here: fakes answer the version as one would.
Deno.test("main() refuses a Docker Engine older than API 1.40 in one line, exit code 3", async () => {
  const kubeconfig = await unusedKubeconfig();
  await using fake = await fakeDocker(() =>
    json({ Version: "18.09.9", ApiVersion: "1.39", MinAPIVersion: "1.12" })
  );
  try {
    const { code, stderr } = await cli([
      "run",
      "--kubeconfig",
      kubeconfig,
      "--docker-host",
      `unix://${fake.socket}`,
    ]);
    assert.equal(code, 3);
    assert.equal(
      stderr,
      `error: the Docker socket "${fake.socket}" speaks Docker API 1.39 (Docker 18.09.9), but ` +
        "veryfreshpod needs API 1.40 or newer; upgrade Docker to 19.03 or later\n",
    );
  } finally {
    await Deno.remove(kubeconfig);
  }
});

Deno.test("main() refuses a containerd older than 1.6 in one line, exit code 3", async () => {
  const kubeconfig = await unusedKubeconfig();
  await using fake = await fakeContainerd();
  fake.state.version = "v1.5.18";
  try {
    const { code, stderr } = await cli([
      "run",
      "--kubeconfig",
      kubeconfig,
      "--runtime",
      "containerd",
      "--containerd-socket",
      fake.socket,
    ]);
    assert.equal(code, 3);
    assert.equal(
      stderr,
      `error: the containerd socket "${fake.socket}" is containerd v1.5.18, but veryfreshpod ` +
        "needs containerd 1.6 or newer; upgrade containerd (or the cluster that ships it)\n",
    );
  } finally {
    await Deno.remove(kubeconfig);
  }
});
