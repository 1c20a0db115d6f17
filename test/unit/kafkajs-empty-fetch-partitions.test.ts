import { describe, expect, it } from 'vitest';
import { consumerGroupOver, kafkajsModule, oneBrokerCluster } from '../support/kafkajs-internals.js';

/**
 * A fetch response carries every partition asked for, most of them without a record when a
 * worker owns many partitions and records arrive at a steady rate (at 96 partitions and 10,000
 * records/s, hundreds of fetches a second). KafkaJS 2.2.4 made a batch of each, and the fetcher,
 * the worker queue and the runner handled every one of them (payload, offset lag in Longs,
 * heartbeat) to do nothing. patches/kafkajs+2.2.4+032+empty-fetch-partitions-no-batch.patch drops
 * a partition that came back without a record; one whose records were all filtered out (a lone
 * commit marker) still comes, so the worker commits past it. The test drives the real consumer
 * group's fetch over a scripted broker; it fails on the unpatched package.
 */
interface FetchedBatch {
  partition: number;
  fetchedOffset: string;
  messages: unknown[];
  isEmptyDueToFiltering(): boolean;
}
interface ConsumerGroup {
  fetch(nodeId: number): Promise<FetchedBatch[]>;
  offsetManager: unknown;
  subscriptionState: { assign(assignment: Array<{ topic: string; partitions: number[] }>): void };
}

const OffsetManager = kafkajsModule<new (options: Record<string, unknown>) => unknown>('src/consumer/offsetManager');

const record = (offset: string) => ({ offset, key: null, value: Buffer.from('v'), headers: {}, timestamp: '0', isControlRecord: false });
const marker = (offset: string) => ({ ...record(offset), isControlRecord: true });

describe('KafkaJS fetch: partitions without records (patched)', () => {
  it('makes batches only of partitions that came back with records, filtered or not', async () => {
    const asked: Array<{ partition: number; fetchOffset: string }> = [];
    const broker = {
      nodeId: 1,
      fetch: async ({ topics }: { topics: Array<{ topic: string; partitions: Array<{ partition: number; fetchOffset: string }> }> }) => {
        asked.push(...(topics[0]?.partitions ?? []));
        const partition = (partition: number, messages: unknown[]) => ({ partition, errorCode: 0, highWatermark: '10', lastStableOffset: '10', abortedTransactions: [], preferredReadReplica: -1, messages });
        return {
          responses: [
            {
              topicName: 'in',
              partitions: [partition(0, [record('5'), record('6')]), partition(1, []), partition(2, [marker('5')]), partition(3, [])],
            },
          ],
        };
      },
    };
    const cluster = oneBrokerCluster(broker, [0, 1, 2, 3]);
    const group = consumerGroupOver<ConsumerGroup>(cluster);
    // Every partition's committed offset, 5, read from the group coordinator before the first fetch.
    const committed: Record<string, Record<number, string>> = {};
    const coordinator = {
      isConnected: () => true,
      offsetFetch: async ({ topics }: { topics: Array<{ topic: string; partitions: Array<{ partition: number }> }> }) => ({
        responses: topics.map(({ topic, partitions }) => ({ topic, partitions: partitions.map(({ partition }) => ({ partition, offset: '5' })) })),
      }),
    };
    group.offsetManager = new OffsetManager({
      cluster: {
        committedOffsets: () => committed,
        markOffsetAsCommitted: ({ topic, partition, offset }: { topic: string; partition: number; offset: string }) => {
          (committed[topic] ??= {})[partition] = offset;
        },
      },
      coordinator,
      topicConfigurations: { in: { fromBeginning: true } },
      memberAssignment: { in: [0, 1, 2, 3] },
      groupId: 'g',
      generationId: 1,
      memberId: 'm',
    });
    group.subscriptionState.assign([{ topic: 'in', partitions: [0, 1, 2, 3] }]);

    const batches = await group.fetch(1);

    expect(asked.map(({ partition }) => partition)).toEqual([0, 1, 2, 3]);
    // Unpatched: four batches, the two empty ones handled by the fetcher, the workers and the runner.
    expect(batches.map(({ partition }) => partition)).toEqual([0, 2]);
    expect(batches[0]?.messages).toHaveLength(2);
    expect(batches[0]?.fetchedOffset).toBe('5');
    // The marker alone: no record for the handler, but the batch comes so the worker commits past it.
    expect(batches[1]?.isEmptyDueToFiltering()).toBe(true);
  });
});
