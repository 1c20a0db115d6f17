/**
 * The broker under test, and the Kafka plumbing of the harness: topics, a fast
 * backlog producer, an open-model producer, read_committed readers, and the
 * exactly-once audit of a consumer group's committed range against its outputs.
 */
import { existsSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { Kafka, type KafkaMessage, logLevel, type Producer } from 'kafkajs';
import { withAdmin } from '../../src/kafka/admin.js';
import { type AuditResult, toAuditResult } from '../../src/audit/lineage-audit.js';
import { auditPipeline } from '../../src/audit/pipeline-audit.js';
import { readAuditSnapshot } from '../../src/audit/pipeline-audit-read.js';
import { clusterDir, fetchKafkaJars, jarCacheDir, LocalKafkaCluster } from '../../src/local-kafka/cluster.js';
import { layoutFromBasePort } from '../../src/local-kafka/layout.js';
import { resolveKafkaVersion } from '../../src/local-kafka/versions.js';
import { cpuModel } from './cpu-model.js';
import type { GeneratedRecord, Generator } from './generators.js';

export interface BrokerEnv {
  readonly brokers: string[];
  readonly kafka: Kafka;
  /** Broker version when known (the local broker), else what KAFKA_VERSION says. */
  readonly brokerVersion: string;
  /** Where the perf tools' jars are. */
  readonly jarDir: string;
  readonly machine: { cores: number; cpuModel: string; memoryGiB: number; node: string; platform: string };
  /** Stops the local broker if this run started it; leaves a running one alone. */
  close(): Promise<void>;
}

export interface BrokerChoice {
  /** Local cluster name (state in .kafka/<name>/); 'dev' is the shared one of `npm run kafka:up`. */
  readonly name?: string;
  /** Its first broker port (controllers 100 above). */
  readonly port?: number;
}

export async function openBroker(log: (line: string) => void = console.log, choice: BrokerChoice = {}): Promise<BrokerEnv> {
  const name = choice.name ?? 'dev';
  const port = choice.port ?? 9092;
  let brokers: string[];
  let version = process.env.KAFKA_VERSION ?? '3.9.2';
  let stop: () => Promise<void> = async () => {};
  if (process.env.KAFKA_BROKERS) {
    brokers = process.env.KAFKA_BROKERS.split(',').map((b) => b.trim());
    log(`broker: ${brokers.join(',')} (KAFKA_BROKERS)`);
  } else {
    const { cluster, alreadyRunning } = await LocalKafkaCluster.start({ name, layout: layoutFromBasePort(clusterDir(name), 1, port), log });
    brokers = cluster.brokers;
    version = cluster.version;
    // A private broker this run started is wiped when it stops: the run deletes its topics, but Kafka
    // removes a deleted topic's files only a minute later (file.delete.delay.ms), after the broker
    // was stopped, so each 96-partition run left ~3 GB behind and a few dozen runs filled the disk.
    // The shared 'dev' broker keeps its data: it may hold topics that are not the harness's.
    const wipe = name !== 'dev';
    log(
      `broker: local '${cluster.name}' Kafka ${cluster.version} at ${brokers.join(',')} (${alreadyRunning ? 'already running; left running' : wipe ? 'started; stopped and wiped at the end' : 'started; stopped at the end'})`,
    );
    if (!alreadyRunning) stop = () => cluster.stop({ wipe });
  }
  let jarDir = jarCacheDir(resolveKafkaVersion(version).version);
  if (!existsSync(jarDir)) jarDir = fetchKafkaJars(resolveKafkaVersion(version)).dir;
  const kafka = new Kafka({ brokers, clientId: 'txstream-load', logLevel: logLevel.NOTHING, retry: { retries: 8 } });
  return {
    brokers,
    kafka,
    brokerVersion: process.env.KAFKA_BROKERS ? `${version} (tools; remote broker version not probed)` : version,
    jarDir,
    machine: {
      cores: cpus().length,
      cpuModel: cpuModel(),
      memoryGiB: Math.round(totalmem() / 2 ** 30),
      node: process.version,
      platform: `${process.platform} ${process.arch}`,
    },
    close: stop,
  };
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export { withAdmin };

export async function createTopics(kafka: Kafka, topics: Array<{ topic: string; partitions: number }>): Promise<void> {
  await withAdmin(kafka, (admin) => admin.createTopics({ waitForLeaders: true, topics: topics.map((t) => ({ topic: t.topic, numPartitions: t.partitions })) }));
}

export async function deleteTopics(kafka: Kafka, topics: string[]): Promise<void> {
  if (topics.length === 0) return;
  await withAdmin(kafka, (admin) => admin.deleteTopics({ topics, timeout: 30_000 })).catch(() => {});
}

/** Produces `count` records as fast as the producer goes (a pre-produced backlog); returns the time taken. */
export async function produceBacklog(kafka: Kafka, topic: string, count: number, generator: Generator, options: { chunk?: number; inFlight?: number } = {}): Promise<{ seconds: number; poison: number }> {
  const chunk = options.chunk ?? 500;
  const inFlight = options.inFlight ?? 4;
  const producer = kafka.producer({ allowAutoTopicCreation: false });
  await producer.connect();
  const started = Date.now();
  let poison = 0;
  try {
    const pending = new Set<Promise<unknown>>();
    for (let start = 0; start < count; start += chunk) {
      const messages = Array.from({ length: Math.min(chunk, count - start) }, (_, i) => {
        const record = generator.next(start + i, Date.now());
        if (record.poison) poison++;
        return { key: record.key, value: record.value };
      });
      const send = producer.send({ topic, acks: -1, messages }).finally(() => pending.delete(send));
      pending.add(send);
      if (pending.size >= inFlight) await Promise.race(pending);
    }
    await Promise.all(pending);
  } finally {
    await producer.disconnect();
  }
  return { seconds: (Date.now() - started) / 1000, poison };
}

export interface OpenModelResult {
  readonly sent: number;
  readonly poison: number;
  /** Arrivals sent more than 50 ms after their intended time (the generator fell behind). */
  readonly late: number;
  readonly seconds: number;
}

/**
 * Where the open model's arrivals go: `send` takes one tick's records and resolves once the
 * sender can take more (back-pressure); `flush` resolves once everything sent is acknowledged.
 */
export interface OpenModelSender {
  send(records: GeneratedRecord[]): Promise<void>;
  flush(): Promise<void>;
}

/**
 * Sends records at their scheduled times (ms from start), whatever the worker does.
 * Each value is stamped with its intended send time, so lateness of the sender
 * counts as latency too (no coordinated omission).
 */
export async function runOpenModel(
  sender: OpenModelSender,
  schedule: readonly number[],
  generator: Generator,
  onSent?: (n: number, intendedAt: number, poison: boolean) => void,
  signal?: AbortSignal,
): Promise<OpenModelResult> {
  const started = Date.now();
  let next = 0;
  let poison = 0;
  let late = 0;
  while (next < schedule.length && !signal?.aborted) {
    const now = Date.now() - started;
    const records: GeneratedRecord[] = [];
    while (next < schedule.length && (schedule[next] as number) <= now && records.length < 2000) {
      const intendedAt = started + (schedule[next] as number);
      if (now - (schedule[next] as number) > 50) late++;
      const record = generator.next(next, intendedAt);
      if (record.poison) poison++;
      onSent?.(next, intendedAt, record.poison);
      records.push(record);
      next++;
    }
    if (records.length > 0) await sender.send(records);
    const wait = next < schedule.length ? Math.max(0, (schedule[next] as number) - (Date.now() - started)) : 0;
    await sleep(Math.min(Math.max(wait, 1), 5));
  }
  await sender.flush();
  return { sent: next, poison, late, seconds: (Date.now() - started) / 1000 };
}

/** The open model sent by a KafkaJS producer of this process (up to 64 requests in flight). */
export function produceOpenModel(
  producer: Producer,
  topic: string,
  schedule: readonly number[],
  generator: Generator,
  onSent?: (n: number, intendedAt: number, poison: boolean) => void,
  signal?: AbortSignal,
): Promise<OpenModelResult> {
  const pending = new Set<Promise<unknown>>();
  const sender: OpenModelSender = {
    async send(records) {
      const send = producer.send({ topic, acks: -1, messages: records.map(({ key, value }) => ({ key, value })) }).finally(() => pending.delete(send));
      pending.add(send);
      if (pending.size > 64) await Promise.race(pending);
    },
    async flush() {
      await Promise.all(pending);
    },
  };
  return runOpenModel(sender, schedule, generator, onSent, signal);
}

export interface Reader {
  readonly received: () => number;
  stop(): Promise<void>;
}

/** A read_committed reader from the beginning of topics, calling onMessage for each record. */
export async function startReader(
  kafka: Kafka,
  topics: string[],
  onMessage: (topic: string, partition: number, message: KafkaMessage, receivedAt: number) => void,
  groupId = `load-reader-${Math.random().toString(36).slice(2, 10)}`,
): Promise<Reader> {
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 20, sessionTimeout: 30_000, maxBytesPerPartition: 4 * 1_048_576 });
  let count = 0;
  await consumer.connect();
  await consumer.subscribe({ topics, fromBeginning: true });
  let joined = false;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    joined = true;
  });
  await consumer.run({
    partitionsConsumedConcurrently: 4,
    eachBatchAutoResolve: true,
    eachBatch: async ({ batch }) => {
      const receivedAt = Date.now();
      for (const message of batch.messages) {
        count++;
        onMessage(batch.topic, batch.partition, message, receivedAt);
      }
    },
  });
  const deadline = Date.now() + 30_000;
  while (!joined && Date.now() < deadline) await sleep(20);
  return { received: () => count, stop: () => consumer.disconnect() };
}

/** The committed offset of each partition of a topic for a group (0 when none). */
export async function committedOffsets(kafka: Kafka, groupId: string, topic: string): Promise<Map<number, number>> {
  return withAdmin(kafka, async (admin) => {
    const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
    return new Map((offsets?.partitions ?? []).map(({ partition, offset }) => [partition, Math.max(0, Number(offset))]));
  });
}

export interface GroupAudit extends AuditResult {
  /** Inputs the group committed (the audited range: up to the committed offset, per partition). */
  readonly committed: number;
  readonly outputRecords: number;
  readonly deadLettered: number;
}

/**
 * The exactly-once audit of one run, with the code of `txstream audit`: the group's
 * committed range of the input against the lineage headers of every committed output
 * and dead-letter record, read up to the end offsets as of the start (read_committed).
 * Only the committed range of the input is read (the rest of the backlog is not audited);
 * an output of an input past it counts as unexpected, as for any output of no audited input.
 */
export async function auditGroup(kafka: Kafka, options: { groupId: string; input: string; outputs: string[]; deadLetter?: string; timeoutMs?: number }): Promise<GroupAudit> {
  const { snapshot } = await readAuditSnapshot(
    kafka,
    { groupId: options.groupId, inputs: [options.input], retryTiers: [], outputs: options.outputs, deadLetters: options.deadLetter ? [options.deadLetter] : [] },
    { inputs: 'committed', timeoutMs: options.timeoutMs ?? 60_000 },
  );
  const audit = auditPipeline(snapshot, { problemLimit: 10 });
  return { ...toAuditResult(audit), committed: audit.processed, outputRecords: audit.records.outputs, deadLettered: audit.records.deadLetters };
}
