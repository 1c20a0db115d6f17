import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * KafkaJS 2.2.4 resolves a batch whose every record was filtered out (an aborted transaction's
 * records, a commit or abort marker alone) inside its runner and never calls eachBatch. A
 * consumer with autoCommit off, which commits offsets in its own transaction, then keeps its
 * committed offset behind those records forever: the partition shows lag nobody can consume.
 * patches/kafkajs+2.2.4+009+each-batch-filtered.patch adds `eachBatchFiltered`, which hands such a
 * batch to eachBatch; the first test fails on the unpatched package.
 */
const require = createRequire(import.meta.url);
const KAFKAJS = process.env.TXSTREAM_TEST_KAFKAJS ?? 'kafkajs';

interface KafkaBatch {
  readonly messages: unknown[];
  firstOffset(): string | null;
  lastOffset(): string;
}
const Batch = require(`${KAFKAJS}/src/consumer/batch`) as new (topic: string, fetchedOffset: string, partitionData: Record<string, unknown>) => KafkaBatch;
const Runner = require(`${KAFKAJS}/src/consumer/runner`) as new (options: Record<string, unknown>) => {
  running: boolean;
  handleBatch(batch: KafkaBatch): Promise<void>;
};
const { createLogger, LEVELS } = require(`${KAFKAJS}/src/loggers`) as {
  createLogger: (options: Record<string, unknown>) => unknown;
  LEVELS: Record<string, number>;
};

const inTransaction = { producerId: '7', inTransaction: true };
/** Offsets 10-11: producer 7's records, aborted; 12: its abort marker. */
const abortedOnly = () =>
  new Batch('retry', '10', {
    partition: 0,
    highWatermark: '13',
    abortedTransactions: [{ producerId: '7', firstOffset: '10' }],
    messages: [
      { offset: '10', key: Buffer.from('a'), value: Buffer.from('x'), batchContext: inTransaction },
      { offset: '11', key: Buffer.from('b'), value: Buffer.from('y'), batchContext: inTransaction },
      { offset: '12', key: Buffer.from([0, 0, 0, 0]), value: null, isControlRecord: true, batchContext: inTransaction },
    ],
  });

function runner(eachBatchFiltered: boolean, seen: KafkaBatch[]) {
  const resolved: string[] = [];
  const instance = new Runner({
    logger: createLogger({ level: LEVELS.NOTHING, logCreator: () => () => {} }),
    consumerGroup: {
      groupId: 'g',
      memberId: 'm',
      resolveOffset: ({ offset }: { offset: string }) => resolved.push(offset),
      commitOffsetsIfNecessary: async () => {},
      heartbeat: async () => {},
      hasSeekOffset: () => false,
    },
    instrumentationEmitter: new EventEmitter(),
    concurrency: 1,
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async ({ batch }: { batch: KafkaBatch }) => {
      seen.push(batch);
    },
    eachBatchFiltered,
    onCrash: () => {},
  });
  instance.running = true;
  return { instance, resolved };
}

describe('KafkaJS batches filtered to nothing (patched)', () => {
  it('reach eachBatch with eachBatchFiltered, empty, with the last offset they filtered out', async () => {
    const seen: KafkaBatch[] = [];
    const { instance, resolved } = runner(true, seen);
    await instance.handleBatch(abortedOnly());
    expect(seen).toHaveLength(1);
    expect(seen[0]?.messages).toEqual([]);
    expect(seen[0]?.firstOffset()).toBe('10');
    expect(seen[0]?.lastOffset()).toBe('12');
    // KafkaJS still moves its own fetch position past them.
    expect(resolved).toEqual(['12']);
  });

  it('do not reach eachBatch without it (KafkaJS behaviour kept)', async () => {
    const seen: KafkaBatch[] = [];
    const { instance, resolved } = runner(false, seen);
    await instance.handleBatch(abortedOnly());
    expect(seen).toEqual([]);
    expect(resolved).toEqual(['12']);
  });
});
