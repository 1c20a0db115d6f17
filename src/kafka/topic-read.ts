import type { Kafka, KafkaMessage } from 'kafkajs';
import { endOnCrash } from './consumer-crash.js';

/** A stretch of one partition to read: offsets from `from` (inclusive) to `to` (exclusive). */
export interface OffsetRange {
  readonly partition: number;
  readonly from: bigint;
  readonly to: bigint;
}

export interface TopicReadOptions {
  /** Stop reading when the ranges are not read by then: the result says what was left unread. */
  readonly timeoutMs?: number;
  /** What the read is for, in the error a consumer crash ends it with. */
  readonly purpose?: string;
}

/** What a read left unread when its time ran out (empty: every range was read to its end). */
export interface TopicReadResult {
  readonly unread: readonly OffsetRange[];
}

/** The records a read left unread, as "partition 3 offsets 120–499, …" (offsets, not records: markers take some). */
export function describeUnread(unread: readonly OffsetRange[]): string {
  return unread.map(({ partition, from, to }) => `partition ${partition} offsets ${from}–${to - 1n}`).join(', ');
}

/**
 * Reads offset ranges of one topic with read_committed, handing each record to `visit` as it comes, so a
 * caller that keeps only a summary of each record never holds the topic. A throwaway group that commits
 * nothing: each range is reached by a seek, so a detail view reads one record, not the partition before it.
 * Transaction markers and aborted records take offsets too: a batch's last offset, not its last record,
 * says how far a range is read. A read that runs out of time says what it left unread: a caller must
 * never present part of a topic as the whole of it.
 */
export async function scanRanges(
  kafka: Kafka,
  topic: string,
  ranges: readonly OffsetRange[],
  visit: (partition: number, message: KafkaMessage) => void,
  options: TopicReadOptions = {},
): Promise<TopicReadResult> {
  const pending = new Map<number, OffsetRange>();
  for (const range of ranges) if (range.to > range.from) pending.set(range.partition, range);
  if (pending.size === 0) return { unread: [] };
  const consumer = kafka.consumer({ groupId: `txstream-inspect-${Date.now()}-${Math.random().toString(36).slice(2)}`, maxWaitTimeInMs: 100 });
  let finish: (error?: Error) => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    finish = (error) => (error ? reject(error) : resolve());
  });
  const timer = setTimeout(finish, options.timeoutMs ?? 60_000);
  endOnCrash(consumer, options.purpose ?? `reading the topic '${topic}'`, finish);
  const seekAll = () => {
    for (const range of pending.values()) consumer.seek({ topic, partition: range.partition, offset: range.from.toString() });
  };
  await consumer.connect();
  try {
    // Every partition is assigned to this lone member; those without a range start at their end and read nothing.
    await consumer.subscribe({ topics: [topic], fromBeginning: false });
    // A seek before the assignment is lost: seek at each join (one, unless the group rebalances).
    consumer.on(consumer.events.GROUP_JOIN, seekAll);
    await consumer.run({
      autoCommit: false,
      eachBatchFiltered: true,
      eachBatch: async ({ batch }) => {
        const range = pending.get(batch.partition);
        if (range === undefined) return;
        for (const message of batch.messages) {
          const offset = BigInt(message.offset);
          if (offset >= range.from && offset < range.to) visit(batch.partition, message);
        }
        if (batch.isEmpty() && BigInt(batch.highWatermark) <= range.from) pending.delete(batch.partition);
        else {
          const next = BigInt(batch.lastOffset()) + 1n;
          if (next >= range.to) pending.delete(batch.partition);
          // Read up to here: what is left of the range, should the time run out.
          else if (next > range.from) pending.set(batch.partition, { ...range, from: next });
        }
        if (pending.size === 0) finish();
      },
    });
    seekAll();
    await done;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
  return { unread: [...pending.values()].sort((a, b) => a.partition - b.partition) };
}

/** The ranges from each partition's start (its low watermark) to the end offsets it has now. */
export async function wholeTopicRanges(kafka: Kafka, topic: string): Promise<OffsetRange[]> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    return (await admin.fetchTopicOffsets(topic))
      .map(({ partition, low, high }) => ({ partition, from: BigInt(low), to: BigInt(high) }))
      .filter((range) => range.to > range.from);
  } finally {
    await admin.disconnect();
  }
}
