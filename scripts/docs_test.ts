import assert from "node:assert/strict";
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
