/**
 * txstream's load harness.
 *
 *   npm run load -- --quick                         smoke sweep (< 3 min): 2 batch sizes × 2 strategies × 1 worker + baselines
 *   npm run load                                    full sweep: batch 1…5000 × transactional/batch/per-message × 1,2,3 workers + baselines
 *   npm run load -- run load-tests/scenarios/steady.ts [--out json=<file>]   one k6-like scenario, thresholds → exit code
 *   npm run load -- partitions [--rounds 3] [--label <name>]   12/96/384 partitions × txstream, Kafka Streams EOS-v2, naive, ceiling; issue 13's targets
 *
 * Sweep flags: --batch-sizes 1,10,500  --strategies transactional,batch  --workers 1,2  --rounds 3  --backlog 150000
 * --cap 8s  --latency-duration 6s  --latency-fraction 0.5  --record-bytes 1024  --keys 1000  --key-distribution zipf
 * --poison-ratio 0.001  --format json|avro  --no-baselines  --keep-topics  --results-dir <dir>  --out json=<file>
 * Partitions flags: --partitions 12,96,384  --rounds 3  --backlog 400000  --warmup 5s  --cap 6s  --latency-duration 6s
 * --contenders transactional,transactional-bytes,batch,streams,streams-json,naive,ceiling  --ceiling-records 300000  --label <file name suffix>
 * --latency-rates 5000,10000 (open-model latency at these offered loads for both sides of the pairs, instead of at half of saturation)
 * --worker-node-options='--max-old-space-size=128' (Node flags of the measured worker process; note the =)
 * --worker-from-source (the worker runs the TypeScript sources under tsx, not tsc's JavaScript)
 * --worker-memory-budget-mb 160 (the measured worker's memoryBudgetMb; default: txstream's)
 * --trace-requests (after each txstream run, what its worker waited on: Kafka requests by API, commit windows, event loop delay, GC)
 *
 * KAFKA_BROKERS=host:port[,…] points it at a cluster; otherwise the local broker 'dev' (127.0.0.1:9092) is used,
 * started if needed and then stopped at the end (a broker that was already running is left running).
 * --broker-name load --broker-port 29092 uses a private local broker instead (started, then stopped and wiped at the end),
 * so nobody else's traffic, restarts or wipes of the shared 'dev' broker land in the figures.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { COMMIT_STRATEGIES, type CommitStrategyName } from '../src/index.js';
import type { KeyDistribution, ValueFormat } from './lib/generators.js';
import { openBroker, type BrokerEnv } from './lib/kafka-env.js';
import { parseDuration } from './lib/schedule.js';
import { loadScenario, runScenario } from './lib/scenario.js';
import { FULL, QUICK, runSweep, type SweepOptions } from './lib/sweep.js';
import type { Contender } from './lib/partition-targets.js';
import { PARTITIONS_DEFAULTS, type PartitionsOptions, runPartitionsSweep } from './lib/partitions.js';

const EXIT = { ok: 0, failed: 1, usage: 2 } as const;

function fail(message: string): never {
  console.error(`load: ${message}`);
  process.exit(EXIT.usage);
}

function parseOut(values: string[] | undefined): { json?: string } {
  const out: { json?: string } = {};
  for (const value of values ?? []) {
    const match = /^json=(.+)$/.exec(value);
    if (!match) fail(`--out ${value}: only json=<file> is supported`);
    out.json = match[1];
  }
  return out;
}

const numbers = (text: string, flag: string) =>
  text.split(',').map((part) => {
    const value = Number(part.trim());
    if (!Number.isInteger(value) || value < 1) fail(`${flag}: '${part}' is not a positive integer`);
    return value;
  });

async function main(): Promise<number> {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      quick: { type: 'boolean', default: false },
      'batch-sizes': { type: 'string' },
      strategies: { type: 'string' },
      workers: { type: 'string' },
      rounds: { type: 'string' },
      backlog: { type: 'string' },
      cap: { type: 'string' },
      'latency-duration': { type: 'string' },
      'latency-fraction': { type: 'string' },
      'latency-warmup': { type: 'string' },
      'latency-rates': { type: 'string' },
      'record-bytes': { type: 'string' },
      keys: { type: 'string' },
      'key-distribution': { type: 'string' },
      'poison-ratio': { type: 'string' },
      format: { type: 'string' },
      'commit-interval': { type: 'string' },
      'no-baselines': { type: 'boolean', default: false },
      'keep-topics': { type: 'boolean', default: false },
      'worker-node-options': { type: 'string' },
      'worker-from-source': { type: 'boolean', default: false },
      'trace-requests': { type: 'boolean', default: false },
      'worker-memory-budget-mb': { type: 'string' },
      'broker-name': { type: 'string', default: 'dev' },
      'broker-port': { type: 'string', default: '9092' },
      'results-dir': { type: 'string' },
      out: { type: 'string', multiple: true },
      partitions: { type: 'string' },
      contenders: { type: 'string' },
      'ceiling-records': { type: 'string' },
      label: { type: 'string' },
      warmup: { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  if (values.help) {
    console.log('usage: npm run load -- [--quick] [sweep flags] | run <scenario.ts> [--out json=<file>] | partitions [--rounds 3] [--label <name>]  (see load-tests/README.md)');
    return EXIT.ok;
  }
  const out = parseOut(values.out);
  const [command = 'sweep', scenarioFile] = positionals;
  if (command !== 'sweep' && command !== 'run' && command !== 'partitions') fail(`unknown command '${command}' (sweep, run or partitions)`);
  if (command === 'run' && !scenarioFile) fail('run needs a scenario file, e.g. load-tests/scenarios/steady.ts');

  const scenario = command === 'run' ? await loadScenario(scenarioFile as string) : undefined;
  const base = values.quick ? QUICK : FULL;
  const strategies = (values.strategies?.split(',').map((s) => s.trim()) ?? base.strategies) as CommitStrategyName[];
  for (const strategy of strategies) if (!COMMIT_STRATEGIES.includes(strategy)) fail(`--strategies: unknown strategy '${strategy}' (${COMMIT_STRATEGIES.join(', ')})`);
  const custom = ['batch-sizes', 'strategies', 'workers', 'rounds', 'backlog', 'cap'].some((flag) => values[flag as keyof typeof values] !== undefined);
  const sweepOptions: SweepOptions = {
    ...base,
    mode: custom ? 'custom' : base.mode,
    batchSizes: values['batch-sizes'] ? numbers(values['batch-sizes'], '--batch-sizes') : base.batchSizes,
    strategies,
    workers: values.workers ? numbers(values.workers, '--workers') : base.workers,
    rounds: values.rounds ? (numbers(values.rounds, '--rounds')[0] as number) : base.rounds,
    backlog: values.backlog ? (numbers(values.backlog, '--backlog')[0] as number) : base.backlog,
    capMs: values.cap ? parseDuration(values.cap) : base.capMs,
    latencyDurationMs: values['latency-duration'] !== undefined ? parseDuration(values['latency-duration']) : base.latencyDurationMs,
    latencyFraction: values['latency-fraction'] !== undefined ? Number(values['latency-fraction']) : base.latencyFraction,
    commitIntervalMs: values['commit-interval'] !== undefined ? Number(values['commit-interval']) : base.commitIntervalMs,
    workload: {
      ...base.workload,
      ...(values['record-bytes'] ? { recordBytes: Number(values['record-bytes']) } : {}),
      ...(values.keys ? { keys: Number(values.keys) } : {}),
      ...(values['key-distribution'] ? { keyDistribution: values['key-distribution'] as KeyDistribution } : {}),
      ...(values['poison-ratio'] !== undefined ? { poisonRatio: Number(values['poison-ratio']) } : {}),
      ...(values.format ? { format: values.format as ValueFormat } : {}),
    },
    baselines: { ...base.baselines, skip: values['no-baselines'] },
    resultsDir: values['results-dir'] ?? join(import.meta.dirname, 'results'),
    keepTopics: values['keep-topics'],
    log: (line) => console.log(line),
  };
  if (!['uniform', 'zipf'].includes(sweepOptions.workload.keyDistribution ?? 'uniform')) fail('--key-distribution: uniform or zipf');
  if (!['json', 'avro'].includes(sweepOptions.workload.format ?? 'json')) fail('--format: json or avro');
  if (!(sweepOptions.latencyFraction > 0 && sweepOptions.latencyFraction <= 1)) fail('--latency-fraction: within (0, 1]');

  const brokerPort = Number(values['broker-port']);
  if (!Number.isInteger(brokerPort) || brokerPort < 1 || brokerPort > 65_435) fail('--broker-port: a port number');
  const env: BrokerEnv = await openBroker(undefined, { name: values['broker-name'], port: brokerPort });
  const onSignal = () => {
    console.error('load: interrupted; stopping');
    void env.close().finally(() => process.exit(130));
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    if (command === 'partitions') return await partitionsCommand(env, values);
    if (scenario) {
      const result = await runScenario(env, scenarioFile as string, scenario, out, (line) => console.log(line));
      console.log(`\n${result.summary}`);
      if (out.json) console.log(`raw results: ${out.json}`);
      return result.passed ? EXIT.ok : EXIT.failed;
    }
    const started = Date.now();
    console.log(
      `sweep (${sweepOptions.mode}): batch ${sweepOptions.batchSizes.join(',')} × ${sweepOptions.strategies.join(',')} × workers ${sweepOptions.workers.join(',')}, ${sweepOptions.rounds} round(s); ${env.machine.cores} cores, ${env.machine.memoryGiB} GiB`,
    );
    const result = await runSweep(env, sweepOptions);
    if (out.json) writeFileSync(out.json, `${JSON.stringify(result.json, null, 2)}\n`);
    const ratios = result.json.ratios as Record<string, unknown>;
    console.log(`\nfigures: ${JSON.stringify(ratios)}`);
    console.log(`written: ${result.files.join(', ')}${out.json ? `, ${out.json}` : ''}`);
    console.log(`took ${((Date.now() - started) / 1000).toFixed(0)} s`);
    if (result.failures.length > 0) {
      console.log(`\n✗ ${result.failures.length} failure(s):\n  ${result.failures.join('\n  ')}`);
      return EXIT.failed;
    }
    console.log('✓ every transactional run audited exactly-once');
    return EXIT.ok;
  } finally {
    await env.close();
  }
}

async function partitionsCommand(env: BrokerEnv, values: Record<string, string | boolean | string[] | undefined>): Promise<number> {
  const text = (flag: string) => values[flag] as string | undefined;
  const base = PARTITIONS_DEFAULTS;
  const contenders = (text('contenders')?.split(',').map((c) => c.trim()) ?? base.contenders) as Contender[];
  for (const contender of contenders) if (!base.contenders.includes(contender)) fail(`--contenders: unknown '${contender}' (${base.contenders.join(', ')})`);
  const label = text('label');
  if (label !== undefined && !/^[\w.-]+$/.test(label)) fail('--label: letters, digits, dot, dash and underscore only (it is part of a file name)');
  const options: PartitionsOptions = {
    ...base,
    partitions: text('partitions') ? numbers(text('partitions') as string, '--partitions') : base.partitions,
    rounds: text('rounds') ? (numbers(text('rounds') as string, '--rounds')[0] as number) : base.rounds,
    backlog: text('backlog') ? (numbers(text('backlog') as string, '--backlog')[0] as number) : base.backlog,
    capMs: text('cap') ? parseDuration(text('cap') as string) : base.capMs,
    warmupMs: text('warmup') !== undefined ? parseDuration(text('warmup') as string) : base.warmupMs,
    latencyDurationMs: text('latency-duration') !== undefined ? parseDuration(text('latency-duration') as string) : base.latencyDurationMs,
    latencyFraction: text('latency-fraction') !== undefined ? Number(text('latency-fraction')) : base.latencyFraction,
    latencyWarmupMs: text('latency-warmup') !== undefined ? parseDuration(text('latency-warmup') as string) : base.latencyWarmupMs,
    latencyRates: text('latency-rates') !== undefined ? numbers(text('latency-rates') as string, '--latency-rates') : base.latencyRates,
    ceiling: { ...base.ceiling, ...(text('ceiling-records') ? { records: numbers(text('ceiling-records') as string, '--ceiling-records')[0] as number } : {}) },
    contenders,
    label,
    resultsDir: text('results-dir') ?? join(import.meta.dirname, 'results'),
    keepTopics: values['keep-topics'] === true,
    workerNodeOptions: text('worker-node-options')?.split(/\s+/).filter(Boolean),
    workerFromSource: values['worker-from-source'] === true,
    traceRequests: values['trace-requests'] === true,
    workerMemoryBudgetMb: text('worker-memory-budget-mb') === undefined ? undefined : Number(text('worker-memory-budget-mb')),
    log: (line) => console.log(line),
  };
  if (!(options.latencyFraction > 0 && options.latencyFraction <= 1)) fail('--latency-fraction: within (0, 1]');
  const started = Date.now();
  console.log(`partitions sweep: ${options.partitions.join(',')} partitions × ${contenders.join(',')}, ${options.rounds} round(s); ${env.machine.cores} cores, ${env.brokers.length} broker(s)`);
  const result = await runPartitionsSweep(env, options);
  console.log('\ntargets (issue 13):');
  for (const row of result.json.targets as Array<{ target: string; measured: string; ok?: boolean }>)
    console.log(`  ${row.ok === undefined ? '?' : row.ok ? '✓' : '✗'} ${row.target}: ${row.measured}`);
  console.log(`written: ${result.files.join(', ')}`);
  console.log(`took ${((Date.now() - started) / 1000).toFixed(0)} s`);
  if (result.failures.length > 0) {
    console.log(`\n✗ ${result.failures.length} failure(s):\n  ${result.failures.join('\n  ')}`);
    return EXIT.failed;
  }
  // Targets the current design misses are findings, not harness failures: the exit code says whether the runs were sound.
  console.log('✓ every transactional run audited exactly-once');
  return EXIT.ok;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`load: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
    process.exit(EXIT.failed);
  },
);
