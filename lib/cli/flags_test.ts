import assert from "node:assert/strict";
import { UserError } from "../util/errors.ts";
import {
  choiceFlag,
  envName,
  flagHelp,
  flagMarkdown,
  type FlagTable,
  listFlag,
  loggingFlags,
  parseFlags,
  stringFlag,
} from "./flags.ts";

const TABLE: FlagTable = {
  command: "demo",
  env: true,
  flags: [
    { name: "health-addr", type: "string", value: "ADDR", default: "off", help: "serve on ADDR" },
    { name: "namespace", short: "n", type: "list", value: "NS", help: "only in NS" },
    { name: "dry-run", type: "boolean", help: "change nothing" },
    { name: "log-level", type: "string", value: "LEVEL", default: "info", help: "a|b" },
    { name: "log-format", type: "string", value: "FORMAT", help: "text or json" },
  ],
};

const env = (values: Record<string, string>) => (name: string) => values[name];

Deno.test("envName() is VERYFRESHPOD_ and the flag in capitals", () => {
  assert.equal(envName("resync-period"), "VERYFRESHPOD_RESYNC_PERIOD");
});

Deno.test("a VERYFRESHPOD_ variable gives a flag that is not on the command line", () => {
  const values = parseFlags(
    TABLE,
    [],
    env({
      VERYFRESHPOD_HEALTH_ADDR: ":8081",
      VERYFRESHPOD_NAMESPACE: "dev, staging",
      VERYFRESHPOD_DRY_RUN: "true",
    }),
  );
  assert.equal(stringFlag(values, "health-addr"), ":8081");
  assert.deepEqual(listFlag(values, "namespace"), ["dev", "staging"]);
  assert.equal(values["dry-run"], true);
  assert.equal(parseFlags(TABLE, [], env({ VERYFRESHPOD_DRY_RUN: "0" }))["dry-run"], false);
});

Deno.test("the command line wins over the variable; an empty variable counts as unset", () => {
  const values = parseFlags(
    TABLE,
    ["--health-addr", ":9090", "-n", "prod"],
    env({
      VERYFRESHPOD_HEALTH_ADDR: ":8081",
      VERYFRESHPOD_NAMESPACE: "dev",
      VERYFRESHPOD_DRY_RUN: "",
    }),
  );
  assert.equal(stringFlag(values, "health-addr"), ":9090");
  assert.deepEqual(listFlag(values, "namespace"), ["prod"]);
  assert.equal(values["dry-run"], undefined);
});

Deno.test("a bad value in a variable is one usage error naming the variable", () => {
  assert.throws(
    () => parseFlags(TABLE, [], env({ VERYFRESHPOD_DRY_RUN: "maybe" })),
    (error: unknown) => {
      assert.ok(error instanceof UserError);
      assert.equal(error.exitCode, 2);
      assert.equal(
        error.message,
        'invalid value "maybe" for VERYFRESHPOD_DRY_RUN: use true or false\n' +
          'Run "veryfreshpod demo --help" for usage.',
      );
      return true;
    },
  );
  const values = parseFlags(TABLE, [], env({ VERYFRESHPOD_LOG_LEVEL: "loud" }));
  assert.throws(
    () => loggingFlags("demo", values),
    /^UserError: invalid value "loud" for VERYFRESHPOD_LOG_LEVEL: must be one of debug, info/,
  );
  // The same value on the command line names the flag.
  assert.throws(
    () => loggingFlags("demo", parseFlags(TABLE, ["--log-level", "loud"])),
    /^UserError: invalid value "loud" for --log-level: must be one of/,
  );
  assert.equal(choiceFlag("demo", values, "log-format", ["text", "json"], "text"), "text");
});

Deno.test("a command without variables ignores them", () => {
  const table: FlagTable = { ...TABLE, env: false };
  const values = parseFlags(table, [], env({ VERYFRESHPOD_HEALTH_ADDR: ":8081" }));
  assert.equal(stringFlag(values, "health-addr"), undefined);
  assert.doesNotMatch(flagHelp(table), /VERYFRESHPOD_/);
});

Deno.test("help and the README table come from the same table", () => {
  const help = flagHelp(TABLE);
  assert.match(help, /^ {2}--health-addr ADDR {6}serve on ADDR \(default: off\)\n/);
  assert.match(help, /\[VERYFRESHPOD_HEALTH_ADDR\]/);
  assert.match(help, / {2}-n, --namespace NS {6}only in NS \[VERYFRESHPOD_NAMESPACE\]/);
  assert.match(help, / {2}-h, --help {14}show this help$/);
  assert.ok(help.split("\n").every((line) => line.length <= 80), help);
  const table = flagMarkdown(TABLE);
  assert.equal(table.split("\n")[0], "| flag | default | environment | meaning |");
  assert.match(
    table,
    /^\| `-n`, `--namespace NS` \| {2}\| `VERYFRESHPOD_NAMESPACE` \| only in NS \|$/m,
  );
  assert.match(table, /\| a\\\|b \|$/m, "a | in a cell is escaped");
});
