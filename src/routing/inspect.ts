import type { Kafka, KafkaMessage } from 'kafkajs';
import { type OffsetRange, scanRanges, wholeTopicRanges } from '../kafka/topic-read.js';

/** A dead-letter topic as read: its records, and what the read left unread when its time ran out (empty: none). */
export interface TopicContents {
  readonly records: Array<{ partition: number; message: KafkaMessage }>;
  readonly unread: readonly OffsetRange[];
}

/**
 * Reads a topic from the beginning to the end offsets it had when the read began
 * (read_committed, a throwaway group that commits nothing), for at most `timeoutMs`.
 */
export async function readToEnd(kafka: Kafka, topic: string, timeoutMs: number): Promise<TopicContents> {
  const records: Array<{ partition: number; message: KafkaMessage }> = [];
  const { unread } = await scanRanges(kafka, topic, await wholeTopicRanges(kafka, topic), (partition, message) => records.push({ partition, message }), {
    timeoutMs,
    purpose: `reading the dead-letter topic '${topic}'`,
  });
  return { records, unread };
}
