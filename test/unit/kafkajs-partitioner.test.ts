import { afterEach, describe, expect, it, vi } from 'vitest';
import { kafkajsModule } from '../support/kafkajs-internals.js';

/**
 * KafkaJS 2.2.4's default partitioner hashed every keyed record's key with murmur2 computed in
 * Long objects (eight or more per four bytes of key), and made an array of the partitions with a
 * leader for every record, keyed or not. patches/kafkajs+2.2.4+018+partitioner-int32.patch
 * computes murmur2 in 32-bit integers, as the Java client does, and looks for the partitions with
 * a leader only for a record without key or partition. The first two tests fail on the unpatched
 * package; the third holds on both (the partition Kafka's Java clients choose for a key).
 */
type Partitioner = (args: { topic: string; partitionMetadata: Array<{ partitionId: number; leader: number }>; message: { key?: Buffer | string | null; partition?: number } }) => number;

const Long = kafkajsModule<{ fromValue(value: unknown): unknown }>('src/utils/long');
const murmur2 = kafkajsModule<(key: Buffer | string) => number>('src/producer/partitioners/default/murmur2');
const createPartitioner = kafkajsModule<() => Partitioner>('src/producer/partitioners/default');

function partitions(count: number) {
  return Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 1 }));
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('KafkaJS default partitioner (patched)', () => {
  it('hashes a key without Long objects', () => {
    const fromValue = vi.spyOn(Long, 'fromValue');
    murmur2(Buffer.from('a-little-bit-longer-string'));
    expect(fromValue).not.toHaveBeenCalled();
  });

  it('does not list the partitions with a leader for a keyed record', () => {
    const partitioner = createPartitioner();
    const partitionMetadata = partitions(96);
    const filter = vi.spyOn(partitionMetadata, 'filter');
    for (let i = 0; i < 10; i++) partitioner({ topic: 'out', partitionMetadata, message: { key: `key-${i}` } });
    partitioner({ topic: 'out', partitionMetadata, message: { key: null, partition: 3 } });
    expect(filter).not.toHaveBeenCalled();
    // A record with neither goes round-robin over the partitions with a leader, as before.
    const withoutLeader = partitions(4).map((partition) => (partition.partitionId === 2 ? { ...partition, leader: -1 } : partition));
    const chosen = new Set(Array.from({ length: 12 }, () => partitioner({ topic: 'out', partitionMetadata: withoutLeader, message: {} })));
    expect([...chosen].sort()).toEqual([0, 1, 3]);
  });

  it('chooses the partitions the Java client chooses (Kafka’s own murmur2 test values)', () => {
    const javaValues: Array<[string, number]> = [
      ['21', -973932308],
      ['foobar', -790332482],
      ['a-little-bit-long-string', -985981536],
      ['a-little-bit-longer-string', -1486304829],
      ['lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8', -58897971],
      ['abc', 479470107],
    ];
    for (const [key, hash] of javaValues) {
      expect(murmur2(key), key).toBe(hash);
      expect(murmur2(Buffer.from(key)), key).toBe(hash);
      expect(createPartitioner()({ topic: 'out', partitionMetadata: partitions(12), message: { key } }), key).toBe((hash & 0x7fffffff) % 12);
    }
  });
});
