import { describe, expect, inject, it } from 'vitest';
import { transactionalIdFor } from '../../src/commit/index.js';
import { transactionalStrategy } from '../../src/commit/transactional.js';
import { createLogger } from '../../src/observability/logger.js';
import { committedOffsets, createTopics, kafkaClient, readTopics, uniqueName } from '../support/kafka.js';

const brokers = inject('kafkaBrokers');

describe('opening a partition for the transactional strategy', () => {
  it('fences the previous owner before it returns, so its open transaction can no longer commit', async () => {
    const topic = uniqueName('fence-in');
    const output = uniqueName('fence-out');
    await createTopics(brokers, [{ topic }, { topic: output }]);
    const groupId = uniqueName('fence-group');
    const kafka = kafkaClient(brokers);

    // The previous owner: an open transaction with an output and an offset commit.
    const zombie = kafka.producer({ transactionalId: transactionalIdFor(groupId, { topic, partition: 0 }), idempotent: true, maxInFlightRequests: 1 });
    await zombie.connect();
    const late = await zombie.transaction();
    await late.send({ topic: output, messages: [{ value: 'from the zombie' }] });
    await late.sendOffsets({ consumerGroupId: groupId, topics: [{ topic, partitions: [{ partition: 0, offset: '10' }] }] });

    const strategy = transactionalStrategy({ kafka, groupId, transactionTimeoutMs: 30_000, commitOffsets: async () => {}, logger: createLogger({ level: 'silent' }) });
    const owner = strategy.forPartition({ topic, partition: 0 });
    await owner.open();

    await expect(late.commit()).rejects.toThrow(/old epoch|fenced/i);
    // Nothing of the zombie's transaction became visible, and the offset did not move.
    expect(await readTopics(brokers, [output], { readCommitted: true, quietMs: 500, timeoutMs: 500 })).toHaveLength(0);
    expect((await committedOffsets(brokers, groupId, topic)).get(0)).toBe('-1');
    await Promise.allSettled([owner.close(), zombie.disconnect()]);
  });
});
