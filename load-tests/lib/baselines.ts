/**
 * Baselines measured in the same run, on the same broker and backlog:
 * - naive: one KafkaJS transaction per message (consume, send, sendOffsets, commit);
 * - at-least-once KafkaJS eachBatch with no transactions;
 * - the broker's ceiling: Kafka's ProducerPerformance and ConsumerPerformance.
 */
import { spawn } from 'node:child_process';
import type { Kafka, Message } from 'kafkajs';
import { LINEAGE_HEADER } from '../../src/index.js';
import { auditGroup, createTopics, type GroupAudit, sleep, type BrokerEnv } from './kafka-env.js';
import { measureCommittedRate } from './committed-rate.js';
import { round } from './worker-cells.js';

export interface BaselineResult {
  readonly name: string;
  readonly records: number;
  readonly seconds: number;
  readonly recordsPerSecond: number;
  readonly cpuCores?: number;
  readonly audit?: GroupAudit;
  readonly detail?: string;
}

interface LoopOptions {
  readonly input: string;
  readonly output: string;
  readonly groupId: string;
  readonly target: number;
  readonly capMs: number;
  /**
   * Measure the input group's committed offsets (as the partitions sweep measures every contender)
   * instead of counting committed transactions in the loop.
   */
  readonly measureCommitted?: boolean;
  /** With measureCommitted: not measured after the first commit. */
  readonly warmupMs?: number;
}

/** Polls a counter: the rate between its first change and the target or the time cap. */
async function measure(count: () => number, target: number, capMs: number): Promise<{ records: number; seconds: number; cpu: number }> {
  const joinDeadline = Date.now() + 60_000;
  while (count() === 0 && Date.now() < joinDeadline) await sleep(5);
  const start = performance.now();
  const startCount = count();
  const cpuBefore = process.cpuUsage();
  while (count() < target && performance.now() - start < capMs) await sleep(5);
  const seconds = (performance.now() - start) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  return { records: count() - startCount, seconds, cpu: seconds > 0 ? (cpu.user + cpu.system) / 1e6 / seconds : 0 };
}

/** Records per produce request of the eachBatch baseline (txstream's default batch size). */
const SEND_CHUNK = 500;

const lineageOf = (topic: string, partition: number, offset: string) => `${topic}/${partition}/${offset}`;

/** The pattern users write first: every message is its own transaction. */
export async function naiveTransactionPerMessage(kafka: Kafka, options: LoopOptions): Promise<BaselineResult> {
  const consumer = kafka.consumer({ groupId: options.groupId, readUncommitted: false, maxWaitTimeInMs: 50 });
  const producer = kafka.producer({ transactionalId: `${options.groupId}-tx`, idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await Promise.all([consumer.connect(), producer.connect()]);
  await consumer.subscribe({ topics: [options.input], fromBeginning: true });
  let done = 0;
  let stopping = false;
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic, partition, message }) => {
      if (stopping) return;
      const transaction = await producer.transaction();
      try {
        const value = JSON.parse(message.value?.toString() ?? 'null') as unknown;
        await transaction.send({
          topic: options.output,
          messages: [{ key: message.key, value: JSON.stringify(value), headers: { [LINEAGE_HEADER]: lineageOf(topic, partition, message.offset) } }],
        });
        await transaction.sendOffsets({
          consumerGroupId: options.groupId,
          topics: [{ topic, partitions: [{ partition, offset: String(Number(message.offset) + 1) }] }],
        });
        await transaction.commit();
        done++;
      } catch (error) {
        await transaction.abort().catch(() => {});
        throw error;
      }
    },
  });
  const measured = options.measureCommitted
    ? await measureCommittedRate(kafka, { groupId: options.groupId, topic: options.input, target: options.target, capMs: options.capMs, warmupMs: options.warmupMs }).then((rate) => ({ ...rate, cpu: Number.NaN }))
    : await measure(() => done, options.target, options.capMs);
  stopping = true;
  await consumer.disconnect();
  await producer.disconnect();
  const audit = await auditGroup(kafka, { groupId: options.groupId, input: options.input, outputs: [options.output], timeoutMs: 20_000 });
  return {
    name: 'naive txn per message (KafkaJS)',
    records: measured.records,
    seconds: round(measured.seconds, 2),
    recordsPerSecond: measured.seconds > 0 ? Math.round(measured.records / measured.seconds) : 0,
    cpuCores: Number.isNaN(measured.cpu) ? undefined : round(measured.cpu, 2),
    audit,
  };
}

/** At-least-once: eachBatch, produce the batch (idempotent, acks=all), then resolve and commit offsets. */
export async function atLeastOnceEachBatch(kafka: Kafka, options: LoopOptions): Promise<BaselineResult> {
  const consumer = kafka.consumer({ groupId: options.groupId, maxWaitTimeInMs: 50, maxBytesPerPartition: 1_048_576 });
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1, allowAutoTopicCreation: false });
  await Promise.all([consumer.connect(), producer.connect()]);
  await consumer.subscribe({ topics: [options.input], fromBeginning: true });
  let done = 0;
  await consumer.run({
    autoCommit: true,
    autoCommitInterval: 100,
    eachBatchAutoResolve: false,
    partitionsConsumedConcurrently: 4,
    eachBatch: async ({ batch, resolveOffset, commitOffsetsIfNecessary, heartbeat, isRunning }) => {
      if (!isRunning() || batch.messages.length === 0) return;
      const messages: Message[] = batch.messages.map((message) => {
        let value: string | null = null;
        try {
          value = JSON.stringify(JSON.parse(message.value?.toString() ?? 'null'));
        } catch {
          value = message.value?.toString() ?? null; // poison passes through unchanged
        }
        return { key: message.key, value, headers: { [LINEAGE_HEADER]: lineageOf(batch.topic, batch.partition, message.offset) } };
      });
      // In chunks: a whole 1 MiB fetch re-sent at once can exceed the broker's message.max.bytes.
      for (let start = 0; start < messages.length; start += SEND_CHUNK) await producer.send({ topic: options.output, acks: -1, messages: messages.slice(start, start + SEND_CHUNK) });
      resolveOffset(batch.lastOffset());
      done += messages.length;
      await commitOffsetsIfNecessary();
      await heartbeat();
    },
  });
  const measured = await measure(() => done, options.target, options.capMs);
  await consumer.disconnect();
  await producer.disconnect();
  const audit = await auditGroup(kafka, { groupId: options.groupId, input: options.input, outputs: [options.output], timeoutMs: 20_000 });
  return {
    name: 'at-least-once eachBatch (KafkaJS, no txn)',
    records: measured.records,
    seconds: round(measured.seconds, 2),
    recordsPerSecond: Math.round(measured.records / measured.seconds),
    cpuCores: round(measured.cpu, 2),
    audit,
  };
}

function runJavaTool(env: BrokerEnv, mainClass: string, args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    // 1 GiB: room for the ceiling producer's buffer.memory at 384 partitions (192 MiB) and its batches in flight.
    const child = spawn('java', ['-Xmx1g', '-cp', `${env.jarDir}/*`, mainClass, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(out);
      else reject(new Error(`${mainClass} exited with ${code}: ${(err || out).trim().split('\n').slice(-3).join(' | ')}`));
    });
  });
}

/** Parses ProducerPerformance's final line: "N records sent, R records/sec (M MB/sec), A ms avg latency, …". */
export function parseProducerPerformance(output: string): { records: number; recordsPerSecond: number; mbPerSecond: number; avgLatencyMs: number } | undefined {
  const lines = output.trim().split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const match = /^(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\), ([\d.]+) ms avg latency/.exec((lines[i] as string).trim());
    if (match) return { records: Number(match[1]), recordsPerSecond: Number(match[2]), mbPerSecond: Number(match[3]), avgLatencyMs: Number(match[4]) };
  }
  return undefined;
}

/** Parses ConsumerPerformance's CSV-like output (a header line, then the values). */
export function parseConsumerPerformance(output: string): Record<string, number> | undefined {
  const lines = output.trim().split('\n').map((line) => line.trim());
  const headerIndex = lines.findIndex((line) => line.startsWith('start.time'));
  const header = lines[headerIndex];
  const values = lines[headerIndex + 1];
  if (headerIndex < 0 || header === undefined || values === undefined) return undefined;
  const names = header.split(',').map((name) => name.trim());
  const cells = values.split(',').map((cell) => cell.trim());
  const result: Record<string, number> = {};
  names.forEach((name, index) => {
    const number = Number(cells[index]);
    if (!Number.isNaN(number)) result[name] = number;
  });
  return result;
}

export interface CeilingResult {
  readonly producer: BaselineResult;
  readonly consumer: BaselineResult;
}

/** Kafka's own perf tools from the broker's jars: 1 KB records, as fast as they go. */
export async function brokerCeiling(
  env: BrokerEnv,
  options: { topic: string; partitions: number; records: number; recordBytes: number; /** Skip the producer-defaults run (always the slower one). */ tunedOnly?: boolean },
): Promise<CeilingResult> {
  await createTopics(env.kafka, [{ topic: options.topic, partitions: options.partitions }]);
  const bootstrap = env.brokers.join(',');
  // Twice: with the producer's defaults (batch.size 16 KB, linger.ms 0), and with batching tuned for
  // throughput; the better one is the ceiling.
  const runs: Array<{ label: string; result: NonNullable<ReturnType<typeof parseProducerPerformance>> }> = [];
  // The producer allocates a whole batch.size buffer per partition it is filling: with the default
  // 32 MiB buffer.memory, 256 KiB batches over 384 partitions (96 MiB) block on the buffer pool and the
  // "ceiling" measures that instead of the broker. Room for two batches per partition avoids it.
  const tunedBatch = 262_144;
  const bufferMemory = Math.max(33_554_432, 2 * options.partitions * tunedBatch);
  const configurations = [
    ['defaults', []],
    [
      `batch.size=256KB linger.ms=5${bufferMemory > 33_554_432 ? ` buffer.memory=${Math.round(bufferMemory / 2 ** 20)}MiB` : ''}`,
      [`batch.size=${tunedBatch}`, 'linger.ms=5', `buffer.memory=${bufferMemory}`],
    ],
  ] as const;
  for (const [label, props] of options.tunedOnly ? configurations.slice(1) : configurations) {
    const output = await runJavaTool(
      env,
      'org.apache.kafka.tools.ProducerPerformance',
      ['--topic', options.topic, '--num-records', String(options.records), '--record-size', String(options.recordBytes), '--throughput', '-1', '--producer-props', `bootstrap.servers=${bootstrap}`, 'acks=all', ...props],
      180_000,
    );
    const result = parseProducerPerformance(output);
    if (!result) throw new Error(`ProducerPerformance printed no summary: ${output.slice(-300)}`);
    runs.push({ label, result });
  }
  const best = runs.reduce((top, run) => (run.result.recordsPerSecond > top.result.recordsPerSecond ? run : top));
  const produced = best.result;
  const consumerOut = await runJavaTool(
    env,
    'org.apache.kafka.tools.ConsumerPerformance',
    ['--bootstrap-server', bootstrap, '--topic', options.topic, '--messages', String(options.records), '--timeout', '60000'],
    180_000,
  );
  const consumed = parseConsumerPerformance(consumerOut);
  if (!consumed) throw new Error(`ConsumerPerformance printed no summary: ${consumerOut.slice(-300)}`);
  const fetchRate = consumed['fetch.nMsg.sec'] ?? consumed['nMsg.sec'] ?? 0;
  return {
    producer: {
      name: 'broker ceiling: ProducerPerformance (acks=all)',
      records: produced.records,
      seconds: round(produced.records / produced.recordsPerSecond, 2),
      recordsPerSecond: Math.round(produced.recordsPerSecond),
      detail: runs.map((run) => `${run.label}: ${Math.round(run.result.recordsPerSecond)} rec/s, ${run.result.mbPerSecond} MB/s, ${run.result.avgLatencyMs} ms avg latency`).join('; '),
    },
    consumer: {
      name: 'broker ceiling: ConsumerPerformance',
      records: consumed['data.consumed.in.nMsg'] ?? options.records,
      seconds: round((consumed['fetch.time.ms'] ?? 0) / 1000, 2),
      recordsPerSecond: Math.round(fetchRate),
      detail: `nMsg.sec ${consumed['nMsg.sec'] ?? 'n/a'} (incl. group join), fetch.nMsg.sec ${consumed['fetch.nMsg.sec'] ?? 'n/a'}`,
    },
  };
}
