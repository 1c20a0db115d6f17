import { describe, expect, it } from 'vitest';
import { pino } from 'pino';
import { DEFAULT_SETTINGS } from '../../src/config/schema.js';
import { type CommittedEntry, GroupProgress } from '../../src/kafka/group-progress.js';
import { partitionOfKey } from '../../src/kafka/key-partition.js';
import { TopicCatalog } from '../../src/kafka/topic-catalog.js';
import { resolvePipeline } from '../../src/pipeline/definition.js';
import { defineHandler } from '../../src/pipeline/records.js';
import { decodeHolds, HELD_KEYS_PER_PARTITION, HOLDS_METADATA_PREFIX, keyHashOf, KeyHolds } from '../../src/worker/key-holds.js';
import { RetryHolds } from '../../src/worker/retry-holds.js';

const key = (text: string) => Buffer.from(text);

describe('KeyHolds', () => {
  it('holds a key from its failed record on, and records behind it move its last offset', () => {
    const holds = new KeyHolds();
    expect(holds.heldFor(key('a'))).toBeUndefined();
    expect(holds.hold(key('a'), 2, 10n)).toBe(true);
    expect(holds.heldFor(key('a'))).toMatchObject({ partition: 2, from: 10n, last: 10n });
    expect(holds.heldFor(key('b'))).toBeUndefined();
    expect(holds.heldFor(null)).toBeUndefined();
    holds.hold(key('a'), 2, 14n);
    expect(holds.heldFor(key('a'))).toMatchObject({ from: 10n, last: 14n, version: 1 });
  });

  it('commits only the holds begun below the unit it goes with, and reads back what it wrote', () => {
    const holds = new KeyHolds();
    holds.hold(key('a'), 0, 5n);
    holds.hold(key('b'), 1, 25n);
    expect(decodeHolds(holds.metadataBefore(20n))).toEqual([{ keyHash: keyHashOf(key('a')), partition: 0, last: 5n }]);
    const both = holds.metadataBefore(30n);
    expect(both.startsWith(HOLDS_METADATA_PREFIX)).toBe(true);
    const restored = new KeyHolds();
    restored.restore(both);
    expect(restored.heldFor(key('b'))).toMatchObject({ partition: 1, last: 25n, from: -1n });
    expect(restored.size).toBe(2);
    expect(new KeyHolds().metadataBefore(100n)).toBe('');
  });

  it('restores nothing from metadata that is not its own, and ignores malformed entries', () => {
    const holds = new KeyHolds();
    holds.restore('someone else wrote this');
    expect(holds.size).toBe(0);
    holds.restore(`${HOLDS_METADATA_PREFIX}zzzz.1.2,0000abcd.1.7`);
    expect(holds.size).toBe(1);
    holds.restore(null);
    expect(holds.size).toBe(0);
  });

  it('refuses a new key when full (the record then waits in place) but still takes records of held keys', () => {
    const holds = new KeyHolds(2);
    expect(holds.hold(key('a'), 0, 1n)).toBe(true);
    expect(holds.hold(key('b'), 0, 2n)).toBe(true);
    expect(holds.hold(key('c'), 0, 3n)).toBe(false);
    expect(holds.hold(key('a'), 0, 4n)).toBe(true);
  });

  it('fits the largest table in the 4,096 bytes brokers allow for offset metadata by default', () => {
    const holds = new KeyHolds();
    for (let i = 0; i < HELD_KEYS_PER_PARTITION; i++) holds.hold(key(`key-${i}`), 999_999, 9_223_372_036_854_775_000n + BigInt(i));
    expect(Buffer.byteLength(holds.metadataBefore(9_223_372_036_854_775_807n))).toBeLessThanOrEqual(4096);
  });

  it('ignores decisions of an epoch a restore ended, and a release after a record was sent behind the hold', () => {
    const holds = new KeyHolds();
    const epoch = holds.epoch;
    holds.restore('');
    holds.hold(key('a'), 0, 1n, epoch);
    expect(holds.size).toBe(0);
    holds.hold(key('a'), 0, 1n);
    const hold = holds.heldFor(key('a'));
    if (!hold) throw new Error('held');
    const version = hold.version;
    holds.hold(key('a'), 0, 2n);
    expect(holds.release(hold, version)).toBe(false);
    expect(holds.release(hold, hold.version)).toBe(true);
    expect(holds.size).toBe(0);
  });
});

describe('RetryHolds', () => {
  const handler = defineHandler({ handle: async () => null });
  const pipeline = resolvePipeline(
    { name: 'p', input: 'in', output: 'out', handler, errors: { onError: 'retry', attempts: 2, keyOrderOnRetry: 'hold' } },
    { commit: DEFAULT_SETTINGS.commit },
  );

  /** A tier `in.retry.1` of 3 partitions whose committed offsets and ends the test sets. */
  function holdsOver(tier: { committed: Map<number, CommittedEntry>; ends: Map<number, string> }) {
    const admin = {
      fetchOffsets: async () => [{ topic: 'in.retry.1', partitions: [...tier.committed].map(([partition, entry]) => ({ partition, offset: entry.offset ?? '-1', metadata: entry.metadata })) }],
      fetchTopicOffsets: async () => [...tier.ends].map(([partition, high]) => ({ partition, offset: high, high, low: '0' })),
    };
    const catalog = new TopicCatalog(
      {
        fetchTopicMetadata: async (request?: { topics?: string[] }) => ({
          topics: (request?.topics ?? []).map((name) => ({ name, partitions: [0, 1, 2].map((partitionId) => ({ partitionId, leader: 1, replicas: [1], isr: [1], offlineReplicas: [], partitionErrorCode: 0 })) })),
        }),
        describeConfigs: async () => ({ resources: [], throttleTime: 0 }),
      },
      pino({ level: 'silent' }),
    );
    const holds = new RetryHolds({ pipeline, input: 'in', tier: 0, catalog, progress: new GroupProgress(admin, 'g', 0), logger: pino({ level: 'silent' }), checkIntervalMs: 1000 });
    return { holds, catalog };
  }

  it('applies where a failure goes on to a next tier: the input and every tier but the last', () => {
    expect(RetryHolds.appliesTo(pipeline, 0)).toBe(true);
    expect(RetryHolds.appliesTo(pipeline, 1)).toBe(true);
    expect(RetryHolds.appliesTo(pipeline, 2)).toBe(false);
  });

  it('ends a hold only once its copies are committed here, the tier committed past its end, and the tier holds the key no more', async () => {
    const tier = { committed: new Map<number, CommittedEntry>(), ends: new Map([[0, '0'], [1, '0'], [2, '0']]) };
    const { holds, catalog } = holdsOver(tier);
    await catalog.load(['in.retry.1']);
    const target = holds.targetFor(key('k'));
    expect(target).toEqual({ topic: 'in.retry.1', partition: partitionOfKey('in.retry.1', key('k'), 3) });
    holds.restore('0', null);
    holds.holds.hold(key('k'), target.partition, 4n);
    // The copy of offset 4 is not committed yet: nothing is read, nothing ends.
    expect(await holds.check()).toBe(0);
    holds.committed('5');
    tier.ends.set(target.partition, '8');
    expect(await holds.check()).toBe(0);
    expect(holds.holds.heldFor(key('k'))?.through).toBe(8n);
    // The tier is not past 8 yet.
    tier.committed.set(target.partition, { offset: '7', metadata: null });
    expect(await holds.check()).toBe(0);
    // Past it, but the tier itself holds the key (its record went on to the next tier).
    tier.committed.set(target.partition, { offset: '9', metadata: `${HOLDS_METADATA_PREFIX}${keyHashOf(key('k'))}.0.8` });
    expect(await holds.check()).toBe(0);
    tier.committed.set(target.partition, { offset: '9', metadata: '' });
    expect(await holds.check()).toBe(1);
    expect(holds.holds.heldFor(key('k'))).toBeUndefined();
  });
});
