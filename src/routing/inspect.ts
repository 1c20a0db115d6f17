import type { Kafka, KafkaMessage } from 'kafkajs';
import { endOnCrash } from '../kafka/consumer-crash.js';

/**
 * Reads a topic from the beginning to the end offsets it had when the read began
 * (read_committed, a throwaway group that commits nothing).
 */
export async function readToEnd(kafka: Kafka, topic: string, timeoutMs = 60_000): Promise<Array<{ partition: number; message: KafkaMessage }>> {
  const admin = kafka.admin();
  await admin.connect();
  const ends = new Map<number, bigint>();
  try {
    for (const { partition, high } of await admin.fetchTopicOffsets(topic)) if (BigInt(high) > 0n) ends.set(partition, BigInt(high));
  } finally {
    await admin.disconnect();
  }
  const records: Array<{ partition: number; message: KafkaMessage }> = [];
  if (ends.size === 0) return records;
  const consumer = kafka.consumer({ groupId: `txstream-inspect-${Date.now()}-${Math.random().toString(36).slice(2)}`, maxWaitTimeInMs: 100 });
  let finish: (error?: Error) => void = () => {};
  const done = new Promise<void>((resolve, reject) => {
    finish = (error) => (error ? reject(error) : resolve());
  });
  const timer = setTimeout(finish, timeoutMs);
  endOnCrash(consumer, `reading the dead-letter topic '${topic}'`, finish);
  await consumer.connect();
  try {
    await consumer.subscribe({ topics: [topic], fromBeginning: true });
    await consumer.run({
      autoCommit: false,
      eachBatch: async ({ batch }) => {
        const end = ends.get(batch.partition);
        if (end === undefined) return;
        for (const message of batch.messages) if (BigInt(message.offset) < end) records.push({ partition: batch.partition, message });
        // Transaction markers take the last offsets: the batch's last offset, not its last record, says how far we are.
        if (BigInt(batch.lastOffset()) + 1n >= end) ends.delete(batch.partition);
        if (ends.size === 0) finish();
      },
    });
    await done;
  } finally {
    clearTimeout(timer);
    await consumer.disconnect();
  }
  return records;
}
