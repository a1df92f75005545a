import assert from "node:assert/strict";
import { percentile, summarize } from "./stats.ts";

Deno.test("percentile() takes the nearest rank, never an interpolated value", () => {
  const samples = Array.from({ length: 100 }, (_, i) => 100 - i); // 100 … 1, unsorted
  assert.equal(percentile(samples, 50), 50);
  assert.equal(percentile(samples, 99), 99);
  assert.equal(percentile(samples, 100), 100);
  assert.equal(percentile([3, 1, 2, 4], 50), 2);
  assert.equal(percentile([7], 99), 7);
  // 10 samples: p99 is the largest, p90 the ninth.
  const ten = [10, 9, 8, 7, 6, 5, 4, 3, 2, 1];
  assert.equal(percentile(ten, 99), 10);
  assert.equal(percentile(ten, 90), 9);
});

Deno.test("percentile() refuses no samples and a percentile out of range", () => {
  assert.throws(() => percentile([], 50), /no samples/);
  assert.throws(() => percentile([1], 0), /Invalid percentile 0/);
  assert.throws(() => percentile([1], 101), /Invalid percentile 101/);
});

Deno.test("summarize() reports count, extremes, percentiles and mean", () => {
  assert.deepEqual(summarize([4, 1, 3, 2]), {
    count: 4,
    min: 1,
    p50: 2,
    p90: 4,
    p99: 4,
    max: 4,
    mean: 2.5,
  });
});

Deno.test("summarize() refuses no samples and samples that are not numbers", () => {
  assert.throws(() => summarize([]), /no samples/);
  assert.throws(() => summarize([1, NaN]), /Invalid sample NaN/);
  assert.throws(() => summarize([Infinity]), /Invalid sample Infinity/);
});

Deno.test("summarize() does not reorder the caller's samples", () => {
  const samples = [3, 1, 2];
  summarize(samples);
  assert.deepEqual(samples, [3, 1, 2]);
});
