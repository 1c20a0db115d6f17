import { describe, expect, it } from 'vitest';
import { ceilingBelowContenders, checkTargets, mark, medianRoundRatio, type PartitionCell } from '../../load-tests/lib/partition-targets.js';
import { partitionsSvg } from '../../load-tests/lib/partitions.js';

const cell = (contender: PartitionCell['contender'], partitions: number, rounds: Array<number | undefined>, extra: Partial<PartitionCell> = {}): PartitionCell => ({
  contender,
  partitions,
  roundsRecordsPerSecond: rounds,
  recordsPerSecond: rounds.find((r) => r !== undefined),
  ...extra,
});

// A run where the design meets every target…
const good: PartitionCell[] = [
  cell('transactional', 12, [30_000, 20_000, 31_000], { connections: 5, peakRssMiB: 150, latency: { rate: 15_000, p50: 60, p95: 150, p99: 200, samples: 90_000 } }),
  cell('transactional', 96, [29_000, 19_000, 30_000], { connections: 5, peakRssMiB: 180, latency: { rate: 14_500, p50: 70, p95: 160, p99: 240, samples: 87_000 } }),
  cell('transactional', 384, [27_000, 17_000, 26_000], { connections: 5, peakRssMiB: 240, latency: { rate: 13_500, p50: 80, p95: 180, p99: 250, samples: 81_000 } }),
  cell('batch', 12, [30_500, 20_500, 31_500], { connections: 4 }), // ratios 0.98, 0.98, 0.98
  cell('streams', 12, [29_000, 20_000, 30_000], { connections: 6 }),
  cell('streams', 96, [28_000, 19_000, 29_000]),
  cell('streams', 384, [26_000, 17_000, 26_000]),
  cell('ceiling', 12, [60_000, 40_000, 62_000]),
];

describe('medianRoundRatio', () => {
  it('is the median of per-round ratios, over rounds where both sides ran', () => {
    expect(medianRoundRatio([10, 20, 30], [10, 10, 10])).toBe(2);
    expect(medianRoundRatio([10, undefined, 30], [10, 10, 10])).toBe(2); // rounds 1 and 3: 1 and 3
    expect(medianRoundRatio([10, 20], [0, 10])).toBe(2); // a zero denominator is no ratio
    expect(medianRoundRatio([10], [])).toBeUndefined();
  });
  it('pairs rounds: a slow round moves both sides, not the ratio', () => {
    // Round 2 was slow for everyone; ratio of medians would mix rounds, per-round ratios do not.
    expect(medianRoundRatio([30_000, 10_000, 30_000], [30_000, 10_000, 30_000])).toBe(1);
  });
});

describe('checkTargets (issue 13)', () => {
  it('passes every target of a run that meets them, with the measured figure', () => {
    const rows = checkTargets(good, 1);
    const byTarget = (text: string) => rows.filter((row) => row.target.includes(text));
    expect(byTarget('TCP connections')).toHaveLength(3);
    expect(byTarget('TCP connections').every((row) => row.ok === true && row.measured === '5')).toBe(true);
    expect(byTarget('at 384 ≥ 0.8 × at 12')[0]).toMatchObject({ ok: true, measured: '0.85×' }); // rounds: 0.9, 0.85, 0.84
    expect(byTarget('at-least-once batch')[0]).toMatchObject({ ok: true, measured: '0.98×' });
    expect(byTarget('Kafka Streams').map((row) => row.ok)).toEqual([true, true, true]);
    expect(byTarget('p99').map((row) => row.ok)).toEqual([true, true, true]); // 250 ms is within ≤ 250
    expect(byTarget('p50').map((row) => row.ok)).toEqual([true, true, true]);
    expect(byTarget('RSS')[0]).toMatchObject({ ok: true, measured: '180 MiB' }); // at 96 partitions only
  });

  it("judges transactional's scaling against the broker ceiling's in the same rounds, and its CONCURRENT_TRANSACTIONS aborts", () => {
    const run: PartitionCell[] = [
      cell('transactional', 12, [20_000, 10_000, 18_000], { abortsByCause: {} }),
      cell('transactional', 384, [10_000, 4_000, 9_000], { abortsByCause: { CONCURRENT_TRANSACTIONS: 3, other: 1 } }),
      // The broker itself halves between 12 and 384 partitions: rounds 0.5, 0.5, 0.5.
      cell('ceiling', 12, [80_000, 40_000, 60_000]),
      cell('ceiling', 384, [40_000, 20_000, 30_000]),
    ];
    const rows = checkTargets(run, 1);
    // Per round: (0.5/0.5, 0.4/0.5, 0.5/0.5) = 1, 0.8, 1; median 1.
    expect(rows.find((row) => row.target.includes("broker ceiling's 384/12"))).toMatchObject({ ok: true, measured: '1×' });
    expect(rows.find((row) => row.target.includes('CONCURRENT_TRANSACTIONS at 12 '))).toMatchObject({ ok: true, measured: '0' });
    expect(rows.find((row) => row.target.includes('CONCURRENT_TRANSACTIONS at 384 '))).toMatchObject({ ok: false, measured: '3' });
    const slow = checkTargets([...run.slice(0, 1), cell('transactional', 384, [6_000, 2_000, 5_000]), ...run.slice(2)], 1);
    expect(slow.find((row) => row.target.includes("broker ceiling's"))).toMatchObject({ ok: false, measured: '0.56×' });
  });

  it('fails the targets the per-partition design misses', () => {
    const before: PartitionCell[] = [
      cell('transactional', 12, [27_640], { connections: 15, peakRssMiB: 249, latency: { rate: 13_820, p50: 180, p95: 380, p99: 420, samples: 1 } }),
      cell('transactional', 96, [19_410], { connections: 99, peakRssMiB: 273 }),
      cell('transactional', 384, [7_580], { connections: 387, peakRssMiB: 416 }),
      cell('batch', 12, [29_000]),
      cell('streams', 12, [34_000]),
    ];
    const rows = checkTargets(before, 1);
    expect(rows.filter((row) => row.target.includes('TCP connections')).map((row) => row.ok)).toEqual([false, false, false]);
    expect(rows.find((row) => row.target.includes('at 384 ≥'))).toMatchObject({ ok: false, measured: '0.27×' });
    expect(rows.find((row) => row.target.includes('batch (batch 500'))).toMatchObject({ ok: false, measured: '0.95×' });
    expect(rows.find((row) => row.target.includes('Streams EOS-v2 at 12 '))).toMatchObject({ ok: false, measured: '0.81×' });
    expect(rows.find((row) => row.target.includes('RSS'))?.ok).toBe(false);
    expect(rows.find((row) => row.target.includes('p99') && row.target.includes(' 12 '))?.ok).toBe(false);
  });

  it('does not judge the latency of a run whose sender fell behind its schedule', () => {
    const behind = cell('transactional', 96, [29_000], { latency: { rate: 15_510, p50: 5_988.8, p95: 9_344.4, p99: 10_208.2, samples: 93_000, late: 43_724 } });
    const onTime = cell('transactional', 12, [30_000], { latency: { rate: 15_000, p50: 127.2, p95: 436.5, p99: 565.3, samples: 109_570, late: 55 } });
    const rows = checkTargets([onTime, behind], 1);
    expect(rows.find((row) => row.target.startsWith('e2e p99') && row.target.endsWith(' 96 partitions'))).toMatchObject({
      ok: undefined,
      measured: '10208.2 ms (sender late 43724×: not a measure of the worker)',
    });
    expect(rows.find((row) => row.target.startsWith('e2e p50') && row.target.endsWith(' 12 partitions'))).toMatchObject({ ok: false, measured: '127.2 ms' });
  });

  it('does not judge against the half-of-saturation targets a latency run at another rate', () => {
    const quarter = cell('transactional', 12, [30_000], { latency: { rate: 7_500, p50: 80, p95: 150, p99: 200, samples: 45_000, late: 0, fraction: 0.25 } });
    const rows = checkTargets([quarter], 1);
    expect(rows.find((row) => row.target.startsWith('e2e p99'))).toMatchObject({ ok: undefined, measured: '200 ms (at 0.25 of saturation, not half)' });
  });

  it('reports a figure that was not measured as unknown, not as passed', () => {
    const rows = checkTargets([cell('transactional', 12, [undefined])], 3);
    expect(rows.find((row) => row.target.includes('TCP connections'))).toMatchObject({ ok: undefined, measured: 'not measured' });
    expect(rows.find((row) => row.target.includes('TCP connections'))?.target).toContain('(7)'); // 3 brokers + 4
    expect(rows.find((row) => row.target.includes('Streams'))?.ok).toBeUndefined();
    expect(mark(undefined)).toBe('?');
    expect(mark(true)).toBe('✓');
    expect(mark(false)).toBe('✗');
  });
});

describe('ceilingBelowContenders', () => {
  it('flags a round whose ceiling is below what a contender moved in that round', () => {
    expect(ceilingBelowContenders(good)).toEqual([]);
    const problems = ceilingBelowContenders([cell('ceiling', 12, [25_000, 60_000]), cell('transactional', 12, [27_000, 28_000])]);
    expect(problems).toEqual(['round 1, 12 partitions: ceiling 25000 rec/s below transactional 27000 rec/s']);
  });
});

describe('partitionsSvg', () => {
  it('draws one line per contender that ran', () => {
    const svg = partitionsSvg(good, 'test & caption');
    expect(svg.startsWith('<svg')).toBe(true);
    expect(svg.match(/<polyline/g)).toHaveLength(4); // transactional, batch, streams, ceiling
    expect(svg).toContain('test &amp; caption');
  });
});
