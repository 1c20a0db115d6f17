import type { Kafka, KafkaMessage, Message, Producer } from 'kafkajs';
import type { Logger } from 'pino';
import type { ResolvedPipeline } from '../pipeline/definition.js';
import { CommandError, ConfigError } from '../errors/index.js';
import { withAdmin } from '../kafka/admin.js';
import { endOnCrash } from '../kafka/consumer-crash.js';
import { StableOffsetReader } from '../kafka/stable-offsets.js';
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
 *
 * One replay at a time: a replay that finds another member in the replay group once it
 * joined refuses before it copies anything (see admit). Two that start together may both
 * refuse; neither copies twice.
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
    const existing = new Set(await admin.listTopics());
    const absentDlt = topics.filter((topic) => !existing.has(topic));
    if (absentDlt.length > 0) throw new CommandError(`dlt replay: the dead-letter topic ${absentDlt.map((t) => `'${t}'`).join(', ')} of pipeline '${pipeline.name}' does not exist`);
    for (const topic of topics) for (const { partition, high } of await admin.fetchTopicOffsets(topic)) ends.set(`${topic}|${partition}`, BigInt(high));
    if (!options.dryRun) {
      const committed = await admin.fetchOffsets({ groupId, topics });
      for (const { topic, partitions } of committed) {
        for (const { partition, offset } of partitions) if (BigInt(offset) >= (ends.get(`${topic}|${partition}`) ?? 0n)) ends.delete(`${topic}|${partition}`);
      }
    }
    for (const [key, end] of ends) if (end === 0n) ends.delete(key);
    // A copy to a deleted input would fail inside the transaction and KafkaJS would restart the consumer
    // for ever; with the broker's auto-creation on it would even recreate the topic with default settings.
    const pending = new Set([...ends.keys()].map((key) => key.slice(0, key.lastIndexOf('|'))));
    const absentInputs = pipeline.inputs.filter((input) => pending.has(pipeline.deadLetterTopicFor(input)) && !existing.has(input));
    if (absentInputs.length > 0) {
      const input = absentInputs[0] as string;
      throw new CommandError(
        `dlt replay: the input topic '${input}' of pipeline '${pipeline.name}' does not exist, so the dead letters of '${pipeline.deadLetterTopicFor(input)}' have nowhere to go; ` +
          'nothing was replayed and they stay where they are (create the topic, e.g. with txstream topics apply, and replay again)',
      );
    }
  } finally {
    await admin.disconnect();
  }
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
  let finish: (error?: Error) => void = () => {};
  const finished = new Promise<void>((resolve, reject) => {
    finish = (error) => (error ? reject(error) : resolve());
  });
  // A transaction lasts about a second under --rate: a long one would outlive the group's session and
  // the transaction timeout, and hold back a rebalance.
  const perTransaction = options.ratePerSecond ? Math.max(1, Math.ceil(options.ratePerSecond)) : Number.POSITIVE_INFINITY;
  const producerFor = async (key: string): Promise<Producer> => {
    let producer = producers.get(key);
    if (!producer) {
      // One transactional id per dead-letter partition, the same for every replay of the group: a
      // replay's first transaction fences the producer of any earlier replay of that partition.
      producer = kafka.producer({ transactionalId: `${groupId}.${key.replace('|', '.')}`, idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      producers.set(key, producer);
    }
    return producer;
  };

  let membership: { generationId: number; memberId: string } | undefined;
  /** Where the group stood when this replay was admitted or last rejoined, per partition: records below were copied already. */
  const floors = new Map<string, bigint>();
  let admission: Promise<boolean> | undefined;
  const admit = async (memberId: string): Promise<void> => {
    if (options.dryRun) return;
    const others = await otherMembers(kafka, groupId, memberId);
    if (others.length > 0) {
      throw new CommandError(
        `dlt replay: another replay of pipeline '${pipeline.name}' is running or starting (group ${groupId}: ${others.join(', ')}); ` +
          'this one replayed nothing: run it again once that one has ended',
      );
    }
    // Alone in the group. An earlier replay may still be alive outside it (stalled past its session):
    // opening every partition's producer now fences it and aborts its open transaction, and the stable
    // offsets read after that say how far its committed transactions went.
    for (const key of ends.keys()) await producerFor(key);
    await readFloors();
  };
  /**
   * Where the group's committed transactions reached, read stable (it waits out a pending one). Read again
   * at every rejoin: KafkaJS resumes a partition from the offset it read at the join without waiting for a
   * pending transaction, and this replay's own transaction in flight during a rebalance commits after that
   * read, so the batch fetched again from there was copied a second time.
   */
  const readFloors = async (): Promise<void> => {
    await withAdmin(kafka, async (reader) => {
      const stable = new StableOffsetReader(reader, groupId, { timeoutMs: 30_000 });
      for (const key of ends.keys()) {
        const separator = key.lastIndexOf('|');
        const offset = await stable.read({ topic: key.slice(0, separator), partition: Number(key.slice(separator + 1)) });
        if (offset !== null && BigInt(offset) >= 0n) floors.set(key, BigInt(offset));
      }
    });
    // A partition the other replay finished has nothing left to fetch, so no batch would say it is done.
    for (const [key, floor] of floors) if (floor >= (ends.get(key) ?? 0n)) ends.delete(key);
    if (ends.size === 0) finish();
  };
  const failAdmission = (error: unknown): boolean => {
    finish(error instanceof Error ? error : new Error(String(error)));
    return false;
  };
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    membership = { generationId: payload.generationId, memberId: payload.memberId };
    // The first join admits this replay; every later one (a rebalance) reads the floors again before a batch goes on.
    admission =
      admission === undefined
        ? admit(payload.memberId).then(() => true, failAdmission)
        : admission.then((admitted) => (admitted && !options.dryRun ? readFloors().then(() => true, failAdmission) : admitted));
  });
  endOnCrash(consumer, `dlt replay of pipeline '${pipeline.name}'`, finish);

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
        // Nothing is read, copied or committed before this replay knows it is the only one.
        if (!(await admission)) return;
        const key = `${batch.topic}|${batch.partition}`;
        const end = ends.get(key);
        if (end === undefined) return;
        // Fetched before admission from an offset an earlier replay has since committed past: go on from its commit.
        const floor = floors.get(key) ?? 0n;
        if (floor >= end) {
          ends.delete(key);
          if (ends.size === 0) finish();
          return;
        }
        if (BigInt(batch.lastOffset()) < floor) {
          consumer.seek({ topic: batch.topic, partition: batch.partition, offset: floor.toString() });
          return;
        }
        const copies: Array<{ topic: string; message: Message }> = [];
        // This batch's counts join the replay's only once its transaction committed: a batch whose
        // transaction aborted (a rebalance fenced its generation) is fetched and counted again.
        const counted = { scanned: 0, matched: 0, passedOver: 0, passedOverSample: [] as NotReplayed[], stoppedAt: [] as NotReplayed[] };
        const addCounted = () => {
          scanned += counted.scanned;
          matched += counted.matched;
          passedOver += counted.passedOver;
          passedOverSample.push(...counted.passedOverSample.slice(0, SAMPLE - passedOverSample.length));
          stoppedAt.push(...counted.stoppedAt);
        };
        let next: bigint | undefined;
        let stoppedEarly = false;
        let halted = false;
        let pastEnd = false;
        for (const message of batch.messages) {
          if (BigInt(message.offset) >= end) {
            stoppedEarly = true;
            pastEnd = true;
            break;
          }
          if (replayed + copies.length >= limit || copies.length >= perTransaction) {
            stoppedEarly = true;
            break;
          }
          if (BigInt(message.offset) < floor) continue;
          const target = replayTarget(message, batch.topic, pipeline);
          const reason = 'problem' in target ? `not replayable: ${target.problem}` : matchesFilters(message, filters) ? undefined : 'does not match the filters';
          if (reason !== undefined) {
            const skipped = { topic: batch.topic, partition: batch.partition, offset: message.offset, reason };
            if (!options.skipUnmatched) {
              // The cursor stays on this record: a later replay (a corrected filter) still finds it.
              counted.stoppedAt.push(skipped);
              stoppedEarly = true;
              halted = true;
              break;
            }
            counted.passedOver++;
            if (counted.passedOverSample.length < SAMPLE) counted.passedOverSample.push(skipped);
            logger.info(skipped, 'dead letter passed over (--skip-unmatched)');
          }
          counted.scanned++;
          next = BigInt(message.offset) + 1n;
          if (reason !== undefined || 'problem' in target) continue;
          counted.matched++;
          copies.push(replayCopy(batch.topic, batch.partition, message, target.topic));
        }
        // Transaction markers sit after the last record: a batch read to its end covers them too.
        if (!stoppedEarly) {
          const through = BigInt(batch.lastOffset()) + 1n;
          next = through < end ? through : end;
        } else if (pastEnd) {
          // A record at or past the end offset (written since the replay began): whatever lies below it and was
          // not a record (a marker, an aborted record) is read too. Without this the cursor would stay before such
          // a marker and every later fetch would start past the end, so the replay would never end.
          next = end;
        }
        if (next === undefined) {
          addCounted();
          if (halted) ends.delete(key);
          if (ends.size === 0) finish();
          return;
        }
        if (!options.dryRun) {
          const transaction = await (await producerFor(key)).transaction();
          try {
            for (const [index, copy] of copies.entries()) {
              await transaction.send({ topic: copy.topic, messages: [copy.message], acks: -1 });
              await throttle(started, replayed + index + 1, options.ratePerSecond);
            }
            // KIP-447: the group refuses the offsets of a generation it has left, so a replay dropped from
            // the group (stalled past its session) cannot commit behind the member that took over.
            await transaction.sendOffsets({
              consumerGroupId: groupId,
              topics: [{ topic: batch.topic, partitions: [{ partition: batch.partition, offset: next.toString() }] }],
              ...(membership ? { consumerGroupMetadata: { ...membership, groupInstanceId: null } } : {}),
            });
            await transaction.commit();
          } catch (error) {
            await transaction.abort().catch(() => {});
            throw error;
          }
          replayed += copies.length;
        }
        addCounted();
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

/** The other members of the replay group, as `member <id> (<client>@<host>)`. */
async function otherMembers(kafka: Kafka, groupId: string, memberId: string): Promise<string[]> {
  const { groups } = await withAdmin(kafka, (admin) => admin.describeGroups([groupId]));
  return (groups[0]?.members ?? []).filter((member) => member.memberId !== memberId).map((member) => `member ${member.memberId} (${member.clientId}@${member.clientHost})`);
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
