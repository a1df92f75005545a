/**
 * Summaries of timing samples for the benchmark table: nearest-rank
 * percentiles, so that a p99 of 100 samples is the 99th smallest sample and
 * never an interpolated value nobody measured.
 */

/** What one series of samples is reported as. */
export interface Summary {
  readonly count: number;
  readonly min: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
  readonly mean: number;
}

/**
 * The nearest-rank percentile `p` (0 < p <= 100) of `samples`: the smallest
 * sample such that at least p % of the samples are at most it.
 */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) throw new RangeError("Cannot take a percentile of no samples");
  if (!(p > 0 && p <= 100)) throw new RangeError(`Invalid percentile ${p}: use 0 < p <= 100`);
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.max(0, rank - 1)]!;
}

/** Count, extremes, p50/p90/p99 and mean of `samples` (at least one). */
export function summarize(samples: readonly number[]): Summary {
  if (samples.length === 0) throw new RangeError("Cannot summarize no samples");
  let sum = 0;
  for (const sample of samples) {
    if (!Number.isFinite(sample)) throw new RangeError(`Invalid sample ${sample}`);
    sum += sample;
  }
  return {
    count: samples.length,
    min: Math.min(...samples),
    p50: percentile(samples, 50),
    p90: percentile(samples, 90),
    p99: percentile(samples, 99),
    max: Math.max(...samples),
    mean: sum / samples.length,
  };
}
