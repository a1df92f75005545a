/**
 * The GitHub workflows (.github/workflows) pass actionlint, which also runs
 * shellcheck over their `run:` scripts; both are installed by
 * tests/env/prepare.ts. The workflows cannot be run here, so this is their test.
 */
import assert from "node:assert/strict";
import { ACTIONLINT_VERSION, actionlintBuilt, actionlintPath } from "./env/actionlint.ts";
import { binary } from "./env/paths.ts";

const root = new URL("..", import.meta.url).pathname;

async function actionlint(args: string[], cwd: string): Promise<{ code: number; output: string }> {
  if (!actionlintBuilt()) {
    throw new Error(
      `actionlint ${ACTIONLINT_VERSION} is not built in ${actionlintPath()}: ` +
        "run `deno run -A tests/env/prepare.ts` (or `deno task test`)",
    );
  }
  const result = await new Deno.Command(actionlintPath(), {
    // An explicit shellcheck: without one on the PATH actionlint would skip the scripts silently.
    args: ["-no-color", `-shellcheck=${binary("shellcheck")}`, ...args],
    cwd,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const decoder = new TextDecoder();
  return {
    code: result.code,
    output: decoder.decode(result.stdout) + decoder.decode(result.stderr),
  };
}

Deno.test("the GitHub workflows pass actionlint and shellcheck", async () => {
  const files = [...Deno.readDirSync(`${root}.github/workflows`)].map((entry) => entry.name);
  assert.deepEqual(files.sort(), ["ci.yml", "release.yml"]);
  const { code, output } = await actionlint(files.map((name) => `.github/workflows/${name}`), root);
  assert.equal(code, 0, output);
});

Deno.test("actionlint finds a broken workflow and a shellcheck finding", async () => {
  await using dir = await tempDir();
  await Deno.writeTextFile(
    `${dir.path}/broken.yml`,
    `on: push
jobs:
  build:
    runs-on: ubuntu-latest
    needs: nothing
    steps:
      - run: echo $UNQUOTED
`,
  );
  const { code, output } = await actionlint(["broken.yml"], dir.path);
  assert.equal(code, 1, output);
  assert.match(output, /job "build" needs job "nothing" which does not exist/);
  assert.match(output, /SC2086/);
});

async function tempDir(): Promise<AsyncDisposable & { path: string }> {
  const path = await Deno.makeTempDir({ prefix: "vfp-test-actionlint-" });
  return { path, [Symbol.asyncDispose]: () => Deno.remove(path, { recursive: true }) };
}
