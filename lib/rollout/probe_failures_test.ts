import assert from "node:assert/strict";
import { probeEventsOf } from "./probe_failures.ts";

Deno.test("probeEventsOf() keeps the wanted pods' probe failures, oldest first, with the container", () => {
  const events = probeEventsOf([
    {
      involvedObject: { name: "web-2", fieldPath: "spec.containers{app}" },
      message: "Readiness probe failed: cat: can't open '/etc/ready': No such file or directory",
      count: 3,
      lastTimestamp: "2026-11-25T12:00:09Z",
    },
    {
      involvedObject: { name: "web-1", fieldPath: "spec.containers{app}" },
      message: "Readiness probe failed: old",
      series: { count: 7 },
      eventTime: "2026-11-25T12:00:01Z",
    },
    { involvedObject: { name: "other-1" }, message: "Liveness probe failed: x" },
    { involvedObject: { name: "web-1" }, message: "" },
  ], new Set(["web-1", "web-2"]));
  assert.deepEqual(events, [
    { pod: "web-1", container: "app", message: "Readiness probe failed: old", count: 7 },
    {
      pod: "web-2",
      container: "app",
      message: "Readiness probe failed: cat: can't open '/etc/ready': No such file or directory",
      count: 3,
    },
  ]);
});
