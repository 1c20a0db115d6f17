/**
 * The k6-like core, part 2: metrics (counter, trend, rate, gauge), percentiles and
 * thresholds such as 'rate>20000', 'p(99)<250', 'avg<100', 'count>0'.
 */

export type MetricType = 'counter' | 'trend' | 'rate' | 'gauge';

/**
 * CPU milliseconds per 1,000 records, to a tenth: the unit of every CPU figure the harness reports
 * beside records/s. Undefined without a CPU reading or without a record.
 */
export function cpuMsPer1k(cpuMs: number | undefined, records: number): number | undefined {
  if (cpuMs === undefined || !(records > 0)) return undefined;
  return Math.round((cpuMs / records) * 1000 * 10) / 10;
}

/** Linear interpolation between closest ranks (k6's method); NaN for no samples. */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  if (p <= 0) return sorted[0] as number;
  if (p >= 100) return sorted[sorted.length - 1] as number;
  const index = (p / 100) * (sorted.length - 1);
  const low = Math.floor(index);
  const high = Math.ceil(index);
  const lowValue = sorted[low] as number;
  return lowValue + ((sorted[high] as number) - lowValue) * (index - low);
}

export function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

interface MetricState {
  readonly type: MetricType;
  values: number[];
  sum: number;
  count: number;
  /** rate: samples that were non-zero (true). */
  passes: number;
  last: number;
  min: number;
  max: number;
}

/** Aggregates of one metric, as thresholds and the summary see them. */
export type Aggregate = Record<string, number> & { readonly count: number };

/** A set of named metrics; durationMs turns counters into per-second rates. */
export class Metrics {
  private readonly metrics = new Map<string, MetricState>();

  constructor(public durationMs = 0) {}

  private state(name: string, type: MetricType): MetricState {
    let state = this.metrics.get(name);
    if (!state) {
      state = { type, values: [], sum: 0, count: 0, passes: 0, last: Number.NaN, min: Infinity, max: -Infinity };
      this.metrics.set(name, state);
    } else if (state.type !== type) throw new Error(`metric '${name}' is a ${state.type}, not a ${type}`);
    return state;
  }

  /** Declares a metric so it shows (with zero) even when nothing was added. */
  define(name: string, type: MetricType): void {
    this.state(name, type);
  }

  add(name: string, type: MetricType, value: number): void {
    const state = this.state(name, type);
    state.count++;
    state.sum += value;
    state.last = value;
    if (value < state.min) state.min = value;
    if (value > state.max) state.max = value;
    if (type === 'trend') state.values.push(value);
    if (type === 'rate' && value !== 0) state.passes++;
  }

  counter(name: string, value = 1): void {
    this.add(name, 'counter', value);
  }
  trend(name: string, value: number): void {
    this.add(name, 'trend', value);
  }
  rate(name: string, ok: boolean): void {
    this.add(name, 'rate', ok ? 1 : 0);
  }
  gauge(name: string, value: number): void {
    this.add(name, 'gauge', value);
  }

  names(): string[] {
    return [...this.metrics.keys()];
  }

  typeOf(name: string): MetricType | undefined {
    return this.metrics.get(name)?.type;
  }

  /** The aggregates of a metric; trends also answer any p(N) through `aggregateValue`. */
  aggregate(name: string): Aggregate | undefined {
    const state = this.metrics.get(name);
    if (!state) return undefined;
    const seconds = this.durationMs / 1000;
    switch (state.type) {
      case 'counter':
        return { count: state.sum, rate: seconds > 0 ? state.sum / seconds : Number.NaN };
      case 'rate':
        return { count: state.count, passes: state.passes, fails: state.count - state.passes, rate: state.count === 0 ? 0 : state.passes / state.count };
      case 'gauge':
        return { count: state.count, value: state.last, min: state.min, max: state.max };
      case 'trend': {
        const sorted = this.sorted(state);
        return {
          count: state.count,
          avg: state.count === 0 ? Number.NaN : state.sum / state.count,
          min: sorted[0] ?? Number.NaN,
          med: percentile(sorted, 50),
          max: sorted[sorted.length - 1] ?? Number.NaN,
          'p(90)': percentile(sorted, 90),
          'p(95)': percentile(sorted, 95),
          'p(99)': percentile(sorted, 99),
        };
      }
    }
  }

  /** One aggregation by name: 'avg', 'count', 'rate', 'p(99.9)', … */
  aggregateValue(name: string, aggregation: string): number | undefined {
    const state = this.metrics.get(name);
    if (!state) return undefined;
    const p = /^p\((\d+(?:\.\d+)?)\)$/.exec(aggregation);
    if (p) return state.type === 'trend' ? percentile(this.sorted(state), Number(p[1])) : undefined;
    return this.aggregate(name)?.[aggregation];
  }

  /** Every sample of a trend, for raw output. */
  samples(name: string): readonly number[] {
    return this.metrics.get(name)?.values ?? [];
  }

  private sorted(state: MetricState): number[] {
    // Sort in place once; later additions re-sort.
    state.values.sort((a, b) => a - b);
    return state.values;
  }
}

export interface ThresholdExpression {
  readonly source: string;
  readonly aggregation: string;
  readonly operator: '<' | '<=' | '>' | '>=' | '==' | '===' | '!=';
  readonly value: number;
}

const THRESHOLD = /^\s*(avg|min|max|med|count|rate|value|passes|fails|p\(\s*\d+(?:\.\d+)?\s*\))\s*(<=|>=|===|==|!=|<|>)\s*(-?\d+(?:\.\d+)?(?:e[+-]?\d+)?)\s*$/i;

export function parseThreshold(source: string): ThresholdExpression {
  const match = THRESHOLD.exec(source);
  if (!match) throw new Error(`invalid threshold '${source}' (expected e.g. 'rate>20000', 'p(99)<250', 'avg<100', 'count>0')`);
  return {
    source,
    aggregation: (match[1] as string).replace(/\s+/g, '').toLowerCase(),
    operator: match[2] as ThresholdExpression['operator'],
    value: Number(match[3]),
  };
}

export function compare(actual: number, operator: ThresholdExpression['operator'], expected: number): boolean {
  if (Number.isNaN(actual)) return false;
  switch (operator) {
    case '<':
      return actual < expected;
    case '<=':
      return actual <= expected;
    case '>':
      return actual > expected;
    case '>=':
      return actual >= expected;
    case '==':
    case '===':
      return actual === expected;
    case '!=':
      return actual !== expected;
  }
}

export type ThresholdSpec = string | { readonly threshold: string };

export interface ThresholdResult {
  readonly metric: string;
  readonly expression: string;
  readonly actual: number | undefined;
  readonly ok: boolean;
  /** Why it failed without a comparison (no such metric, aggregation not applicable). */
  readonly error?: string;
}

/** Evaluates every threshold; a missing metric or an aggregation it lacks fails. */
export function evaluateThresholds(metrics: Metrics, thresholds: Readonly<Record<string, readonly ThresholdSpec[]>>): ThresholdResult[] {
  const results: ThresholdResult[] = [];
  for (const [metric, specs] of Object.entries(thresholds)) {
    for (const spec of specs) {
      const source = typeof spec === 'string' ? spec : spec.threshold;
      const expression = parseThreshold(source);
      const actual = metrics.aggregateValue(metric, expression.aggregation);
      if (metrics.typeOf(metric) === undefined) results.push({ metric, expression: source, actual: undefined, ok: false, error: `no metric '${metric}'` });
      else if (actual === undefined)
        results.push({ metric, expression: source, actual, ok: false, error: `'${expression.aggregation}' does not apply to ${metrics.typeOf(metric)} '${metric}'` });
      else results.push({ metric, expression: source, actual, ok: compare(actual, expression.operator, expression.value) });
    }
  }
  return results;
}
