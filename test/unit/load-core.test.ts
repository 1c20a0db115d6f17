import { describe, expect, it } from 'vitest';
import { compare, cpuMsPer1k, evaluateThresholds, Metrics, parseThreshold, percentile } from '../../load-tests/lib/metrics.js';
import { computeRatios, type CellSummary, markdownReport, svgChart } from '../../load-tests/lib/report.js';
import { durationOf, mergeSchedules, parseDuration, scheduleOf } from '../../load-tests/lib/schedule.js';
import { summaryText } from '../../load-tests/lib/summary.js';
import { parseConsumerPerformance, parseProducerPerformance } from '../../load-tests/lib/baselines.js';

describe('parseDuration', () => {
  it('reads k6 durations', () => {
    expect(parseDuration('30s')).toBe(30_000);
    expect(parseDuration('2m')).toBe(120_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('1m30s')).toBe(90_000);
    expect(parseDuration('1.5s')).toBe(1500);
    expect(parseDuration('1h')).toBe(3_600_000);
    expect(parseDuration('250')).toBe(250);
    expect(parseDuration(42)).toBe(42);
  });
  it('rejects what it cannot read', () => {
    for (const bad of ['', 's', '30x', '30 s', '1m foo', '-1s']) expect(() => parseDuration(bad), bad).toThrow(/invalid duration/);
  });
});

describe('executors as schedules (open model)', () => {
  it('constant-arrival-rate spaces arrivals evenly, independent of the system', () => {
    const times = scheduleOf({ executor: 'constant-arrival-rate', rate: 10, timeUnit: '1s', duration: '2s' });
    expect(times).toHaveLength(20);
    expect(times[0]).toBe(0);
    expect(times[1]).toBeCloseTo(100);
    expect(times[19]).toBeCloseTo(1900);
  });
  it('constant-arrival-rate honours timeUnit and startTime', () => {
    const times = scheduleOf({ executor: 'constant-arrival-rate', rate: 30, timeUnit: '1m', duration: '1m', startTime: '5s' });
    expect(times).toHaveLength(30);
    expect(times[0]).toBe(5000);
    expect(times[1]).toBeCloseTo(7000);
  });
  it('ramping-arrival-rate follows linear stages', () => {
    // 0 → 100/s over 10 s (500 arrivals), hold 100/s for 5 s (500), down to 0 over 10 s (500).
    const times = scheduleOf({
      executor: 'ramping-arrival-rate',
      startRate: 0,
      timeUnit: '1s',
      stages: [
        { target: 100, duration: '10s' },
        { target: 100, duration: '5s' },
        { target: 0, duration: '10s' },
      ],
    });
    expect(times.length).toBeGreaterThanOrEqual(1499);
    expect(times.length).toBeLessThanOrEqual(1501);
    const between = (from: number, to: number) => times.filter((t) => t >= from && t < to).length;
    expect(between(0, 5000)).toBeGreaterThan(120); // a quarter of the ramp's area
    expect(between(0, 5000)).toBeLessThan(130);
    expect(between(10_000, 15_000)).toBeGreaterThan(495);
    expect(between(10_000, 15_000)).toBeLessThan(505);
    for (let i = 1; i < times.length; i++) expect(times[i] as number).toBeGreaterThanOrEqual(times[i - 1] as number);
    expect(times[times.length - 1] as number).toBeLessThanOrEqual(25_000);
  });
  it('shared-iterations is a backlog: every arrival due at once', () => {
    expect(scheduleOf({ executor: 'shared-iterations', iterations: 5, vus: 2 })).toEqual([0, 0, 0, 0, 0]);
    expect(durationOf({ executor: 'shared-iterations', iterations: 5, maxDuration: '30s' })).toBe(30_000);
  });
  it('merges scenarios in time order and knows their length', () => {
    const merged = mergeSchedules({
      a: { executor: 'constant-arrival-rate', rate: 2, duration: '1s' },
      b: { executor: 'constant-arrival-rate', rate: 1, duration: '1s', startTime: '250ms' },
    });
    expect(merged.map((m) => [m.at, m.scenario])).toEqual([
      [0, 'a'],
      [250, 'b'],
      [500, 'a'],
    ]);
    expect(durationOf({ executor: 'ramping-arrival-rate', stages: [{ target: 1, duration: '1m' }, { target: 2, duration: '30s' }] })).toBe(90_000);
  });
});

describe('percentiles and metrics', () => {
  it('interpolates between closest ranks', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBeCloseTo(50.5);
    expect(percentile(sorted, 99)).toBeCloseTo(99.01);
    expect(percentile(sorted, 0)).toBe(1);
    expect(percentile(sorted, 100)).toBe(100);
    expect(percentile([], 50)).toBeNaN();
    expect(percentile([7], 99)).toBe(7);
  });
  it('gives CPU per 1,000 records to a tenth, and none without a CPU reading or a record', () => {
    expect(cpuMsPer1k(1234, 100_000)).toBe(12.3);
    expect(cpuMsPer1k(1235, 100_000)).toBe(12.4);
    expect(cpuMsPer1k(50, 7)).toBe(7142.9);
    expect(cpuMsPer1k(undefined, 1000)).toBeUndefined();
    expect(cpuMsPer1k(1234, 0)).toBeUndefined();
  });
  it('aggregates counters per second, trends, rates and gauges', () => {
    const metrics = new Metrics(2000);
    metrics.counter('throughput', 30_000);
    metrics.counter('throughput', 10_000);
    for (const v of [10, 20, 30, 40]) metrics.trend('e2e_latency_ms', v);
    metrics.rate('exactly_once', true);
    metrics.rate('exactly_once', false);
    metrics.gauge('cpu', 0.5);
    expect(metrics.aggregate('throughput')).toEqual({ count: 40_000, rate: 20_000 });
    expect(metrics.aggregate('e2e_latency_ms')).toMatchObject({ count: 4, avg: 25, min: 10, max: 40, med: 25 });
    expect(metrics.aggregateValue('e2e_latency_ms', 'p(75)')).toBeCloseTo(32.5);
    expect(metrics.aggregate('exactly_once')).toMatchObject({ rate: 0.5, passes: 1, fails: 1 });
    expect(metrics.aggregate('cpu')).toMatchObject({ value: 0.5 });
    expect(() => metrics.trend('throughput', 1)).toThrow(/counter/);
  });
});

describe('thresholds', () => {
  it('parses expressions', () => {
    expect(parseThreshold('rate>20000')).toMatchObject({ aggregation: 'rate', operator: '>', value: 20000 });
    expect(parseThreshold('p(99) < 250')).toMatchObject({ aggregation: 'p(99)', operator: '<', value: 250 });
    expect(parseThreshold('p(99.9)<=1e3')).toMatchObject({ aggregation: 'p(99.9)', operator: '<=', value: 1000 });
    expect(parseThreshold('avg<100.5')).toMatchObject({ aggregation: 'avg', value: 100.5 });
    expect(parseThreshold('count>0')).toMatchObject({ aggregation: 'count', operator: '>' });
    expect(() => parseThreshold('p99<1')).toThrow(/invalid threshold/);
    expect(() => parseThreshold('rate>fast')).toThrow(/invalid threshold/);
    expect(compare(Number.NaN, '<', 1)).toBe(false);
  });
  it('evaluates against metrics, failing on missing metrics and inapplicable aggregations', () => {
    const metrics = new Metrics(1000);
    metrics.counter('throughput', 25_000);
    for (let i = 1; i <= 100; i++) metrics.trend('e2e_latency_ms', i * 3);
    metrics.rate('exactly_once', true);
    const results = evaluateThresholds(metrics, {
      throughput: ['rate>20000', { threshold: 'count>=30000' }],
      e2e_latency_ms: ['p(99)<250', 'p(50)<250', 'avg<200'],
      exactly_once: ['rate==1'],
      missing_metric: ['count>0'],
      e2e_latency_ms_again: [],
    });
    const byExpression = Object.fromEntries(results.map((r) => [`${r.metric} ${r.expression}`, r.ok]));
    expect(byExpression).toEqual({
      'throughput rate>20000': true,
      'throughput count>=30000': false,
      'e2e_latency_ms p(99)<250': false,
      'e2e_latency_ms p(50)<250': true,
      'e2e_latency_ms avg<200': true,
      'exactly_once rate==1': true,
      'missing_metric count>0': false,
    });
    const notApplicable = evaluateThresholds(metrics, { throughput: ['p(99)<1'] });
    expect(notApplicable[0]).toMatchObject({ ok: false, error: expect.stringMatching(/does not apply/) as unknown });
  });
});

describe('the end-of-test summary', () => {
  it('prints metrics k6-style with ✓/✗ and the thresholds', () => {
    const metrics = new Metrics(1000);
    metrics.counter('throughput', 25_000);
    metrics.trend('e2e_latency_ms', 12);
    metrics.trend('e2e_latency_ms', 300);
    const thresholds = evaluateThresholds(metrics, { throughput: ['rate>20000'], e2e_latency_ms: ['p(99)<250'] });
    const text = summaryText(metrics, thresholds, { title: 'run', lines: ['worker: transactional'] });
    expect(text).toMatch(/✓ throughput\.+: 25000 {2}25000\/s/);
    expect(text).toMatch(/✗ e2e_latency_ms\.+: avg=156 min=12 med=156 max=300 p\(90\)=271\.2 p\(95\)=285\.6 p\(99\)=297\.1/);
    expect(text).toContain("✗ e2e_latency_ms 'p(99)<250'");
    expect(text).toContain('1 of 2 thresholds failed');
    expect(text).toContain('worker: transactional');
  });
});

describe('perf tool output', () => {
  it('reads ProducerPerformance and ConsumerPerformance summaries', () => {
    const producer = parseProducerPerformance(
      '24001 records sent, 4799.2 records/sec (4.69 MB/sec), 1200.5 ms avg latency, 2000.0 ms max latency.\n' +
        '100000 records sent, 55803.571429 records/sec (54.50 MB/sec), 412.31 ms avg latency, 900.00 ms max latency, 380 ms 50th, 800 ms 95th, 880 ms 99th, 899 ms 99.9th.\n',
    );
    expect(producer).toEqual({ records: 100000, recordsPerSecond: 55803.571429, mbPerSecond: 54.5, avgLatencyMs: 412.31 });
    const consumer = parseConsumerPerformance(
      'WARNING: something\nstart.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec\n' +
        '2026-11-22 03:00:00:000, 2026-11-22 03:00:05:000, 97.6562, 19.5312, 100000, 20000.0000, 3000, 2000, 48.8281, 50000.0000\n',
    );
    expect(consumer).toMatchObject({ 'nMsg.sec': 20000, 'fetch.nMsg.sec': 50000, 'data.consumed.in.nMsg': 100000 });
    expect(parseProducerPerformance('nothing')).toBeUndefined();
  });
});

describe('the sweep report', () => {
  const cell = (strategy: string, batchSize: number, recordsPerSecond: number, workers = 1): CellSummary => ({
    strategy,
    batchSize,
    workers,
    recordsPerSecond,
    roundsRecordsPerSecond: [recordsPerSecond],
    commits: 10,
    recordsPerCommit: 100,
    cpuCores: 0.5,
    cpuMsPer1kRecords: 40,
    latency: { rate: recordsPerSecond / 2, p50: 20, p95: 60, p99: 90, samples: 100, exactlyOnce: true },
    audit: { committed: 1000, outputs: 1000, deadLettered: 0, missing: 0, duplicates: 0, unexpected: 0, exactlyOnce: true },
    ok: true,
  });
  const cells = [cell('transactional', 1, 300), cell('transactional', 50, 6000), cell('transactional', 500, 9500), cell('transactional', 1000, 10_000), cell('batch', 500, 11_000), cell('transactional', 500, 4000, 2)];
  const baselines = [
    { key: 'naive' as const, name: 'naive txn per message', recordsPerSecond: 50 },
    { key: 'producerCeiling' as const, name: 'ProducerPerformance', recordsPerSecond: 40_000 },
    { key: 'consumerCeiling' as const, name: 'ConsumerPerformance', recordsPerSecond: 80_000 },
  ];
  it('computes the closing figures', () => {
    expect(computeRatios(cells, baselines)).toEqual({
      transactionalOverBatchAt500: 0.86,
      transactionalBest: { batchSize: 1000, recordsPerSecond: 10_000 },
      transactionalBestOverNaive: 200,
      transactionalBestOverCeiling: 0.25,
      ceilingRecordsPerSecond: 40_000,
      batchSizeAt90PercentOfPlateau: 500,
    });
  });
  it('renders Markdown and an SVG with one line per strategy and worker count, baselines marked', () => {
    const input = {
      title: 't',
      when: '2026-11-22T00:00:00Z',
      mode: 'quick',
      machine: { cores: 2, cpuModel: 'cpu', memoryGiB: 24, node: 'v20', platform: 'linux x64' },
      broker: { brokers: ['127.0.0.1:9092'], version: '3.9.2' },
      settings: { batchSizes: [1, 500] },
      cells,
      baselines,
      ratios: computeRatios(cells, baselines),
      notes: ['n'],
    };
    const md = markdownReport(input, 'chart.svg');
    expect(md).toContain('| transactional | 500 | 1 | 9,500 |');
    expect(md).toContain('2 cores');
    expect(md).toContain('![throughput against batch size](chart.svg)');
    const svg = svgChart(input);
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(3);
    expect(svg).toContain('naive txn per message: 50');
    expect(svg).toContain('ProducerPerformance: 40,000');
  });
});
