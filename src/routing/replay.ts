import type { Kafka, KafkaMessage, Message, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { ResolvedPipeline } from '../pipeline/definition.js';
import { ConfigError } from '../errors/index.js';
import { userHeaders } from './failure-copy.js';
import { REPLAY_HEADERS } from './failure-headers.js';
import { replayFilterProblems, replayTarget } from './header-checks.js';
import { matchesFilters } from './replay-filter.js';

export interface ReplayOptions {
  readonly kafka: Kafka;
  readonly pipeline: ResolvedPipeline;
  readonly logger: Logger;
  /** `name=value` header matches (see matchesFilters); all must hold. */
  readonly filters?: readonly string[];
  readonly limit?: number;
  /** Records per second at most. */
  readonly ratePerSecond?: number;
  /** Count what would be replayed; write and commit nothing. */
  readonly dryRun?: boolean;
  /**
   * Move past records that are not replayed (no filter match, or a refused original
   * topic). Without it a partition's replay stops at the first such record, so a
   * mistyped or narrow filter never loses dead letters.
   */
  readonly skipUnmatched?: boolean;
}

/** A dead letter the replay did not copy. */
export interface NotReplayed {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly reason: string;
}

export interface ReplayResult {
  readonly scanned: number;
  readonly matched: number;
  readonly replayed: number;
  /** Records moved past without a copy (only with skipUnmatched); the first 100 are listed. */
  readonly passedOver: number;
  readonly passedOverSample: readonly NotReplayed[];
  /** Per partition, the record the replay stopped at (without skipUnmatched); the cursor stays there. */
  readonly stoppedAt: readonly NotReplayed[];
}

const SAMPLE = 100;

/**
 * Moves dead-letter records back to their original topic exactly once: a
 * transactional consume-produce under the group `<pipeline group>.dlt-replay`,
 * so each record is copied in the same transaction that moves the group past it,
 * and a second replay does not copy it again. Attempts start over: the copy
 * carries the record's own headers and `txstream-replayed-from`, not the failure headers.
 * Records that do not match the filters are passed over (and committed past) by this group.
 */
export async function replayDeadLetters(options: ReplayOptions): Promise<ReplayResult> {
  const { kafka, pipeline, logger } = options;
  const filters = options.filters ?? [];
  const filterProblems = replayFilterProblems(filters, pipeline.inputs);
  if (filterProblems.length > 0) throw new ConfigError(filterProblems.join('\n'));
  const limit = options.limit ?? Number.POSITIVE_INFINITY;
  const groupId = `${pipeline.groupId}.dlt-replay`;
  const topics = pipeline.inputs.map((input) => pipeline.deadLetterTopicFor(input));
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<string, bigint>();
  try {
    for (const topic of topics) for (const { partition, high } of await admin.fetchTopicOffsets(topic)) ends.set(`${topic}|${partition}`, BigInt(high));
    if (!options.dryRun) {
      const committed = await admin.fetchOffsets({ groupId, topics });
      for (const { topic, partitions } of committed) {
        for (const { partition, offset } of partitions) if (BigInt(offset) >= (ends.get(`${topic}|${partition}`) ?? 0n)) ends.delete(`${topic}|${partition}`);
      }
    }
  } finally {
    await admin.disconnect();
  }
  for (const [key, end] of ends) if (end === 0n) ends.delete(key);
  if (ends.size === 0) return { scanned: 0, matched: 0, replayed: 0, passedOver: 0, passedOverSample: [], stoppedAt: [] };

  let passedOver = 0;
  const passedOverSample: NotReplayed[] = [];
  const stoppedAt: NotReplayed[] = [];
  let scanned = 0;
  let matched = 0;
  let replayed = 0;
  const producers = new Map<string, Producer>();
  const consumer = kafka.consumer({ groupId: options.dryRun ? `${groupId}.dry-run.${Date.now()}` : groupId, readUncommitted: false, maxWaitTimeInMs: 100 });
  const started = Date.now();
  let finish: () => void = () => {};
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const producerFor = async (key: string): Promise<Producer> => {
    let producer = producers.get(key);
    if (!producer) {
      producer = kafka.producer({ transactionalId: `${groupId}.${key.replace('|', '.')}`, idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      producers.set(key, producer);
    }
    return producer;
  };

  await consumer.connect();
  try {
    await consumer.subscribe({ topics, fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // A dead-letter topic that ends in an aborted transaction: its records are filtered out, and
      // without this batch the replay would wait for the end forever.
      eachBatchFiltered: true,
      eachBatch: async ({ batch, resolveOffset }) => {
        const key = `${batch.topic}|${batch.partition}`;
        const end = ends.get(key);
        if (end === undefined) return;
        const copies: Array<{ topic: string; message: Message }> = [];
        let next: bigint | undefined;
        let stoppedEarly = false;
        let halted = false;
        for (const message of batch.messages) {
          if (BigInt(message.offset) >= end || replayed + copies.length >= limit) {
            stoppedEarly = true;
            break;
          }
          const target = replayTarget(message, batch.topic, pipeline);
          const reason = 'problem' in target ? `not replayable: ${target.problem}` : matchesFilters(message, filters) ? undefined : 'does not match the filters';
          if (reason !== undefined) {
            const skipped = { topic: batch.topic, partition: batch.partition, offset: message.offset, reason };
            if (!options.skipUnmatched) {
              // The cursor stays on this record: a later replay (a corrected filter) still finds it.
              stoppedAt.push(skipped);
              stoppedEarly = true;
              halted = true;
              break;
            }
            passedOver++;
            if (passedOverSample.length < SAMPLE) passedOverSample.push(skipped);
            logger.info(skipped, 'dead letter passed over (--skip-unmatched)');
          }
          scanned++;
          next = BigInt(message.offset) + 1n;
          if (reason !== undefined || 'problem' in target) continue;
          matched++;
          copies.push(replayCopy(batch.topic, batch.partition, message, target.topic));
        }
        // Transaction markers sit after the last record: a batch read to its end covers them too.
        if (!stoppedEarly) {
          const through = BigInt(batch.lastOffset()) + 1n;
          next = through < end ? through : end;
        }
        if (next === undefined) {
          if (halted) ends.delete(key);
          if (ends.size === 0) finish();
          return;
        }
        if (!options.dryRun) {
          const transaction = await (await producerFor(key)).transaction();
          try {
            for (const copy of copies) {
              await transaction.send({ topic: copy.topic, messages: [copy.message], acks: -1 });
              await throttle(started, replayed + 1, options.ratePerSecond);
              replayed++;
            }
            await transaction.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next.toString() }] }] });
            await transaction.commit();
          } catch (error) {
            await transaction.abort().catch(() => {});
            throw error;
          }
        }
        resolveOffset((next - 1n).toString());
        if (halted || next >= end || replayed >= limit) ends.delete(key);
        if (ends.size === 0 || replayed >= limit) finish();
      },
    });
    await finished;
  } finally {
    await consumer.disconnect();
    await Promise.all([...producers.values()].map((producer) => producer.disconnect()));
  }
  logger.info({ pipeline: pipeline.name, scanned, matched, replayed, passedOver, stoppedAt, dryRun: options.dryRun ?? false }, 'dead-letter replay finished');
  return { scanned, matched, replayed: options.dryRun ? 0 : replayed, passedOver, passedOverSample, stoppedAt };
}

/** The copy written back: only ever to one of the pipeline's own inputs (see replayTarget). */
function replayCopy(deadLetterTopic: string, partition: number, message: KafkaMessage, topic: string): { topic: string; message: Message } {
  return {
    topic,
    message: {
      key: message.key,
      value: message.value,
      headers: {
        ...userHeaders(message.headers),
        [REPLAY_HEADERS.replayedFrom]: `${deadLetterTopic}/${partition}/${message.offset}`,
        [REPLAY_HEADERS.replayedAt]: new Date().toISOString(),
      },
    },
  };
}

async function throttle(started: number, sent: number, ratePerSecond: number | undefined): Promise<void> {
  if (!ratePerSecond) return;
  const earliest = started + (sent / ratePerSecond) * 1000;
  const wait = earliest - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
}
