import type { Kafka, KafkaMessage } from 'kafkajs';
import { scanRanges, wholeTopicRanges } from '../kafka/topic-read.js';

/**
 * Reads a topic from the beginning to the end offsets it had when the read began
 * (read_committed, a throwaway group that commits nothing).
 */
export async function readToEnd(kafka: Kafka, topic: string, timeoutMs = 60_000): Promise<Array<{ partition: number; message: KafkaMessage }>> {
  const records: Array<{ partition: number; message: KafkaMessage }> = [];
  await scanToEnd(kafka, topic, (partition, message) => records.push({ partition, message }), timeoutMs);
  return records;
}

/** Like readToEnd, handing each record to `visit` instead of keeping it: a reader of a large topic keeps what it needs. */
export async function scanToEnd(kafka: Kafka, topic: string, visit: (partition: number, message: KafkaMessage) => void, timeoutMs = 60_000): Promise<void> {
  await scanRanges(kafka, topic, await wholeTopicRanges(kafka, topic), visit, { timeoutMs, purpose: `reading the dead-letter topic '${topic}'` });
}
