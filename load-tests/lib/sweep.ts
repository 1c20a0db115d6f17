/**
 * The sweep: batch sizes × commit strategies × worker counts, with baselines, in one
 * run on one broker. Cells of one (batch size, workers) alternate strategies, and
 * rounds repeat the whole order, so a slow moment of a shared machine does not land
 * on one strategy (the median over rounds is reported).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import type { CommitStrategyName } from '../../src/index.js';
import { atLeastOnceEachBatch, type BaselineResult, brokerCeiling, naiveTransactionPerMessage } from './baselines.js';
import { createGenerator, type WorkloadOptions } from './generators.js';
import { type BrokerEnv, createTopics, deleteTopics, produceBacklog } from './kafka-env.js';
import { median } from './metrics.js';
import { type BaselineSummary, type CellSummary, computeRatios, markdownReport, type ReportInput, svgChart } from './report.js';
import { scheduleOf } from './schedule.js';
import { createRunTopics, measureSaturation, round, runOpenModel, type SaturationResult, topicsFor } from './worker-cells.js';

export interface SweepOptions {
  readonly mode: 'quick' | 'full' | 'custom';
  readonly batchSizes: readonly number[];
  readonly strategies: readonly CommitStrategyName[];
  readonly workers: readonly number[];
  readonly rounds: number;
  readonly partitions: number;
  /** Pre-produced backlog for the saturation runs. */
  readonly backlog: number;
  /** Per saturation run. */
  readonly capMs: number;
  readonly latencyFraction: number;
  readonly latencyDurationMs: number;
  readonly commitIntervalMs: number;
  readonly workload: WorkloadOptions;
  readonly baselines: { readonly naiveCapMs: number; readonly eachBatchCapMs: number; readonly perfRecords: number; readonly skip: boolean };
  readonly resultsDir: string;
  readonly keepTopics: boolean;
  readonly log: (line: string) => void;
}

export const QUICK: Omit<SweepOptions, 'resultsDir' | 'keepTopics' | 'log'> = {
  mode: 'quick',
  batchSizes: [50, 500],
  strategies: ['transactional', 'batch'],
  workers: [1],
  rounds: 1,
  partitions: 3,
  backlog: 60_000,
  capMs: 4_000,
  latencyFraction: 0.5,
  latencyDurationMs: 4_000,
  commitIntervalMs: 100,
  workload: { recordBytes: 1024, keys: 1000, keyDistribution: 'uniform', poisonRatio: 0.001, format: 'json' },
  baselines: { naiveCapMs: 4_000, eachBatchCapMs: 4_000, perfRecords: 50_000, skip: false },
};

export const FULL: Omit<SweepOptions, 'resultsDir' | 'keepTopics' | 'log'> = {
  mode: 'full',
  batchSizes: [1, 10, 50, 100, 500, 1000, 5000],
  strategies: ['transactional', 'batch', 'per-message'],
  workers: [1, 2, 3],
  rounds: 1,
  partitions: 3,
  backlog: 150_000,
  capMs: 8_000,
  latencyFraction: 0.5,
  latencyDurationMs: 6_000,
  commitIntervalMs: 100,
  workload: { recordBytes: 1024, keys: 1000, keyDistribution: 'uniform', poisonRatio: 0.001, format: 'json' },
  baselines: { naiveCapMs: 8_000, eachBatchCapMs: 8_000, perfRecords: 200_000, skip: false },
};

export interface SweepResult {
  readonly json: Record<string, unknown>;
  readonly failures: string[];
  readonly files: string[];
}

export async function runSweep(env: BrokerEnv, options: SweepOptions): Promise<SweepResult> {
  const log = options.log;
  const startedAt = new Date();
  const loadAtStart = loadavg()[0] ?? 0;
  const run = `load-${startedAt.getTime().toString(36)}`;
  const createdTopics = new Set<string>();
  const track = (...topics: string[]) => topics.forEach((topic) => createdTopics.add(topic));
  const drop = async (...topics: string[]) => {
    if (options.keepTopics) return;
    topics.forEach((topic) => createdTopics.delete(topic));
    await deleteTopics(env.kafka, topics);
  };
  const backlogTopic = `${run}.backlog`;
  const failures: string[] = [];
  const notes: string[] = [];
  try {
    await createTopics(env.kafka, [{ topic: backlogTopic, partitions: options.partitions }]);
    track(backlogTopic);
    const generator = createGenerator(options.workload);
    const produced = await produceBacklog(env.kafka, backlogTopic, options.backlog, generator);
    log(`backlog: ${options.backlog} records of ~${generator.options.recordBytes} B (${generator.options.format}, ${generator.options.keyDistribution} keys, ${produced.poison} poison) to ${backlogTopic} in ${produced.seconds.toFixed(1)} s`);

    // Baselines, on the same broker and backlog, once per round (before its cells); medians are reported.
    const baselineRaw: Array<BaselineResult & { key: BaselineSummary['key']; round: number }> = [];
    const describeAudit = (result: BaselineResult) =>
      result.audit
        ? `${result.audit.exactlyOnce ? '✓ exactly-once' : '✗ not exactly-once'}: committed ${result.audit.committed}, missing ${result.audit.missing}, dup ${result.audit.duplicates}, unexpected ${result.audit.unexpected}`
        : undefined;
    const runBaselines = async (roundIndex: number) => {
      const naiveOut = `${run}.r${roundIndex}.naive.out`;
      const eachBatchOut = `${run}.r${roundIndex}.eachbatch.out`;
      await createTopics(env.kafka, [
        { topic: naiveOut, partitions: options.partitions },
        { topic: eachBatchOut, partitions: options.partitions },
      ]);
      track(naiveOut, eachBatchOut);
      try {
        const naive = await naiveTransactionPerMessage(env.kafka, { input: backlogTopic, output: naiveOut, groupId: `${run}.r${roundIndex}.naive`, target: options.backlog, capMs: options.baselines.naiveCapMs });
        baselineRaw.push({ ...naive, key: 'naive', round: roundIndex });
        log(`baseline ${naive.name}: ${naive.recordsPerSecond} rec/s (${naive.records} in ${naive.seconds}s), audit ${describeAudit(naive) ?? ''}`);
        if (naive.audit && !naive.audit.exactlyOnce) notes.push(`The naive baseline's audit was not exactly-once in round ${roundIndex}: ${describeAudit(naive)}.`);
      } catch (error) {
        notes.push(`naive baseline failed: ${(error as Error).message}`);
        log(`baseline naive failed: ${(error as Error).message}`);
      }
      try {
        const eachBatch = await atLeastOnceEachBatch(env.kafka, { input: backlogTopic, output: eachBatchOut, groupId: `${run}.r${roundIndex}.eachbatch`, target: options.backlog, capMs: options.baselines.eachBatchCapMs });
        baselineRaw.push({ ...eachBatch, key: 'eachBatch', round: roundIndex });
        log(`baseline ${eachBatch.name}: ${eachBatch.recordsPerSecond} rec/s (${eachBatch.records} in ${eachBatch.seconds}s), audit ${describeAudit(eachBatch) ?? ''}`);
      } catch (error) {
        notes.push(`eachBatch baseline failed: ${(error as Error).message}`);
        log(`baseline eachBatch failed: ${(error as Error).message}`);
      }
      await drop(naiveOut, eachBatchOut);
      try {
        const ceilingTopic = `${run}.r${roundIndex}.ceiling`;
        track(ceilingTopic);
        const ceiling = await brokerCeiling(env, { topic: ceilingTopic, partitions: options.partitions, records: options.baselines.perfRecords, recordBytes: options.workload.recordBytes ?? 1024 });
        baselineRaw.push({ ...ceiling.producer, key: 'producerCeiling', round: roundIndex }, { ...ceiling.consumer, key: 'consumerCeiling', round: roundIndex });
        log(`baseline ${ceiling.producer.name}: ${ceiling.producer.recordsPerSecond} rec/s (${ceiling.producer.detail})`);
        log(`baseline ${ceiling.consumer.name}: ${ceiling.consumer.recordsPerSecond} rec/s (${ceiling.consumer.detail})`);
        await drop(ceilingTopic);
      } catch (error) {
        notes.push(`broker ceiling failed: ${(error as Error).message}`);
        log(`baseline ceiling failed: ${(error as Error).message}`);
      }
    };

    // Saturation and latency for every cell; strategies alternate inside each (batch, workers), rounds repeat.
    const perCell = new Map<string, SaturationResult[]>();
    const latencyOf = new Map<string, CellSummary['latency']>();
    let index = 0;
    const total = options.rounds * options.workers.length * options.batchSizes.length * options.strategies.length;
    for (let roundIndex = 0; roundIndex < options.rounds; roundIndex++) {
      if (!options.baselines.skip) await runBaselines(roundIndex);
      for (const workers of options.workers)
        for (const batchSize of options.batchSizes)
          for (const strategy of roundIndex % 2 === 0 ? options.strategies : [...options.strategies].reverse()) {
            index++;
            const key = `${strategy}|${batchSize}|${workers}`;
            const prefix = `${run}.c${index}`;
            const setup = { strategy, batchSize, workers, commitIntervalMs: options.commitIntervalMs, format: generator.options.format };
            const topics = topicsFor(prefix, backlogTopic);
            await createRunTopics(env, topics, options.partitions, false);
            track(topics.output, topics.deadLetter);
            const saturation = await measureSaturation(env, setup, topics, { target: options.backlog, capMs: options.capMs, groupPrefix: prefix });
            perCell.set(key, [...(perCell.get(key) ?? []), saturation]);
            const a = saturation.audit;
            log(
              `[${index}/${total}] ${strategy.padEnd(13)} batch ${String(batchSize).padStart(5)} ×${workers}: ${String(saturation.recordsPerSecond).padStart(6)} rec/s ` +
                `(${saturation.records} in ${saturation.seconds}s, ${saturation.commits} commits, ${saturation.cpuCores} cores)  ` +
                `audit ${a.exactlyOnce ? '✓ exactly-once' : '✗'} committed ${a.committed}, out ${a.outputRecords}+dlt ${a.deadLettered}, missing ${a.missing}, dup ${a.duplicates}, unexpected ${a.unexpected}` +
                (a.exactlyOnce ? '' : ` (missing: ${a.examples.missing.join(' ') || '–'}; duplicated: ${a.examples.duplicated.join(' ') || '–'})`),
            );
            if (roundIndex === 0 && options.latencyDurationMs > 0 && saturation.recordsPerSecond > 0) {
              const rate = Math.max(5, Math.round(saturation.recordsPerSecond * options.latencyFraction));
              const latencyTopics = topicsFor(`${prefix}.lat`, `${prefix}.lat.in`);
              await createRunTopics(env, latencyTopics, options.partitions, true);
              track(latencyTopics.input, latencyTopics.output, latencyTopics.deadLetter);
              const schedule = scheduleOf({ executor: 'constant-arrival-rate', rate, timeUnit: '1s', duration: options.latencyDurationMs });
              const open = await runOpenModel(env, setup, latencyTopics, {
                schedule,
                generator: createGenerator({ ...options.workload, seed: index }),
                groupPrefix: `${prefix}.lat`,
              });
              const p = (q: string) => round(open.metrics.aggregateValue('e2e_latency_ms', q) ?? Number.NaN, 1);
              const latency = { rate, p50: p('p(50)'), p95: p('p(95)'), p99: p('p(99)'), samples: open.latencies.length, exactlyOnce: open.audit.exactlyOnce };
              latencyOf.set(key, latency);
              log(
                `        e2e latency @ ${rate} rec/s (${Math.round(options.latencyFraction * 100)}% of saturation): p50 ${latency.p50} ms, p95 ${latency.p95} ms, p99 ${latency.p99} ms ` +
                  `(${latency.samples} samples${open.produced.late > 0 ? `, sender late ${open.produced.late}×` : ''}), audit ${open.audit.exactlyOnce ? '✓' : '✗'} (missing ${open.audit.missing}, dup ${open.audit.duplicates})`,
              );
              if (strategy === 'transactional' && !open.audit.exactlyOnce) failures.push(`${key} latency run: audit failed (missing ${open.audit.missing}, dup ${open.audit.duplicates}, unexpected ${open.audit.unexpected})`);
              await drop(latencyTopics.input, latencyTopics.output, latencyTopics.deadLetter);
            }
            await drop(topics.output, topics.deadLetter);
          }
    }

    const cells: CellSummary[] = [];
    for (const [key, results] of perCell) {
      const [strategy, batchSizeText, workersText] = key.split('|') as [string, string, string];
      const rates = results.map((r) => r.recordsPerSecond);
      const medianRate = Math.round(median(rates));
      const representative = results.reduce((best, r) => (Math.abs(r.recordsPerSecond - medianRate) < Math.abs(best.recordsPerSecond - medianRate) ? r : best));
      const audits = results.map((r) => r.audit);
      const exactlyOnce = audits.every((a) => a.exactlyOnce);
      const ok = strategy !== 'transactional' || exactlyOnce;
      if (!ok) failures.push(
          `${key}: exactly-once audit failed (${audits.map((a) => `missing ${a.missing}${a.examples.missing.length ? ` [${a.examples.missing.join(' ')}]` : ''}, dup ${a.duplicates}${a.examples.duplicated.length ? ` [${a.examples.duplicated.join(' ')}]` : ''}, unexpected ${a.unexpected}`).join('; ')})`,
        );
      cells.push({
        strategy,
        batchSize: Number(batchSizeText),
        workers: Number(workersText),
        recordsPerSecond: medianRate,
        roundsRecordsPerSecond: rates,
        commits: representative.commits,
        recordsPerCommit: representative.recordsPerCommit,
        cpuCores: representative.cpuCores,
        cpuMsPer1kRecords: representative.cpuMsPer1kRecords,
        latency: latencyOf.get(key),
        audit: {
          committed: audits.reduce((s, a) => s + a.committed, 0),
          outputs: audits.reduce((s, a) => s + a.outputRecords, 0),
          deadLettered: audits.reduce((s, a) => s + a.deadLettered, 0),
          missing: audits.reduce((s, a) => s + a.missing, 0),
          duplicates: audits.reduce((s, a) => s + a.duplicates, 0),
          unexpected: audits.reduce((s, a) => s + a.unexpected, 0),
          exactlyOnce,
          examples: { missing: audits.flatMap((a) => a.examples.missing), duplicated: audits.flatMap((a) => a.examples.duplicated) },
        },
        ok,
      });
    }
    cells.sort((a, b) => a.strategy.localeCompare(b.strategy) || a.workers - b.workers || a.batchSize - b.batchSize);

    const NAMES: Record<BaselineSummary['key'], string> = {
      naive: 'naive txn per message',
      eachBatch: 'at-least-once eachBatch',
      producerCeiling: 'ProducerPerformance',
      consumerCeiling: 'ConsumerPerformance',
    };
    const baselines: BaselineSummary[] = [];
    for (const key of ['naive', 'eachBatch', 'producerCeiling', 'consumerCeiling'] as const) {
      const rounds = baselineRaw.filter((b) => b.key === key);
      if (rounds.length === 0) continue;
      const rate = Math.round(median(rounds.map((b) => b.recordsPerSecond)));
      const last = rounds[rounds.length - 1] as BaselineResult;
      baselines.push({
        key,
        name: NAMES[key],
        recordsPerSecond: rate,
        detail: `${rounds.length > 1 ? `median of ${rounds.map((b) => b.recordsPerSecond).join(', ')}; ` : ''}${last.detail ?? `${last.records} records in ${last.seconds} s, ${last.cpuCores ?? '?'} cores`}`,
        audit: rounds.map(describeAudit).filter(Boolean).join('; ') || undefined,
      });
    }
    const ratios = computeRatios(cells, baselines);
    notes.push(
      'Workers run in this Node process (N workers = N KafkaJS clients in one consumer group, sharing one event loop); on 2 cores the broker, the workers and the harness share the CPU, so more workers rarely means more throughput here.',
      'The broker ceiling is min(ProducerPerformance, ConsumerPerformance fetch rate) with 1 KB records and acks=all: what this broker and machine move, with no processing and no transactions.',
      'Transaction/commit latency is not measured per commit: the worker exposes counters only (commits and records per commit are reported); a per-commit timing needs a hook in src/.',
      'The e2e latency runs measure the process CPU including the open-model producer and the reader; the CPU column comes from the saturation runs, where the harness only polls.',
    );
    const finishedAt = new Date();
    const loadAtEnd = loadavg()[0] ?? 0;
    notes.unshift(
      `Load average (1 min) ${loadAtStart.toFixed(1)} at the start and ${loadAtEnd.toFixed(1)} at the end, on ${env.machine.cores} cores: the figures are only as steady as the machine was (other processes ran beside this sweep).`,
    );
    const settings = {
      batchSizes: options.batchSizes,
      strategies: options.strategies,
      workers: options.workers,
      rounds: options.rounds,
      partitions: options.partitions,
      backlog: options.backlog,
      capSeconds: options.capMs / 1000,
      recordBytes: generator.options.recordBytes,
      format: generator.options.format,
      keys: `${generator.options.keys} ${generator.options.keyDistribution}`,
      poisonRatio: generator.options.poisonRatio,
      commitIntervalMs: options.commitIntervalMs,
      latencyFraction: options.latencyFraction,
      latencySeconds: options.latencyDurationMs / 1000,
    };
    const report: ReportInput = {
      title: `txstream load sweep (${options.mode})`,
      when: finishedAt.toISOString().replace(/\.\d+Z$/, 'Z'),
      mode: options.mode,
      machine: env.machine,
      broker: { brokers: env.brokers, version: env.brokerVersion },
      settings,
      cells,
      baselines,
      ratios,
      notes,
    };
    mkdirSync(options.resultsDir, { recursive: true });
    const stem = `sweep-${options.mode}-${finishedAt.toISOString().slice(0, 10)}`;
    const files = [join(options.resultsDir, `${stem}.json`), join(options.resultsDir, `${stem}.md`), join(options.resultsDir, `${stem}.svg`)];
    const json = {
      kind: 'txstream-load-sweep',
      run,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationSeconds: Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000),
      mode: options.mode,
      machine: { ...env.machine, loadAverage1m: { start: round(loadAtStart, 2), end: round(loadAtEnd, 2) } },
      broker: report.broker,
      settings,
      ratios,
      cells,
      baselines: baselineRaw,
      failures,
      notes,
    };
    writeFileSync(files[0] as string, `${JSON.stringify(json, null, 2)}\n`);
    writeFileSync(files[1] as string, markdownReport(report, `${stem}.svg`));
    writeFileSync(files[2] as string, svgChart(report));
    return { json, failures, files };
  } finally {
    if (!options.keepTopics) await deleteTopics(env.kafka, [...createdTopics]);
  }
}
