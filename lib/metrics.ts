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

/** A registry of counters and gauges. */
export class Metrics {
  readonly #families = new Map<string, Family>();

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
