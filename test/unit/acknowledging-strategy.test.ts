import type { Kafka, TopicPartitionOffset } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { batchStrategy } from '../../src/commit/acknowledging.js';
import type { CommitListener, CommitResult, CommitUnit, StrategyContext } from '../../src/commit/strategy.js';

/** A KafkaJS stand-in whose sends wait until released, recording each request's topics and the offset commits. */
function gatedContext() {
  const sent: string[][] = [];
  const committed: string[][] = [];
  const gates: Array<() => void> = [];
  const kafka = {
    producer: () => ({
      connect: async () => {},
      disconnect: async () => {},
      sendBatch: async ({ topicMessages }: { topicMessages: Array<{ topic: string }> }) => {
        sent.push(topicMessages.map(({ topic }) => topic));
        await new Promise<void>((resolve) => gates.push(resolve));
      },
    }),
  } as unknown as Kafka;
  const context = {
    kafka,
    commitOffsets: async (offsets: TopicPartitionOffset[]) => {
      committed.push(offsets.map(({ partition, offset }) => `${partition}@${offset}`));
      await new Promise((resolve) => setImmediate(resolve));
    },
    onOffsetsCommitted: () => {},
    readCommittedOffset: async () => null,
  } as unknown as StrategyContext;
  const release = async () => {
    while (gates.length === 0) await new Promise((resolve) => setImmediate(resolve));
    gates.shift()?.();
  };
  return { context, sent, committed, release };
}

const listener = (results: CommitResult[]): CommitListener => ({ committed: (result) => void results.push(result), rolledBack: () => {}, commitDue: () => {} });
const unit = (topic: string, nextOffset: string): CommitUnit => ({ outputs: [{ topic, messages: [{ value: 'v' }] }], nextOffset, records: 1 });

describe('the at-least-once batch strategy', () => {
  it('lets a partition handle its next unit while a write is on its way (one write ahead)', () => {
    const { context } = gatedContext();
    expect(batchStrategy(context).forPartition({ topic: 'in', partition: 0 }, listener([])).writesAhead).toBe(1);
  });

  it('writes the units of the partitions that wait while one is on its way in one request, and shares offset commits the same way', async () => {
    const { context, sent, committed, release } = gatedContext();
    const strategy = batchStrategy(context);
    const results: CommitResult[] = [];
    const [p0, p1, p2, p3] = [0, 1, 2, 3].map((partition) => strategy.forPartition({ topic: 'in', partition }, listener(results)));
    const first = p0!.write(unit('out-0', '10'));
    const waiting = [p1!.write(unit('out-1', '20')), p2!.write(unit('out-2', '30')), p3!.write(unit('out-3', '40'))];
    await release();
    await first;
    await release();
    await Promise.all(waiting);
    expect(sent).toEqual([['out-0'], ['out-1', 'out-2', 'out-3']]);
    // Each commit goes as soon as none is on its way: the first of a burst alone, the rest together.
    expect(committed).toEqual([['0@10'], ['1@20'], ['2@30', '3@40']]);
    expect(results.map(({ nextOffset }) => nextOffset)).toEqual(['10', '20', '30', '40']);
  });
});
