import { describe, expect, it } from 'vitest';
import { consumerGroupOver } from '../support/kafkajs-internals.js';

/**
 * Before every fetch KafkaJS asks which broker to read each assigned partition from. In 2.2.4
 * `findReadReplicaForPartitions` searched the topic's metadata once per partition and copied its
 * result and the broker's partition list once per partition: O(n^2) per fetch, the consumer's
 * largest per-fetch cost in a profile at 96 partitions (2026-12-06).
 * patches/kafkajs+2.2.4+026+read-replicas-linear.patch looks partitions up in a map built once;
 * the first test fails on the unpatched package.
 */
interface ConsumerGroup {
  findReadReplicaForPartitions(topic: string, partitions: number[]): Record<string, number[]>;
  preferredReadReplicasPerTopicPartition: Record<string, Record<number, { nodeId: number; expireAt: number }>>;
}

/** A topic of `count` partitions led by broker 1 (even) and 2 (odd), whose metadata counts the searches made in it. */
function groupOver(count: number) {
  const searches = { count: 0 };
  class Searched<T> extends Array<T> {
    override find(...args: Parameters<T[]['find']>): T | undefined {
      searches.count++;
      return super.find(...(args as [(value: T) => boolean]));
    }
  }
  const metadata = Searched.from(Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: partitionId % 2 === 0 ? 1 : 2, offlineReplicas: [] })));
  const group = consumerGroupOver<ConsumerGroup>({ findTopicPartitionMetadata: () => metadata });
  return { group, searches };
}

describe('KafkaJS read replicas per fetch (patched)', () => {
  it('finds the brokers of 96 partitions without searching the metadata per partition', () => {
    const { group, searches } = groupOver(96);
    const partitions = Array.from({ length: 96 }, (_, partition) => partition);
    const byNode = group.findReadReplicaForPartitions('in', partitions);
    // Unpatched: 96 searches through the metadata.
    expect(searches.count).toBe(0);
    expect(byNode['1']).toEqual(partitions.filter((partition) => partition % 2 === 0));
    expect(byNode['2']).toEqual(partitions.filter((partition) => partition % 2 === 1));
  });

  it('reads from a preferred replica while it is fresh, skips partitions without metadata, keeps the order asked', () => {
    const { group } = groupOver(6);
    group.preferredReadReplicasPerTopicPartition = { in: { 3: { nodeId: 5, expireAt: Date.now() + 60_000 }, 4: { nodeId: 6, expireAt: Date.now() - 1 } } };
    expect(group.findReadReplicaForPartitions('in', [5, 4, 3, 9, 0])).toEqual({ '1': [4, 0], '2': [5], '5': [3] });
    // An expired preference is dropped.
    expect(group.preferredReadReplicasPerTopicPartition['in']?.[4]).toBeUndefined();
  });
});
