import assert from "node:assert/strict";
import { escapeControls, logger, setupLogging } from "./log.ts";

Deno.test("setupLogging() writes one readable text line per record, values unquoted", () => {
  const lines: string[] = [];
  setupLogging({ level: "info", format: "text", write: (line) => lines.push(line) });
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
  const lines: string[] = [];
  setupLogging({ level: "debug", format: "json", write: (line) => lines.push(line) });
  logger("update").warn("Cannot update {workload}", { workload: "Deployment dev/web" });
  assert.equal(lines.length, 1);
  const record = JSON.parse(lines[0]!);
  assert.equal(record.level, "warning");
  assert.equal(record.logger, "update");
  assert.equal(record.msg, "Cannot update Deployment dev/web");
  assert.equal(record.workload, "Deployment dev/web");
});

Deno.test("the text format escapes control characters in values: no forged lines", () => {
  const lines: string[] = [];
  setupLogging({ level: "debug", format: "text", write: (line) => lines.push(line) });
  const forged = "app:v1\n2026-11-25T14:00:00.000Z INFO  Updated Deployment prod/db";
  logger("plan").debug("Skipped {image} of {workload}", {
    image: forged,
    workload: "Deployment dev/web\r\u001b[2K",
  });
  logger("plan").info("Failed: {error}", { error: new Error("a\tb\u2028c\u0000") });
  setupLogging({ level: "info", format: "text", write: () => {} });
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
  const lines: string[] = [];
  setupLogging({ level: "debug", format: "json", write: (line) => lines.push(line) });
  logger("plan").info("Skipped {image}", { image: "app\nINFO x" });
  setupLogging({ level: "info", format: "text", write: () => {} });
  assert.equal(lines.length, 1);
  assert.equal(lines[0]!.indexOf("\n"), lines[0]!.length - 1);
  const record = JSON.parse(lines[0]!);
  assert.equal(record.image, "app\nINFO x");
  assert.equal(record.msg, "Skipped app\nINFO x");
});
