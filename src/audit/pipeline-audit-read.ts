import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import { DEFAULTS } from '../config/defaults.js';
import { withAdmin } from '../kafka/admin.js';
import { endOnCrash } from '../kafka/consumer-crash.js';
import { headerText } from '../kafka/headers.js';
import type { ResolvedPipeline } from '../pipeline/definition.js';
import { LINEAGE_HEADER } from '../pipeline/lineage.js';
import { type AuditSnapshot, type AuditTopics, positionKey, snapshotOf, type Trace } from './pipeline-audit.js';

export type { AuditTopics } from './pipeline-audit.js';

/** The audit reads every topic of the pipeline; one that does not exist is named, not retried. */
export class AuditTopicsMissingError extends Error {
  constructor(readonly topics: readonly string[]) {
    super(`topic(s) ${topics.join(', ')} do not exist (create them with txstream topics apply, or name the pipeline's real topics)`);
    this.name = 'AuditTopicsMissingError';
  }
}

export interface AuditReadOptions {
  /** Give up when the read has not reached the end offsets by then. */
  readonly timeoutMs?: number;
  /**
   * How far to read the inputs: to their end (default; inputs past the committed offset
   * are counted as not yet processed), or only the committed range (a large backlog is not
   * read; outputs of inputs past it count as past the read).
   */
  readonly inputs?: 'to-end' | 'committed';
}

export interface AuditRead {
  readonly snapshot: AuditSnapshot;
  /** The throwaway consumer group the read used, deleted afterwards (KafkaJS consumes only in a group). */
  readonly readerGroup: string;
  /** False when the reader group could not be deleted (it holds no offsets; the broker expires it). */
  readonly readerGroupDeleted: boolean;
}

/** The topics of a pipeline as the worker runs it: inputs, their retry tiers and dead-letter topics, the default output and any extra outputs. */
export function auditTopicsOf(pipeline: ResolvedPipeline, extraOutputs: readonly string[] = []): AuditTopics {
  return {
    groupId: pipeline.groupId,
    inputs: pipeline.inputs,
    retryTiers: pipeline.inputs.flatMap((input) => pipeline.retryTopicsFor(input).map((topic, index) => ({ topic, tier: index + 1 }))),
    outputs: [...new Set([...(pipeline.output ? [pipeline.output] : []), ...extraOutputs])],
    deadLetters: [...new Set(pipeline.inputs.map((input) => pipeline.deadLetterTopicFor(input)))],
  };
}

/**
 * Reads what an audit needs, bounded so it ends on a live cluster:
 * 1. the group's committed offsets (first: whatever was committed then has its outputs written before),
 * 2. every partition's end offset (high watermark) as of now,
 * 3. every topic from its start to those end offsets, read_committed.
 * Records of a transaction still open at the start are awaited until it ends (the
 * transaction timeout bounds that). The end is the high watermark, not the last stable
 * offset, on purpose: a transaction's offsets can be visible in the group while its commit
 * marker is not yet written to every output partition, and its outputs must be read.
 * Only positions and lineage headers are kept.
 */
export async function readAuditSnapshot(kafka: Kafka, topics: AuditTopics, options: AuditReadOptions = {}): Promise<AuditRead> {
  const consumed = [...topics.inputs, ...topics.retryTiers.map(({ topic }) => topic)];
  const all = [...new Set([...consumed, ...topics.outputs, ...topics.deadLetters])];
  const { committed, ends } = await withAdmin(kafka, async (admin) => {
    const existing = new Set(await admin.listTopics());
    const absent = all.filter((topic) => !existing.has(topic));
    if (absent.length > 0) throw new AuditTopicsMissingError(absent);
    return { committed: await committedOffsets(admin, topics.groupId, consumed), ends: await endOffsets(admin, all) };
  });
  const inputSet = new Set(topics.inputs);
  if (options.inputs === 'committed') {
    for (const [key, range] of ends) {
      if (!inputSet.has(range.topic)) continue;
      const committedOffset = BigInt(committed.get(key) ?? range.low);
      if (committedOffset < range.end) ends.set(key, { ...range, end: committedOffset });
    }
  }
  const inputReadEnds = new Map([...ends].filter(([, { topic }]) => inputSet.has(topic)).map(([key, { end }]) => [key, String(end)]));

  const records: Trace[] = [];
  const readerGroup = `txstream-audit-${randomUUID()}`;
  await readUpTo(kafka, readerGroup, ends, options.timeoutMs ?? DEFAULTS.auditReadTimeoutMs, (topic, partition, offset, lineage) => {
    records.push({ topic, partition, offset, lineage: lineage ?? null });
  });
  const readerGroupDeleted = await deleteReaderGroup(kafka, readerGroup);
  return {
    snapshot: snapshotOf(topics, committed, records, inputReadEnds),
    readerGroup,
    readerGroupDeleted,
  };
}

async function committedOffsets(admin: Admin, groupId: string, topics: string[]): Promise<Map<string, string>> {
  const committed = new Map<string, string>();
  for (const { topic, partitions } of await admin.fetchOffsets({ groupId, topics })) {
    for (const { partition, offset } of partitions) if (BigInt(offset) >= 0n) committed.set(positionKey(topic, partition), offset);
  }
  return committed;
}

interface ReadRange {
  readonly topic: string;
  readonly partition: number;
  readonly low: bigint;
  /** Exclusive. */
  readonly end: bigint;
}

/** Per partition: [first offset, end offset) to read. */
async function endOffsets(admin: Admin, topics: string[]): Promise<Map<string, ReadRange>> {
  const ends = new Map<string, ReadRange>();
  for (const topic of topics) {
    for (const { partition, low, high } of await admin.fetchTopicOffsets(topic)) {
      ends.set(positionKey(topic, partition), { topic, partition, low: BigInt(low), end: BigInt(high) });
    }
  }
  return ends;
}

/**
 * KafkaJS 2.2.4 has no partition assignment without a group, so the read joins a
 * throwaway group that commits nothing. Progress comes from the batch events, which
 * also report batches holding only transaction markers or aborted records (those never
 * reach eachBatch); a partition is done once a batch reaches its end offset.
 */
async function readUpTo(
  kafka: Kafka,
  groupId: string,
  ends: ReadonlyMap<string, ReadRange>,
  timeoutMs: number,
  onRecord: (topic: string, partition: number, offset: string, lineage: string | undefined) => void,
): Promise<void> {
  const remaining = new Map([...ends].filter(([, { low, end }]) => end > low).map(([key, { end }]) => [key, end]));
  if (remaining.size === 0) return;
  const reached = new Map<string, bigint>();
  const next = new Map<string, bigint>();
  const consumer = kafka.consumer({ groupId, readUncommitted: false, maxWaitTimeInMs: 100 });
  let finish: (error?: Error) => void = () => {};
  const finished = new Promise<void>((resolve, reject) => {
    finish = (error) => (error ? reject(error) : resolve());
  });
  const progress = (topic: string, partition: number, lastOffset: string) => {
    const key = positionKey(topic, partition);
    const end = remaining.get(key);
    if (end === undefined) return;
    reached.set(key, BigInt(lastOffset) + 1n);
    if (BigInt(lastOffset) + 1n >= end) remaining.delete(key);
    if (remaining.size === 0) finish();
  };
  consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => progress(payload.topic, payload.partition, payload.lastOffset));
  endOnCrash(consumer, 'audit read', finish);
  const timer = setTimeout(() => {
    const behind = [...remaining].map(([key, end]) => `${key} at ${reached.get(key) ?? ends.get(key)?.low ?? 0n} of ${end}`);
    finish(
      new Error(
        `audit read did not reach the end offsets within ${timeoutMs} ms: ${behind.slice(0, 10).join(', ')}${behind.length > 10 ? ', …' : ''} ` +
          '(a transaction open at the start holds read_committed readers back until it ends or times out)',
      ),
    );
  }, timeoutMs);
  await consumer.connect();
  try {
    const topics = new Set([...remaining.keys()].map((key) => (ends.get(key) as ReadRange).topic));
    await consumer.subscribe({ topics: [...topics], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      partitionsConsumedConcurrently: 4,
      eachBatch: async ({ batch }) => {
        const key = positionKey(batch.topic, batch.partition);
        const end = ends.get(key)?.end;
        if (end === undefined) return;
        for (const message of batch.messages) {
          const offset = BigInt(message.offset);
          // A rejoin of the reader group starts the partition over (it commits nothing): each offset counts once.
          if (offset >= end || offset < (next.get(key) ?? 0n)) continue;
          next.set(key, offset + 1n);
          onRecord(batch.topic, batch.partition, message.offset, headerText(message.headers?.[LINEAGE_HEADER]));
        }
      },
    });
    await finished;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
}

/** Leaves nothing behind on the user's cluster; the group is empty once the consumer left. */
async function deleteReaderGroup(kafka: Kafka, groupId: string): Promise<boolean> {
  try {
    await withAdmin(kafka, (admin) => admin.deleteGroups([groupId]), 10);
    return true;
  } catch {
    return false;
  }
}
