import type { Metric, Registry } from 'prom-client';

/** One line of the scrape: what prom-client's registry formats (its metric types do not say it: their `type` is an enum, the registry's a string). */
export interface ScrapedValue {
  readonly labels: Readonly<Record<string, string | number>>;
  readonly value: number;
  readonly metricName: string;
}

interface Series {
  readonly labels: Readonly<Record<string, string>>;
  /** Observations per bucket (not cumulative), in the buckets' order. */
  readonly counts: number[];
  sum: number;
  count: number;
}

/**
 * A Prometheus histogram of seconds elapsed since many starts at once: the end-to-end latency of
 * every record a commit covered (thousands per commit), counted into plain arrays. prom-client's
 * Histogram checks and hashes the labels and makes objects on every observation: per record that
 * was ~190 ns of CPU and ~290 bytes of garbage (`npm run load:record-path`, commit bookkeeping).
 * It is scraped in the same text format as a prom-client Histogram fed the same values
 * (test/unit/elapsed-histogram.test.ts compares the two), and registers like one: the registry
 * reads `name`, `help`, `type`, `aggregator`, `get()` and `reset()` of a metric.
 */
export class ElapsedHistogram<L extends string> {
  readonly type = 'histogram';
  readonly aggregator = 'sum';
  private readonly series = new Map<string, Series>();
  private readonly buckets: readonly number[];

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly labelNames: readonly L[],
    buckets: readonly number[],
    registers: readonly Registry[],
  ) {
    this.buckets = [...buckets].sort((a, b) => a - b);
    for (const registry of registers) registry.registerMetric(this as unknown as Metric<L>);
  }

  /**
   * Observes the seconds from each of `startsMs` to `nowMs` (0 for a start in the future: clocks
   * differ), under `labels`. A start that is not a finite number is not counted.
   */
  observeSince(labels: Readonly<Record<L, string>>, nowMs: number, startsMs: readonly number[]): void {
    if (startsMs.length === 0) return;
    const series = this.seriesOf(labels);
    const { counts } = series;
    const bounds = this.buckets;
    for (let index = 0; index < startsMs.length; index++) {
      const seconds = Math.max(0, nowMs - (startsMs[index] as number)) / 1000;
      if (!Number.isFinite(seconds)) continue;
      series.sum += seconds;
      series.count++;
      let bucket = 0;
      while (bucket < bounds.length && seconds > (bounds[bucket] as number)) bucket++;
      if (bucket < bounds.length) counts[bucket] = (counts[bucket] as number) + 1;
    }
  }

  /** What prom-client's Histogram reports: cumulative buckets, +Inf, sum and count, per series. */
  async get(): Promise<{ name: string; help: string; type: 'histogram'; aggregator: 'sum'; values: ScrapedValue[] }> {
    const values: ScrapedValue[] = [];
    for (const { labels, counts, sum, count } of this.series.values()) {
      let cumulative = 0;
      this.buckets.forEach((bound, index) => {
        cumulative += counts[index] as number;
        values.push({ labels: { le: bound, ...labels }, value: cumulative, metricName: `${this.name}_bucket` });
      });
      values.push({ labels: { le: '+Inf', ...labels }, value: count, metricName: `${this.name}_bucket` });
      values.push({ labels: { ...labels }, value: sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...labels }, value: count, metricName: `${this.name}_count` });
    }
    return { name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values };
  }

  reset(): void {
    this.series.clear();
  }

  private seriesOf(labels: Readonly<Record<L, string>>): Series {
    const key = this.labelNames.map((name) => labels[name]).join('\u0000');
    let series = this.series.get(key);
    if (!series) {
      const own: Record<string, string> = {};
      for (const name of this.labelNames) own[name] = labels[name];
      series = { labels: own, counts: this.buckets.map(() => 0), sum: 0, count: 0 };
      this.series.set(key, series);
    }
    return series;
  }
}
