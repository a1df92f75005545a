/**
 * The walls between lib/'s rooms, read from the program's own import graph
 * (`deno info --json`, type-only and dynamic imports included), so that a
 * move or a new import that breaks one fails here naming the edge. The rooms
 * and why they are drawn so: docs/decisions.md ("The rooms of lib/").
 *
 * The graph is main.ts's and every other module of lib/ (tests aside: a test
 * may reach across rooms for its fixtures), so a module that only a test or
 * a script uses is held to its room's rules too.
 */
import assert from "node:assert/strict";

const REPO = new URL("../", import.meta.url);

/** Each walled room and the rooms its modules may import (its own always). */
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  // The ground floor: small shared helpers, then the data model.
  "lib/util/": [],
  "lib/model/": ["lib/util/"],
  // The pure decision: plain data in, plain data out.
  "lib/decision/": ["lib/model/", "lib/util/"],
  // Each talks to one outside world, and never to the other or to rollout/.
  "lib/engine/": ["lib/model/", "lib/util/"],
  "lib/kube/": ["lib/model/", "lib/util/"],
};

/** Fakes and test helpers: no module of the program may import them. */
const TEST_ONLY = ["lib/testing/", "tests/"];

/** A module of this repository, repository-relative (`lib/kube/rest.ts`), or undefined. */
function repoPath(specifier: string | undefined): string | undefined {
  if (specifier === undefined || !specifier.startsWith(REPO.href)) return undefined;
  return decodeURIComponent(specifier.slice(REPO.href.length));
}

function isTest(path: string): boolean {
  return path.endsWith("_test.ts");
}

async function libModules(dir = new URL("lib/", REPO)): Promise<string[]> {
  const found: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    const url = new URL(entry.name + (entry.isDirectory ? "/" : ""), dir);
    if (entry.isDirectory) found.push(...await libModules(url));
    else if (entry.name.endsWith(".ts") && !isTest(entry.name)) found.push(url.href);
  }
  return found;
}

interface Graph {
  /** Every import between this repository's modules: [importer, imported]. */
  readonly edges: ReadonlyArray<readonly [string, string]>;
  /** The modules main.ts reaches: the program as users run it. */
  readonly program: ReadonlySet<string>;
}

/** The import graph of main.ts and every non-test module of lib/, by one `deno info --json`. */
async function importGraph(): Promise<Graph> {
  const dir = await Deno.makeTempDir({ prefix: "vfp-rooms-" });
  try {
    const entry = `${dir}/entry.ts`;
    const roots = [new URL("main.ts", REPO).href, ...await libModules()];
    await Deno.writeTextFile(entry, roots.map((r) => `import ${JSON.stringify(r)};\n`).join(""));
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["info", "--json", "--config", new URL("deno.json", REPO).pathname, entry],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(
      output.success,
      `deno info --json failed: ${new TextDecoder().decode(output.stderr).trim()}`,
    );
    const info = JSON.parse(new TextDecoder().decode(output.stdout)) as {
      modules: Array<{
        specifier: string;
        dependencies?: Array<{ code?: { specifier?: string }; type?: { specifier?: string } }>;
      }>;
    };
    const edges: Array<[string, string]> = [];
    for (const module of info.modules) {
      const from = repoPath(module.specifier);
      if (from === undefined) continue;
      for (const dep of module.dependencies ?? []) {
        for (const to of new Set([repoPath(dep.code?.specifier), repoPath(dep.type?.specifier)])) {
          if (to !== undefined) edges.push([from, to]);
        }
      }
    }
    const program = new Set(["main.ts"]);
    for (let grew = true; grew;) {
      grew = false;
      for (const [from, to] of edges) {
        if (program.has(from) && !program.has(to)) {
          program.add(to);
          grew = true;
        }
      }
    }
    return { edges, program };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const graph = await importGraph();

function roomOf(path: string): string | undefined {
  return Object.keys(MAY_IMPORT).find((room) => path.startsWith(room));
}

Deno.test("each walled room of lib/ holds modules (a rule over an empty room holds nothing)", () => {
  const modules = new Set(graph.edges.flat());
  const empty = Object.keys(MAY_IMPORT).filter((room) =>
    ![...modules].some((m) => m.startsWith(room))
  );
  assert.deepEqual(empty, [], `rooms with no module in the import graph: ${empty.join(", ")}`);
});

Deno.test("each walled room of lib/ imports only the rooms below it", () => {
  const broken: string[] = [];
  for (const [from, to] of graph.edges) {
    const room = roomOf(from);
    if (room === undefined || isTest(from) || !to.endsWith(".ts")) continue;
    const allowed = [room, ...MAY_IMPORT[room]!];
    if (!allowed.some((r) => to.startsWith(r))) {
      broken.push(`${from} imports ${to}: ${room} may import only ${allowed.join(", ")}`);
    }
  }
  assert.deepEqual(broken, [], `walls broken:\n${broken.join("\n")}`);
});

Deno.test("no module of the program imports the test fakes or tests/", () => {
  const broken = graph.edges
    .filter(([from, to]) =>
      !isTest(from) && !TEST_ONLY.some((t) => from.startsWith(t)) &&
      TEST_ONLY.some((t) => to.startsWith(t))
    )
    .map(([from, to]) => `${from} imports ${to}`);
  assert.deepEqual(broken, [], `test-only modules imported:\n${broken.join("\n")}`);
  const reached = [...graph.program].filter((m) => TEST_ONLY.some((t) => m.startsWith(t)));
  assert.deepEqual(reached, [], `main.ts reaches test-only modules: ${reached.join(", ")}`);
});
