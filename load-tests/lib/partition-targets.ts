/**
 * The targets of issue 13 ("Exactly-once at scale"), checked from one partitions sweep. Pure:
 * the sweep's cells in, one row per target out, so the checks are unit-tested.
 *
 * Throughput ratios are medians of per-round ratios: both sides of a ratio come from the same
 * round, so a slow minute of the shared machine moves both, not one.
 */
import { median } from './metrics.js';

/**
 * transactional and streams-json decode and re-encode each JSON value (txstream's serde 'json',
 * Jackson's readTree and writeValueAsBytes); transactional-bytes and streams copy the bytes
 * (txstream's serde 'bytes'). Only a pair that does the same work is compared: see PAIRS.
 */
export type Contender = 'transactional' | 'transactional-bytes' | 'batch' | 'streams' | 'streams-json' | 'naive' | 'ceiling';

export interface Pair {
  readonly name: string;
  readonly txstream: Contender;
  readonly streams: Contender;
}

/** The like-for-like pairs the verdicts against Kafka Streams use: the same work per record on both sides. */
export const PAIRS: readonly Pair[] = [
  { name: 'bytes pair', txstream: 'transactional-bytes', streams: 'streams' },
  { name: 'JSON pair', txstream: 'transactional', streams: 'streams-json' },
];

/** Open-model latency at one fixed offered load. */
export interface LatencyPoint {
  readonly rate: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  /** The output record's own timestamp after the send, p50 (open-model-latency.ts; undefined: before 2026-12-06, ninth session). */
  readonly stampedP50?: number;
  readonly samples: number;
  /** Arrivals the open-model sender sent more than 50 ms late (the harness itself was short of CPU). */
  readonly late?: number;
  /** How long the warm-up bursts before the schedule took, and whether the contender kept up with them in the end (undefined: before 2026-12-06e). */
  readonly primedInMs?: number;
  readonly settled?: boolean;
  /** The contender's CPU per 1,000 records sent at this load (open-model-latency.ts; undefined: before 2026-12-07). */
  readonly cpuMsPer1k?: number;
}

export interface PartitionCell {
  readonly contender: Contender;
  readonly partitions: number;
  /** Committed records per second, per round (index = round); undefined where it did not run. */
  readonly roundsRecordsPerSecond: ReadonlyArray<number | undefined>;
  readonly recordsPerSecond?: number;
  /** Most established connections to the brokers seen from the process (worker or JVM), over all rounds. */
  readonly connections?: number;
  readonly peakRssMiB?: number;
  /** txstream: transactions aborted over all rounds, by cause (a Kafka error code, an error class, or other). */
  readonly abortsByCause?: Readonly<Record<string, number>>;
  /**
   * The process's CPU ms (user + system, every thread; the txstream worker or the Kafka Streams
   * JVM) per 1,000 records committed in the measured window (median of rounds).
   */
  readonly cpuMsPer1k?: number;
  /** The same per round (index = round), so the pairs' CPU ratios are per-round ratios. */
  readonly roundsCpuMsPer1k?: ReadonlyArray<number | undefined>;
  /** The process's CPU time over the measured window ÷ its length: how many of the machine's cores it kept busy (median of rounds). */
  readonly coresBusy?: number;
  /** The machine's 1-minute load average when the run of each round started. */
  readonly roundsLoadAverage?: ReadonlyArray<number | undefined>;
  /** The machine-speed loop's time just before the run of each round, in ms (load-tests/lib/machine-speed.ts). */
  readonly roundsLoopMs?: ReadonlyArray<number | undefined>;
  /** Open-model latency at fixed offered loads (round 1, fresh topics), by rate. */
  readonly fixedLatency?: readonly LatencyPoint[];
  readonly latency?: LatencyPoint & {
    /** The arrival rate as a share of the contender's saturation (the targets are at 0.5). */
    readonly fraction?: number;
  };
}

export interface TargetRow {
  readonly target: string;
  readonly measured: string;
  /** undefined when a figure is missing (a contender did not run or failed). */
  readonly ok: boolean | undefined;
}

/** The thresholds, in one place. */
export const TARGETS = {
  /** connections per worker ≤ brokers + this */
  extraConnections: 4,
  /** throughput at the most partitions ≥ this × at the fewest */
  scaling: 0.8,
  /** transactional's (most / fewest partitions) ≥ this × the broker ceiling's own (most / fewest), in the same rounds */
  scalingOverCeiling: 0.8,
  /** transactional ≥ this × at-least-once batch (batch 500, fewest partitions) */
  overBatch: 0.97,
  /** each pair: txstream records/s ≥ this × its Kafka Streams EOS-v2 partner's, in the same round */
  overStreams: 1.0,
  /** each pair: txstream CPU ms per record ≤ this × its Kafka Streams EOS-v2 partner's, in the same round */
  cpuOverStreams: 0.8,
  p99Ms: 250,
  p50Ms: 100,
  /** A latency run whose sender was late for more than this share of its arrivals is not judged. */
  maxLateFraction: 0.01,
  /** worker peak RSS at rssPartitions */
  rssMiB: 200,
  rssPartitions: 96,
} as const;

/** Median over the rounds where both ran of a_r / b_r; undefined when no round has both. */
export function medianRoundRatio(a: ReadonlyArray<number | undefined>, b: ReadonlyArray<number | undefined>): number | undefined {
  const ratios: number[] = [];
  for (let r = 0; r < Math.min(a.length, b.length); r++) {
    const x = a[r];
    const y = b[r];
    if (x !== undefined && y !== undefined && y > 0) ratios.push(x / y);
  }
  return ratios.length === 0 ? undefined : Math.round(median(ratios) * 100) / 100;
}

/**
 * Median over rounds of (a_most / a_fewest) / (b_most / b_fewest): how much of the broker's own
 * scaling a contender keeps, each round's four figures from the same round.
 */
export function scalingOverCeiling(
  most: PartitionCell | undefined,
  fewest: PartitionCell | undefined,
  ceilingMost: PartitionCell | undefined,
  ceilingFewest: PartitionCell | undefined,
): number | undefined {
  const rounds = Math.min(...[most, fewest, ceilingMost, ceilingFewest].map((c) => c?.roundsRecordsPerSecond.length ?? 0));
  const ratios: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const [a, b, c, d] = [most, fewest, ceilingMost, ceilingFewest].map((cell) => cell?.roundsRecordsPerSecond[r]);
    if (a !== undefined && b !== undefined && c !== undefined && d !== undefined && b > 0 && c > 0 && d > 0) ratios.push(a / b / (c / d));
  }
  return ratios.length === 0 ? undefined : Math.round(median(ratios) * 100) / 100;
}

const check = (value: number | undefined, ok: (v: number) => boolean) => (value === undefined || Number.isNaN(value) ? undefined : ok(value));
const show = (value: number | undefined, suffix = '') => (value === undefined || Number.isNaN(value) ? 'not measured' : `${value}${suffix}`);

export function checkTargets(cells: readonly PartitionCell[], brokers: number): TargetRow[] {
  const cell = (contender: Contender, partitions: number) => cells.find((c) => c.contender === contender && c.partitions === partitions);
  const partitionCounts = [...new Set(cells.map((c) => c.partitions))].sort((a, b) => a - b);
  const fewest = partitionCounts[0];
  const most = partitionCounts[partitionCounts.length - 1];
  const rows: TargetRow[] = [];

  const maxConnections = brokers + TARGETS.extraConnections;
  for (const partitions of partitionCounts) {
    const connections = cell('transactional', partitions)?.connections;
    rows.push({
      target: `TCP connections per worker ≤ brokers + ${TARGETS.extraConnections} (${maxConnections}) at ${partitions} partitions`,
      measured: show(connections),
      ok: check(connections, (v) => v <= maxConnections),
    });
  }
  if (fewest !== undefined && most !== undefined && fewest !== most) {
    const ratio = medianRoundRatio(cell('transactional', most)?.roundsRecordsPerSecond ?? [], cell('transactional', fewest)?.roundsRecordsPerSecond ?? []);
    rows.push({ target: `transactional throughput at ${most} ≥ ${TARGETS.scaling} × at ${fewest} partitions`, measured: show(ratio, '×'), ok: check(ratio, (v) => v >= TARGETS.scaling) });
  }
  if (fewest !== undefined && most !== undefined && fewest !== most) {
    const ratio = scalingOverCeiling(cell('transactional', most), cell('transactional', fewest), cell('ceiling', most), cell('ceiling', fewest));
    rows.push({
      target: `transactional ${most}/${fewest} partitions ≥ ${TARGETS.scalingOverCeiling} × the broker ceiling's ${most}/${fewest}`,
      measured: show(ratio, '×'),
      ok: check(ratio, (v) => v >= TARGETS.scalingOverCeiling),
    });
  }
  for (const partitions of partitionCounts) {
    // A transaction that waits for the coordinator to end the previous one must not abort for it.
    const aborts = cell('transactional', partitions)?.abortsByCause;
    const concurrent = aborts === undefined ? undefined : (aborts.CONCURRENT_TRANSACTIONS ?? 0);
    rows.push({ target: `no transaction aborted for CONCURRENT_TRANSACTIONS at ${partitions} partitions`, measured: show(concurrent), ok: check(concurrent, (v) => v === 0) });
  }
  if (fewest !== undefined) {
    const ratio = medianRoundRatio(cell('transactional', fewest)?.roundsRecordsPerSecond ?? [], cell('batch', fewest)?.roundsRecordsPerSecond ?? []);
    rows.push({ target: `transactional ≥ ${TARGETS.overBatch} × at-least-once batch (batch 500, ${fewest} partitions)`, measured: show(ratio, '×'), ok: check(ratio, (v) => v >= TARGETS.overBatch) });
  }
  for (const pair of PAIRS) {
    for (const partitions of partitionCounts) {
      const ours = cell(pair.txstream, partitions);
      const theirs = cell(pair.streams, partitions);
      if (!ours || !theirs) continue;
      const rate = medianRoundRatio(ours.roundsRecordsPerSecond, theirs.roundsRecordsPerSecond);
      rows.push({ target: `${pair.name}: txstream records/s ≥ ${TARGETS.overStreams} × Kafka Streams EOS-v2's at ${partitions} partitions`, measured: show(rate, '×'), ok: check(rate, (v) => v >= TARGETS.overStreams) });
      const cpu = medianRoundRatio(ours.roundsCpuMsPer1k ?? [], theirs.roundsCpuMsPer1k ?? []);
      rows.push({
        target: `${pair.name}: txstream CPU per record ≤ ${TARGETS.cpuOverStreams} × Kafka Streams EOS-v2's at ${partitions} partitions`,
        measured: cpu === undefined ? 'not measured' : `${cpu}× (${ours.cpuMsPer1k ?? '?'} vs ${theirs.cpuMsPer1k ?? '?'} ms per 1,000)`,
        ok: check(cpu, (v) => v <= TARGETS.cpuOverStreams),
      });
    }
  }
  for (const pair of PAIRS) {
    for (const partitions of partitionCounts) {
      const ours = cell(pair.txstream, partitions)?.fixedLatency ?? [];
      const theirs = cell(pair.streams, partitions)?.fixedLatency ?? [];
      for (const point of ours) {
        const partner = theirs.find((p) => p.rate === point.rate);
        const where = `${pair.name}, ${point.rate.toLocaleString('en-US')} records/s offered, ${partitions} partitions`;
        // A sender that fell behind its schedule measured the harness's lateness, not the worker's latency.
        const behind = [point, partner].some((p) => p !== undefined && (p.late ?? 0) > p.samples * TARGETS.maxLateFraction);
        const judge = (target: string, measured: string, ok: boolean | undefined) =>
          rows.push({ target, measured: behind ? `${measured} (sender late: not a measure of the worker)` : measured, ok: behind ? undefined : ok });
        judge(`e2e p99 ≤ ${TARGETS.p99Ms} ms, ${where}`, show(point.p99, ' ms'), check(point.p99, (v) => v <= TARGETS.p99Ms));
        judge(
          `e2e p99 ≤ Kafka Streams EOS-v2's, ${where}`,
          partner ? `${point.p99} vs ${partner.p99} ms` : 'Kafka Streams not measured',
          partner ? point.p99 <= partner.p99 : undefined,
        );
        judge(`e2e p50 ≤ ${TARGETS.p50Ms} ms, ${where}`, partner ? `${point.p50} ms (Kafka Streams ${partner.p50} ms)` : show(point.p50, ' ms'), check(point.p50, (v) => v <= TARGETS.p50Ms));
      }
    }
  }
  // Latency at fixed offered loads replaces the run at half of saturation (--latency-rates).
  const halfSaturation = !cells.some((c) => c.fixedLatency !== undefined && c.fixedLatency.length > 0);
  for (const partitions of halfSaturation ? partitionCounts : []) {
    const latency = cell('transactional', partitions)?.latency;
    // A sender that fell behind its schedule measured the harness's lateness, not the worker's latency.
    const senderBehind = latency !== undefined && (latency.late ?? 0) > latency.samples * TARGETS.maxLateFraction;
    for (const [name, limit, value] of [
      ['p99', TARGETS.p99Ms, latency?.p99],
      ['p50', TARGETS.p50Ms, latency?.p50],
    ] as const) {
      const target = `e2e ${name} ≤ ${limit} ms at half of saturation, ${partitions} partitions`;
      if (senderBehind) rows.push({ target, measured: `${show(value, ' ms')} (sender late ${latency.late}×: not a measure of the worker)`, ok: undefined });
      else if (latency?.fraction !== undefined && latency.fraction !== 0.5) rows.push({ target, measured: `${show(value, ' ms')} (at ${latency.fraction} of saturation, not half)`, ok: undefined });
      else rows.push({ target, measured: show(value, ' ms'), ok: check(value, (v) => v <= limit) });
    }
  }
  if (partitionCounts.includes(TARGETS.rssPartitions)) {
    const rss = cell('transactional', TARGETS.rssPartitions)?.peakRssMiB;
    rows.push({ target: `worker peak RSS ≤ ${TARGETS.rssMiB} MiB at ${TARGETS.rssPartitions} partitions`, measured: show(rss, ' MiB'), ok: check(rss, (v) => v <= TARGETS.rssMiB) });
  }
  return rows;
}

/**
 * Where the broker ceiling measured below a contender in the same round: a measuring error of
 * the ceiling (nothing moves records faster than the broker), to be reported, not believed.
 */
export function ceilingBelowContenders(cells: readonly PartitionCell[]): string[] {
  const problems: string[] = [];
  for (const ceiling of cells.filter((c) => c.contender === 'ceiling')) {
    for (const other of cells.filter((c) => c.partitions === ceiling.partitions && c.contender !== 'ceiling')) {
      ceiling.roundsRecordsPerSecond.forEach((limit, round) => {
        const rate = other.roundsRecordsPerSecond[round];
        if (limit !== undefined && rate !== undefined && rate > limit)
          problems.push(`round ${round + 1}, ${ceiling.partitions} partitions: ceiling ${limit} rec/s below ${other.contender} ${rate} rec/s`);
      });
    }
  }
  return problems;
}

export const mark = (ok: boolean | undefined) => (ok === undefined ? '?' : ok ? '✓' : '✗');
