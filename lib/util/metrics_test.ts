import assert from "node:assert/strict";
import { Metrics } from "./metrics.ts";

Deno.test("a histogram renders cumulative buckets, sum and count per label set", () => {
  const metrics = new Metrics();
  metrics.defineHistogram("vfp_seconds", "Durations", [1, 5]);
  metrics.observe("vfp_seconds", 0.5, { result: "done" });
  metrics.observe("vfp_seconds", 3, { result: "done" });
  metrics.observe("vfp_seconds", 9, { result: "done" });
  assert.equal(metrics.observations("vfp_seconds", { result: "done" }), 3);
  assert.equal(
    metrics.render(),
    [
      "# HELP vfp_seconds Durations",
      "# TYPE vfp_seconds histogram",
      'vfp_seconds_bucket{le="1",result="done"} 1',
      'vfp_seconds_bucket{le="5",result="done"} 2',
      'vfp_seconds_bucket{le="+Inf",result="done"} 3',
      'vfp_seconds_sum{result="done"} 12.5',
      'vfp_seconds_count{result="done"} 3',
      "",
    ].join("\n"),
  );
});

Deno.test("observe() on an undeclared histogram throws", () => {
  assert.throws(() => new Metrics().observe("nope", 1), TypeError);
});
