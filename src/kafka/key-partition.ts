import { Partitioners } from 'kafkajs';

const partitioner = Partitioners.DefaultPartitioner();

/**
 * The partition a keyed record goes to in a topic of `partitions` partitions: the producers'
 * own partitioner (kafka/client.ts), asked in advance, so a record's later copies can be sent,
 * and looked for, in the same partition.
 */
export function partitionOfKey(topic: string, key: Buffer, partitions: number): number {
  const partitionMetadata = Array.from({ length: partitions }, (_, partitionId) => ({ partitionId, leader: 0, replicas: [0], isr: [0], partitionErrorCode: 0 }));
  return partitioner({ topic, partitionMetadata, message: { key, value: null } });
}
