import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * KafkaJS 2.2.4 grouped a send's messages by partition with a reduce that copied the partition's
 * array into a new one ([...current, message]) and assigned a new object for every message:
 * quadratic in the messages per partition of a send (3.7 % of a worker's CPU profile at 12
 * partitions, batch 500, plus its garbage). patches/kafkajs+2.2.4+014+group-messages-linear.patch
 * appends to one array per partition. The first test fails on the unpatched package (each message
 * spreads, i.e. iterates, its partition's array again); the second holds on both (same groups).
 */
const require = createRequire(import.meta.url);
// The package test points this at the KafkaJS an installed txstream carries (dist/vendor/kafkajs).
const KAFKAJS = process.env.TXSTREAM_TEST_KAFKAJS ?? 'kafkajs';

interface Message {
  readonly key: string;
  readonly value: string;
  readonly partition: number;
}
const groupMessagesPerPartition = require(`${KAFKAJS}/src/producer/groupMessagesPerPartition`) as (args: {
  topic: string;
  partitionMetadata: ReadonlyArray<{ partitionId: number }>;
  messages: readonly Message[];
  partitioner: (args: { message: Message }) => number;
}) => Record<string, Message[]>;

const partitionMetadata = Array.from({ length: 12 }, (_, partitionId) => ({ partitionId }));
const messagesOf = (count: number, partitions: number): Message[] => Array.from({ length: count }, (_, n) => ({ key: `key-${n}`, value: `value-${n}`, partition: (n * 7) % partitions }));
const byTheirPartition = ({ message }: { message: Message }) => message.partition;

describe('KafkaJS groupMessagesPerPartition (patched)', () => {
  it('reads the send once, not each partition’s array again for every message', () => {
    const messages = messagesOf(1000, 12);
    const iterate = Array.prototype[Symbol.iterator];
    let iterations = 0;
    // Spreading an array iterates it; a patched grouping iterates only the send itself (once).
    Array.prototype[Symbol.iterator] = function counted(this: unknown[]) {
      iterations++;
      return iterate.call(this);
    };
    try {
      groupMessagesPerPartition({ topic: 't', partitionMetadata, messages, partitioner: byTheirPartition });
    } finally {
      Array.prototype[Symbol.iterator] = iterate;
    }
    expect(iterations).toBeLessThanOrEqual(1); // unpatched: 1,000 (one spread per message)
  });

  it('groups every message under its partition, in the order of the send', () => {
    const messages = messagesOf(500, 12);
    const groups = groupMessagesPerPartition({ topic: 't', partitionMetadata, messages, partitioner: byTheirPartition });
    expect(Object.keys(groups).map(Number).sort((a, b) => a - b)).toEqual(partitionMetadata.map((p) => p.partitionId));
    for (const [partition, grouped] of Object.entries(groups)) expect(grouped).toEqual(messages.filter((m) => m.partition === Number(partition)));
    expect(groupMessagesPerPartition({ topic: 't', partitionMetadata: [], messages, partitioner: byTheirPartition })).toEqual({});
  });
});
