/**
 * Runs txstream workers (1…N in this process, one consumer group) over a topic and
 * measures them: saturation throughput over a pre-produced backlog, and end-to-end
 * latency under an open-model arrival schedule. Every run ends with the exactly-once audit.
 */
import type { Producer } from 'kafkajs';
import { type CommitStrategyName, createWorker, defineHandler, definePipeline, type Worker } from '../../src/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { avroLoadSerde, type Generator, readStamp, type ValueFormat } from './generators.js';
import { auditGroup, createTopics, type GroupAudit, produceOpenModel, type OpenModelResult, sleep, startReader, type BrokerEnv } from './kafka-env.js';
import { cpuMsPer1k, Metrics } from './metrics.js';

export interface WorkerSetup {
  readonly strategy: CommitStrategyName;
  readonly batchSize: number;
  readonly workers: number;
  readonly commitIntervalMs?: number;
  readonly format?: ValueFormat;
  /** The pipeline's serde for JSON values: json (decoded and re-encoded, the default) or bytes (passed through as they are). */
  readonly jsonSerde?: 'json' | 'bytes';
  /** A handler that waits this long per record, as an I/O call would (the concurrency benchmark). */
  readonly handlerDelayMs?: number;
  /** The pipeline's concurrency inside a partition (default: one record at a time). */
  readonly concurrency?: { readonly ordering: 'partition' | 'key' | 'unordered'; readonly maxInFlight: number };
  /** The worker-wide cap on handler calls in flight (default DEFAULTS.maxInFlight). */
  readonly maxInFlight?: number;
  /** The worker's memory budget in MiB (default DEFAULTS.memoryBudgetMb). */
  readonly memoryBudgetMb?: number;
}

export interface RunTopics {
  readonly input: string;
  readonly output: string;
  readonly deadLetter: string;
}

export function topicsFor(prefix: string, input: string): RunTopics {
  return { input, output: `${prefix}.out`, deadLetter: `${prefix}.dlt` };
}

export async function createRunTopics(env: BrokerEnv, topics: RunTopics, partitions: number, withInput: boolean): Promise<void> {
  await createTopics(env.kafka, [
    ...(withInput ? [{ topic: topics.input, partitions }] : []),
    { topic: topics.output, partitions },
    { topic: topics.deadLetter, partitions: 1 },
  ]);
}

const echo = defineHandler<unknown, unknown>({ handle: (record) => ({ value: record.value }) });

/** The echo behind a fixed wait: a stand-in for a lookup or an HTTP call. */
function echoAfter(delayMs: number) {
  return defineHandler<unknown, unknown>({
    handle: async (record) => {
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      return { value: record.value };
    },
  });
}

export interface WorkerGroup {
  readonly workers: Worker[];
  readonly groupId: string;
  totals(): { recordsIn: number; commits: number; transactions: number; offsetCommits: number; deadLettered: number; aborted: number; abortedBy: Record<string, number> };
  stop(): Promise<boolean>;
}

export async function startWorkers(env: Pick<BrokerEnv, 'brokers'>, setup: WorkerSetup, topics: RunTopics, groupPrefix: string): Promise<WorkerGroup> {
  const logger = createLogger({ level: process.env.TXSTREAM_LOG_LEVEL ?? 'error', pretty: false });
  const serde = setup.format === 'avro' ? { input: avroLoadSerde, output: avroLoadSerde } : setup.jsonSerde === 'bytes' ? { input: 'bytes' as const, output: 'bytes' as const } : undefined;
  // `errors` (the error policy, from the retry-topics work) is passed through a variable, so this compiles
  // with and without it: straight to the dead-letter topic, no retry topics to create. Only undecodable
  // (poison) records fail; they go to the dead-letter topic under every policy but 'skip'.
  const pipelineDefinition = {
    name: 'echo',
    input: topics.input,
    output: topics.output,
    deadLetterTopic: topics.deadLetter,
    handler: setup.handlerDelayMs ? echoAfter(setup.handlerDelayMs) : echo,
    errors: { onError: 'dead-letter' as const },
    ...(serde ? { serde } : {}),
    ...(setup.concurrency ? { concurrency: setup.concurrency } : {}),
  };
  const workers = Array.from({ length: setup.workers }, (_, index) =>
    createWorker({
      brokers: env.brokers,
      clientId: `load-worker-${index}`,
      groupId: groupPrefix,
      logger,
      sessionTimeoutMs: 10_000,
      heartbeatIntervalMs: 1_000,
      rebalanceTimeoutMs: 10_000,
      drainTimeoutMs: 30_000,
      commit: { strategy: setup.strategy, batchSize: setup.batchSize, commitIntervalMs: setup.commitIntervalMs ?? 100 },
      ...(setup.maxInFlight ? { maxInFlight: setup.maxInFlight } : {}),
      ...(setup.memoryBudgetMb ? { memoryBudgetMb: setup.memoryBudgetMb } : {}),
      pipelines: [definePipeline(pipelineDefinition)],
    }),
  );
  await Promise.all(workers.map((worker) => worker.start()));
  return {
    workers,
    groupId: `${groupPrefix}.echo`,
    totals() {
      const sum = { recordsIn: 0, commits: 0, transactions: 0, offsetCommits: 0, deadLettered: 0, aborted: 0, abortedBy: {} as Record<string, number> };
      for (const worker of workers) {
        const stats = worker.stats();
        sum.recordsIn += stats.recordsIn;
        sum.transactions += stats.transactionsCommitted;
        sum.offsetCommits += stats.offsetCommits;
        sum.deadLettered += stats.deadLettered;
        sum.aborted += stats.transactionsAborted;
        for (const [cause, count] of Object.entries(stats.transactionsAbortedBy)) sum.abortedBy[cause] = (sum.abortedBy[cause] ?? 0) + count;
      }
      sum.commits = sum.transactions + sum.offsetCommits;
      return sum;
    },
    async stop() {
      const results = await Promise.all(workers.map((worker) => worker.stop()));
      return results.every((result) => result.clean);
    },
  };
}

async function waitReady(group: WorkerGroup, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !group.workers.every((worker) => worker.ready)) await sleep(20);
}

export interface SaturationResult {
  readonly records: number;
  readonly seconds: number;
  readonly recordsPerSecond: number;
  /** Transactions (transactional) or offset commits (the others) during the measured window. */
  readonly commits: number;
  readonly recordsPerCommit: number;
  /** CPU of this process (the workers; the harness only polls) in cores, averaged over the window. */
  readonly cpuCores: number;
  readonly cpuMsPer1kRecords: number;
  readonly stoppedCleanly: boolean;
  readonly audit: GroupAudit;
}

/**
 * Throughput at saturation: the workers read a pre-produced backlog from its start.
 * The rate counts committed records between the first commit seen and the moment the
 * target is reached or the time cap passes, so group joins do not count.
 */
export async function measureSaturation(
  env: BrokerEnv,
  setup: WorkerSetup,
  topics: RunTopics,
  options: { target: number; capMs: number; groupPrefix: string },
): Promise<SaturationResult> {
  const group = await startWorkers(env, setup, topics, options.groupPrefix);
  let first: { at: number; records: number; commits: number; cpu: NodeJS.CpuUsage } | undefined;
  const joinDeadline = Date.now() + 60_000;
  for (;;) {
    const totals = group.totals();
    if (!first && totals.recordsIn > 0) first = { at: performance.now(), records: totals.recordsIn, commits: totals.commits, cpu: process.cpuUsage() };
    if (first && (totals.recordsIn >= options.target || performance.now() - first.at >= options.capMs)) break;
    if (!first && Date.now() > joinDeadline) break;
    await sleep(5);
  }
  const end = performance.now();
  const totals = group.totals();
  const cpu = first ? process.cpuUsage(first.cpu) : { user: 0, system: 0 };
  const stoppedCleanly = await group.stop();
  const seconds = first ? (end - first.at) / 1000 : 0;
  const records = first ? totals.recordsIn - first.records : 0;
  const commits = first ? totals.commits - first.commits : 0;
  const cpuMs = (cpu.user + cpu.system) / 1000;
  const audit = await auditGroup(env.kafka, { groupId: group.groupId, input: topics.input, outputs: [topics.output], deadLetter: topics.deadLetter, timeoutMs: 30_000 });
  return {
    records,
    seconds: round(seconds, 2),
    recordsPerSecond: seconds > 0 ? Math.round(records / seconds) : 0,
    commits,
    recordsPerCommit: commits > 0 ? round(records / commits, 1) : 0,
    cpuCores: seconds > 0 ? round(cpuMs / 1000 / seconds, 2) : 0,
    cpuMsPer1kRecords: cpuMsPer1k(cpuMs, records) ?? 0,
    stoppedCleanly,
    audit,
  };
}

export interface OpenModelRun {
  readonly metrics: Metrics;
  readonly produced: OpenModelResult;
  readonly audit: GroupAudit;
  /** Every e2e latency sample: when the output was seen (epoch ms) and the latency (ms). */
  readonly latencies: ReadonlyArray<{ readonly at: number; readonly ms: number }>;
  readonly durationMs: number;
}

/**
 * The open model: records are produced on `schedule` (ms from start) into a fresh
 * input while the workers run; a read_committed reader timestamps every output.
 * e2e latency = time the output became visible to the reader − intended send time.
 */
export async function runOpenModel(
  env: BrokerEnv,
  setup: WorkerSetup,
  topics: RunTopics,
  options: { schedule: readonly number[]; generator: Generator; groupPrefix: string; drainTimeoutMs?: number; log?: (line: string) => void },
): Promise<OpenModelRun> {
  const metrics = new Metrics();
  for (const [name, type] of [
    ['records_sent', 'counter'],
    ['records_poison', 'counter'],
    ['records_out', 'counter'],
    ['throughput', 'counter'],
    ['dead_lettered', 'counter'],
    ['commits', 'counter'],
    ['e2e_latency_ms', 'trend'],
  ] as const)
    metrics.define(name, type);
  const format = options.generator.options.format;
  const group = await startWorkers(env, setup, topics, options.groupPrefix);
  await waitReady(group);
  const latencies: Array<{ at: number; ms: number }> = [];
  let lastOutputAt = 0;
  const reader = await startReader(env.kafka, [topics.output], (_topic, _partition, message, receivedAt) => {
    const stamp = readStamp(message.value, format);
    if (stamp) {
      const latency = receivedAt - stamp.sentAt;
      latencies.push({ at: receivedAt, ms: latency });
      metrics.trend('e2e_latency_ms', latency);
    }
    metrics.counter('records_out');
    metrics.counter('throughput');
    lastOutputAt = receivedAt;
  });
  const producer: Producer = env.kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const startedAt = Date.now();
  const cpuBefore = process.cpuUsage();
  const produced = await produceOpenModel(producer, topics.input, options.schedule, options.generator, (_n, _at, poison) => {
    metrics.counter('records_sent');
    if (poison) metrics.counter('records_poison');
    metrics.rate('records_good', !poison);
  });
  const expected = produced.sent - produced.poison;
  const deadline = Date.now() + (options.drainTimeoutMs ?? 20_000);
  while (reader.received() < expected && Date.now() < deadline) await sleep(20);
  const cpu = process.cpuUsage(cpuBefore);
  const totals = group.totals();
  await producer.disconnect();
  await reader.stop();
  const stoppedCleanly = await group.stop();
  const durationMs = Math.max(1, (lastOutputAt || Date.now()) - startedAt);
  metrics.durationMs = durationMs;
  metrics.counter('dead_lettered', totals.deadLettered);
  metrics.counter('commits', totals.commits);
  metrics.rate('sender_on_time', produced.late === 0);
  metrics.gauge('process_cpu_cores', round((cpu.user + cpu.system) / 1e6 / (durationMs / 1000), 2));
  metrics.rate('stopped_cleanly', stoppedCleanly);
  const audit = await auditGroup(env.kafka, { groupId: group.groupId, input: topics.input, outputs: [topics.output], deadLetter: topics.deadLetter, timeoutMs: 30_000 });
  metrics.rate('exactly_once', audit.exactlyOnce);
  metrics.rate('all_outputs_seen', reader.received() >= expected);
  return { metrics, produced, audit, latencies, durationMs };
}

export function round(value: number, digits: number): number {
  const factor = 10 ** digits;
  return Math.round(value * factor) / factor;
}
