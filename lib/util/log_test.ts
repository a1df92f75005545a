import assert from "node:assert/strict";
import { getConfig } from "@logtape/logtape";
import { escapeControls, logger } from "./log.ts";
import { captureLogs } from "../testing/log_capture.ts";

Deno.test("setupLogging() writes one readable text line per record, values unquoted", () => {
  using logs = captureLogs("info", "text");
  const lines = logs.lines;
  logger("update").info("Updated {workload} container {container}: {from} -> {to}", {
    workload: "Deployment dev/web",
    container: "app",
    from: "myimage:test",
    to: "myimage:fixed",
  });
  logger("update").debug("not shown at info level");
  assert.equal(lines.length, 1);
  assert.match(
    lines[0]!,
    /^\d{4}-\d\d-\d\dT\S+Z INFO {2}Updated Deployment dev\/web container app: myimage:test -> myimage:fixed\n$/,
  );
});

Deno.test("setupLogging() writes JSON lines with the structured fields", () => {
  using logs = captureLogs("debug", "json");
  const lines = logs.lines;
  logger("update").warn("Cannot update {workload}", { workload: "Deployment dev/web" });
  assert.equal(lines.length, 1);
  const record = JSON.parse(lines[0]!);
  assert.equal(record.level, "warning");
  assert.equal(record.logger, "update");
  assert.equal(record.msg, "Cannot update Deployment dev/web");
  assert.equal(record.workload, "Deployment dev/web");
});

Deno.test("the text format escapes control characters in values: no forged lines", () => {
  using logs = captureLogs("debug", "text");
  const lines = logs.lines;
  const forged = "app:v1\n2026-11-25T14:00:00.000Z INFO  Updated Deployment prod/db";
  logger("plan").debug("Skipped {image} of {workload}", {
    image: forged,
    workload: "Deployment dev/web\r\u001b[2K",
  });
  logger("plan").info("Failed: {error}", { error: new Error("a\tb\u2028c\u0000") });
  assert.equal(lines.length, 2);
  assert.ok(lines.every((line) => line.indexOf("\n") === line.length - 1), lines.join(""));
  assert.match(
    lines[0]!,
    /DEBUG Skipped app:v1\\n2026-11-25T14:00:00.000Z INFO {2}Updated Deployment prod\/db of Deployment dev\/web\\r\\x1b\[2K\n$/,
  );
  assert.match(lines[1]!, /INFO {2}Failed: a\\tb\\u2028c\\x00\n$/);
});

Deno.test("escapeControls() escapes DEL and C1 controls and leaves printable text alone", () => {
  assert.equal(
    escapeControls("docker.io/library/app:v1 é✓ \\n"),
    "docker.io/library/app:v1 é✓ \\n",
  );
  assert.equal(escapeControls("\u007f\u0085\u009b"), "\\x7f\\x85\\x9b");
});

Deno.test("the JSON format keeps values exact and the record on one line", () => {
  using logs = captureLogs("debug", "json");
  const lines = logs.lines;
  logger("plan").info("Skipped {image}", { image: "app\nINFO x" });
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.indexOf("\n"), lines[0]!.length - 1);
  const record = JSON.parse(lines[0]!);
  assert.equal(record.image, "app\nINFO x");
  assert.equal(record.msg, "Skipped app\nINFO x");
});

Deno.test("captureLogs() leaves logging unconfigured again when disposed", () => {
  let lines: string[];
  {
    using logs = captureLogs("info");
    lines = logs.lines;
    logger("test").info("while captured");
    assert.notEqual(getConfig(), null);
  }
  logger("test").info("after");
  assert.equal(lines.length, 1);
  assert.equal(getConfig(), null);
});
