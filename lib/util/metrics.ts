/**
 * A few Prometheus metrics in the text exposition format, served on
 * `/metrics`. Small enough not to need a client library.
 */

type Labels = Readonly<Record<string, string>>;

interface Family {
  readonly help: string;
  readonly type: "counter" | "gauge";
  readonly samples: Map<string, number>;
}

interface Histogram {
  readonly help: string;
  /** Upper bounds, ascending; +Inf is implied. */
  readonly buckets: readonly number[];
  readonly series: Map<string, { labels: Labels; counts: number[]; sum: number; count: number }>;
}

/** A registry of counters, gauges and histograms. */
export class Metrics {
  readonly #families = new Map<string, Family>();
  readonly #histograms = new Map<string, Histogram>();

  /** Declares a histogram with the given bucket bounds; must come before observe. */
  defineHistogram(name: string, help: string, buckets: readonly number[]): void {
    this.#histograms.set(name, {
      help,
      buckets: [...buckets].sort((a, b) => a - b),
      series: new Map(),
    });
  }

  /** Adds one observation to a histogram. */
  observe(name: string, value: number, labels: Labels = {}): void {
    const histogram = this.#histograms.get(name);
    if (!histogram) throw new TypeError(`Undefined metric "${name}"`);
    const key = labelText(labels);
    let series = histogram.series.get(key);
    if (!series) {
      series = { labels, counts: histogram.buckets.map(() => 0), sum: 0, count: 0 };
      histogram.series.set(key, series);
    }
    histogram.buckets.forEach((bound, i) => {
      if (value <= bound) series.counts[i]!++;
    });
    series.sum += value;
    series.count++;
  }

  /** How many observations a histogram holds for `labels` (for tests). */
  observations(name: string, labels: Labels = {}): number {
    return this.#histograms.get(name)?.series.get(labelText(labels))?.count ?? 0;
  }

  /** Declares a metric; must come before inc/set. */
  define(name: string, type: "counter" | "gauge", help: string): void {
    this.#families.set(name, { help, type, samples: new Map() });
  }

  inc(name: string, labels: Labels = {}, by = 1): void {
    const samples = this.#family(name).samples;
    const key = labelText(labels);
    samples.set(key, (samples.get(key) ?? 0) + by);
  }

  set(name: string, value: number, labels: Labels = {}): void {
    this.#family(name).samples.set(labelText(labels), value);
  }

  /** The current value (for tests and the health endpoint). */
  get(name: string, labels: Labels = {}): number {
    return this.#family(name).samples.get(labelText(labels)) ?? 0;
  }

  /** The text exposition format, version 0.0.4. */
  render(): string {
    const lines: string[] = [];
    for (const [name, family] of this.#families) {
      lines.push(`# HELP ${name} ${family.help}`, `# TYPE ${name} ${family.type}`);
      if (family.samples.size === 0) {
        lines.push(`${name} 0`);
      }
      for (const [labels, value] of family.samples) lines.push(`${name}${labels} ${value}`);
    }
    for (const [name, histogram] of this.#histograms) {
      lines.push(`# HELP ${name} ${histogram.help}`, `# TYPE ${name} histogram`);
      for (const [key, series] of histogram.series) {
        histogram.buckets.forEach((bound, i) => {
          const le = labelText({ ...series.labels, le: String(bound) });
          lines.push(`${name}_bucket${le} ${series.counts[i]}`);
        });
        lines.push(`${name}_bucket${labelText({ ...series.labels, le: "+Inf" })} ${series.count}`);
        lines.push(`${name}_sum${key} ${series.sum}`, `${name}_count${key} ${series.count}`);
      }
    }
    return lines.join("\n") + "\n";
  }

  #family(name: string): Family {
    const family = this.#families.get(name);
    if (!family) throw new TypeError(`Undefined metric "${name}"`);
    return family;
  }
}

function labelText(labels: Labels): string {
  const entries = Object.entries(labels).sort(([a], [b]) => a.localeCompare(b));
  if (entries.length === 0) return "";
  const escape = (v: string) => v.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
  return `{${entries.map(([k, v]) => `${k}="${escape(v)}"`).join(",")}}`;
}
