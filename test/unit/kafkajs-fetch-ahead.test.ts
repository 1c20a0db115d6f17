import { describe, expect, it } from 'vitest';
import { kafkajsModule, silentLogger } from '../support/kafkajs-internals.js';

/**
 * KafkaJS 2.2.4's fetcher sends a broker's next fetch only once every batch of the last response
 * has been handled, so each round trip to the broker leaves the worker idle.
 * patches/kafkajs+2.2.4+019+fetch-ahead.patch adds the `prefetch` run option: the next fetch goes
 * out as soon as a response's batches are handed to the workers, from where they end, and a batch
 * fetched ahead is handed over only if it still starts at its partition's next offset. These tests
 * drive the real fetcher and worker queue with a scripted fetch, and the real consumer group's
 * check; they fail on the unpatched package.
 */
interface Batch {
  topic: string;
  partition: number;
  fetchedOffset: string;
  isEmpty(): boolean;
  isEmptyDueToFiltering(): boolean;
  lastOffset(): string;
}
type Positions = Record<string, Record<number, string>> | undefined;
type Fetcher = { start(): Promise<void>; stop(): Promise<void> };

const createFetcher = kafkajsModule<(options: Record<string, unknown>) => Fetcher>('src/consumer/fetcher');
const createWorker = kafkajsModule<(options: { handler: (batch: Batch) => Promise<void>; workerId: number }) => unknown>('src/consumer/worker');
const createWorkerQueue = kafkajsModule<(options: { workers: unknown[] }) => unknown>('src/consumer/workerQueue');
const ConsumerGroup = kafkajsModule<new (options: Record<string, unknown>) => { isCurrentBatch(batch: Batch): boolean; seek(offset: { topic: string; partition: number; offset: string }): void; subscriptionState: { assign(assignment: unknown): void; pause(partitions: unknown): void }; offsetManager: unknown }>('src/consumer/consumerGroup');
const OffsetManager = kafkajsModule<new (options: Record<string, unknown>) => { resolveOffset(offset: { topic: string; partition: number; offset: string }): void }>('src/consumer/offsetManager');

/** A batch of partition 0 of `in` fetched from `from` holding records up to `last`. */
function batch(from: number, last: number): Batch {
  return { topic: 'in', partition: 0, fetchedOffset: String(from), isEmpty: () => false, isEmptyDueToFiltering: () => false, lastOffset: () => String(last) };
}

/** A fetcher over a scripted fetch: each call answers the next response; handling a batch takes `handleMs`. */
function scripted(responses: Batch[][], isCurrent: (batch: Batch) => boolean, handleMs: number) {
  const events: string[] = [];
  const fetches: Positions[] = [];
  const handled: string[] = [];
  const workers = [
    createWorker({
      workerId: 0,
      handler: async (handledBatch) => {
        events.push(`handle ${handledBatch.fetchedOffset}`);
        await new Promise((resolve) => setTimeout(resolve, handleMs));
        handled.push(handledBatch.fetchedOffset);
        events.push(`handled ${handledBatch.fetchedOffset}`);
      },
    }),
  ];
  const fetcher: Fetcher = createFetcher({
    nodeId: 1,
    workerQueue: createWorkerQueue({ workers }),
    partitionAssignments: new Map(),
    logger: silentLogger(),
    prefetch: true,
    isCurrent,
    fetch: async (_nodeId: number, positions: Positions) => {
      fetches.push(positions);
      events.push(`fetch ${positions?.in?.[0] ?? 'next'}`);
      const response = responses.shift();
      if (response === undefined) {
        void fetcher.stop();
        return [];
      }
      return response;
    },
  });
  return { fetcher, events, fetches, handled };
}

describe('KafkaJS fetch ahead (patched)', () => {
  it('sends the next fetch while the batches of the last one are handled, from where they end', async () => {
    const { fetcher, events, fetches, handled } = scripted([[batch(0, 99)], [batch(100, 199)]], () => true, 20);
    await fetcher.start();
    expect(handled).toEqual(['0', '100']);
    expect(fetches[0]).toBeUndefined();
    expect(fetches[1]).toEqual({ in: { 0: '100' } });
    // The fetch ahead went out before the first batch's handling ended.
    expect(events.indexOf('fetch 100')).toBeLessThan(events.indexOf('handled 0'));
  });

  it('drops a batch fetched ahead that no longer starts at its partition’s next offset, and fetches again', async () => {
    // The first batch was rolled back (a seek to 50): the batch fetched ahead from 100 is stale.
    const { fetcher, handled, fetches } = scripted([[batch(0, 99)], [batch(100, 199)], [batch(50, 149)]], (fetched) => fetched.fetchedOffset !== '100', 5);
    await fetcher.start();
    expect(handled).toEqual(['0', '50']);
    // The stale batch's fetch ahead, then an ordinary fetch from the partition's next offset.
    expect(fetches.slice(0, 3)).toEqual([undefined, { in: { 0: '100' } }, undefined]);
  });

  it('takes a batch as current only when assigned, not paused, with no seek waiting, at its next offset', () => {
    const committed = { in: { 0: '0', 1: '0' } };
    const offsetManager = new OffsetManager({ cluster: { committedOffsets: () => committed }, coordinator: {}, memberAssignment: { in: [0, 1] }, groupId: 'g', generationId: 1, memberId: 'm' });
    const group = new ConsumerGroup({ cluster: {}, groupId: 'g', topics: ['in'], topicConfigurations: {}, logger: silentLogger(), instrumentationEmitter: { emit: () => {} }, assigners: [] });
    group.offsetManager = offsetManager;
    group.subscriptionState.assign([{ topic: 'in', partitions: [0, 1] }]);
    offsetManager.resolveOffset({ topic: 'in', partition: 0, offset: '99' });
    expect(group.isCurrentBatch(batch(100, 199))).toBe(true);
    expect(group.isCurrentBatch(batch(50, 199))).toBe(false);
    expect(group.isCurrentBatch({ ...batch(100, 199), partition: 2 })).toBe(false);
    group.seek({ topic: 'in', partition: 0, offset: '100' });
    expect(group.isCurrentBatch(batch(100, 199))).toBe(false);
    offsetManager.resolveOffset({ topic: 'in', partition: 1, offset: '99' });
    group.subscriptionState.pause([{ topic: 'in', partitions: [1] }]);
    expect(group.isCurrentBatch({ ...batch(100, 199), partition: 1 })).toBe(false);
  });
});
