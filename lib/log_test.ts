import assert from "node:assert/strict";
import { logger, setupLogging } from "./log.ts";

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
