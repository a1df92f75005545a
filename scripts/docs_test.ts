import assert from "node:assert/strict";
import { KUBECONFIG_TABLE } from "../lib/kube/kubeconfig_table.ts";
import { expectedReadme, README, renderFlagBlocks } from "./docs.ts";

Deno.test("README.md's flag tables are the ones the parser and --help use", async () => {
  const readme = await Deno.readTextFile(README);
  assert.equal(
    readme,
    await expectedReadme(readme),
    "README.md's flag tables differ from lib/cli/flag_tables.ts: run `deno task docs`",
  );
});

Deno.test("a README without a command's block is an error naming it", () => {
  assert.throws(
    () => renderFlagBlocks("# x\n", [{ command: "run", flags: [] }]),
    /README.md has no block <!-- flags:run --> … <!-- \/flags:run --> for the run flags/,
  );
});

Deno.test("a block is replaced by the table, the text around it kept", () => {
  const out = renderFlagBlocks("a\n<!-- flags:x -->\nold\n<!-- /flags:x -->\nb\n", [{
    command: "x",
    flags: [{ name: "y", type: "boolean", help: "why" }],
  }]);
  assert.equal(
    out,
    "a\n<!-- flags:x -->\n\n| flag | default | meaning |\n| --- | --- | --- |\n| `--y` |  | why |\n\n<!-- /flags:x -->\nb\n",
  );
});

Deno.test("every test the kubeconfig table names exists", async () => {
  for (const row of KUBECONFIG_TABLE) {
    for (const test of row.tests) {
      const source = await Deno.readTextFile(new URL(`../${test.file}`, import.meta.url));
      assert.ok(
        source.includes(`Deno.test("${test.name}`) || source.includes(`t.step("${test.name}`),
        `${row.fields.join(", ")}: no test "${test.name}" in ${test.file}`,
      );
    }
  }
});

Deno.test("every kubeconfig field config.ts reads is in the kubeconfig table", async () => {
  const files = ["config.ts", "config_user.ts"];
  const source = (await Promise.all(
    files.map((file) => Deno.readTextFile(new URL(`../lib/kube/${file}`, import.meta.url))),
  )).join("\n");
  const read = new Set(
    [...source.matchAll(/(?:stringField|booleanField|pemOf)\([^)]*?"([a-zA-Z-]+)"/g)]
      .map((m) => m[1]!),
  );
  for (const [, name] of source.matchAll(/body\["([a-z-]+)"\]/g)) read.add(name!);
  const listed = new Set(KUBECONFIG_TABLE.flatMap((row) => row.fields));
  // Spellings the table lists once: `token-file` is client-node's spelling of tokenFile.
  const missing = [...read].filter((name) => !listed.has(name) && name !== "token-file");
  assert.ok(read.size >= 20, `found only ${[...read]}`);
  assert.deepEqual(missing, [], "fields read but not in lib/kube/kubeconfig_table.ts");
});
