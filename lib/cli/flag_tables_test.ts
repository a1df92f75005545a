import assert from "node:assert/strict";
import { FLAG_TABLES, VERSION_FLAGS } from "./flag_tables.ts";
import { flagHelp } from "./flags.ts";
import { main } from "./main.ts";

async function stdoutOf(args: string[]): Promise<string> {
  let stdout = "";
  const code = await main(args, {
    env: () => undefined,
    stdout: (text) => (stdout += text),
    stderr: () => {},
    signal: new AbortController().signal,
    os: "linux",
  });
  assert.equal(code, 0, `veryfreshpod ${args.join(" ")}`);
  return stdout;
}

Deno.test("every command's --help lists exactly the flags of its table", async () => {
  const overview = await stdoutOf(["--help"]);
  const names = [...overview.split("Commands:\n")[1]!.matchAll(/^ {2}(\S+) /gm)].map((m) => m[1]!);
  assert.ok(names.includes("run") && names.includes("install"), overview);
  const tables = [...FLAG_TABLES, VERSION_FLAGS];
  for (const name of names) {
    const table = tables.find((candidate) => candidate.command === name);
    assert.ok(table, `the ${name} command has no table in lib/cli/flag_tables.ts`);
    assert.ok(
      table.flags.length === 0 || FLAG_TABLES.includes(table),
      `the ${name} table is not in FLAG_TABLES, so the README does not show it`,
    );
    const help = await stdoutOf([name, "--help"]);
    assert.ok(
      help.includes(`Flags:\n${flagHelp(table)}\n`),
      `${name} --help does not list its table's flags:\n${help}`,
    );
  }
});
