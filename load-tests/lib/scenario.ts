/**
 * Runs a k6-like scenario file against txstream workers: the file exports `options`
 * with scenarios (executors), thresholds, and optionally the workload and the worker
 * settings. Prints the end-of-test summary; the exit code is 1 when a threshold fails.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CommitStrategyName } from '../../src/index.js';
import { createGenerator, type WorkloadOptions } from './generators.js';
import { type BrokerEnv, deleteTopics } from './kafka-env.js';
import { evaluateThresholds, type ThresholdResult, type ThresholdSpec } from './metrics.js';
import { durationOf, type Executor, mergeSchedules } from './schedule.js';
import { summaryText } from './summary.js';
import { createRunTopics, runOpenModel, topicsFor } from './worker-cells.js';

export interface ScenarioOptions {
  readonly scenarios: Readonly<Record<string, Executor>>;
  readonly thresholds?: Readonly<Record<string, readonly ThresholdSpec[]>>;
  readonly workload?: WorkloadOptions;
  readonly worker?: {
    readonly strategy?: CommitStrategyName;
    readonly batchSize?: number;
    readonly workers?: number;
    readonly partitions?: number;
    readonly commitIntervalMs?: number;
  };
}

/** Identity, for type-checked scenario files: `export const options = defineOptions({...})`. */
export function defineOptions(options: ScenarioOptions): ScenarioOptions {
  return options;
}

export async function loadScenario(file: string): Promise<ScenarioOptions> {
  const module = (await import(pathToFileURL(resolve(file)).href)) as { options?: ScenarioOptions; default?: { options?: ScenarioOptions } };
  const options = module.options ?? module.default?.options;
  if (!options || typeof options !== 'object' || !options.scenarios || Object.keys(options.scenarios).length === 0) {
    throw new Error(`${file} must export 'options' with at least one scenario`);
  }
  return options;
}

export interface ScenarioRun {
  readonly thresholds: ThresholdResult[];
  readonly passed: boolean;
  readonly summary: string;
}

export async function runScenario(env: BrokerEnv, file: string, options: ScenarioOptions, out: { json?: string }, log: (line: string) => void): Promise<ScenarioRun> {
  const worker = { strategy: options.worker?.strategy ?? 'transactional', batchSize: options.worker?.batchSize ?? 500, workers: options.worker?.workers ?? 1, commitIntervalMs: options.worker?.commitIntervalMs ?? 100 };
  const partitions = options.worker?.partitions ?? 3;
  const generator = createGenerator(options.workload);
  const merged = mergeSchedules(options.scenarios);
  const schedule = merged.map((arrival) => arrival.at);
  const plannedMs = Math.max(0, ...Object.values(options.scenarios).map(durationOf));
  const run = `load-${Date.now().toString(36)}`;
  const topics = topicsFor(run, `${run}.in`);
  await createRunTopics(env, topics, partitions, true);
  log(
    `scenario ${file}: ${Object.entries(options.scenarios)
      .map(([name, e]) => `${name} (${e.executor})`)
      .join(', ')}; ${schedule.length} arrivals over ${(plannedMs / 1000).toFixed(1)} s; worker ${worker.strategy} batch ${worker.batchSize} ×${worker.workers}, ${partitions} partitions`,
  );
  try {
    const result = await runOpenModel(env, { ...worker, format: generator.options.format }, topics, { schedule, generator, groupPrefix: run, log });
    const thresholds = evaluateThresholds(result.metrics, options.thresholds ?? {});
    const passed = thresholds.every((t) => t.ok);
    const a = result.audit;
    const summary = summaryText(result.metrics, thresholds, {
      title: `txstream load: ${file}`,
      lines: [
        `execution: local   broker: ${env.brokers.join(',')} (Kafka ${env.brokerVersion})`,
        `scenarios: ${Object.entries(options.scenarios)
          .map(([name, e]) => `${name}: ${e.executor}`)
          .join(', ')}`,
        `worker:    ${worker.strategy}, batch ${worker.batchSize}, ${worker.workers} worker(s), commit interval ${worker.commitIntervalMs} ms`,
        `workload:  ${generator.options.recordBytes} B ${generator.options.format}, ${generator.options.keys} keys ${generator.options.keyDistribution}, poison ${generator.options.poisonRatio}`,
        `audit:     ${a.exactlyOnce ? '✓ exactly-once' : '✗ NOT exactly-once'} — committed ${a.committed}, outputs ${a.outputRecords}, dead-lettered ${a.deadLettered}, missing ${a.missing}, duplicates ${a.duplicates}, unexpected ${a.unexpected}`,
        `duration:  ${(result.durationMs / 1000).toFixed(1)} s (first send → last output)`,
      ],
    });
    if (out.json) {
      mkdirSync(dirname(resolve(out.json)), { recursive: true });
      const lines: string[] = [];
      for (const name of result.metrics.names()) lines.push(JSON.stringify({ type: 'Metric', metric: name, data: { type: result.metrics.typeOf(name) } }));
      for (const sample of result.latencies)
        lines.push(JSON.stringify({ type: 'Point', metric: 'e2e_latency_ms', data: { time: new Date(sample.at).toISOString(), value: sample.ms, tags: { strategy: worker.strategy } } }));
      const aggregates = Object.fromEntries(result.metrics.names().map((name) => [name, result.metrics.aggregate(name)]));
      lines.push(JSON.stringify({ type: 'Summary', data: { file, worker, partitions, workload: generator.options, durationMs: result.durationMs, metrics: aggregates, thresholds, audit: a, produced: result.produced } }));
      writeFileSync(out.json, `${lines.join('\n')}\n`);
    }
    return { thresholds, passed, summary };
  } finally {
    await deleteTopics(env.kafka, [topics.input, topics.output, topics.deadLetter]);
  }
}
