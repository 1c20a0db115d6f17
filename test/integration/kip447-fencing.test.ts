import { afterEach, describe, expect, inject, it } from 'vitest';
import type { CommitListener, CommitResult, GroupMembership } from '../../src/commit/index.js';
import { transactionalIdFor } from '../../src/commit/index.js';
import { transactionalStrategy } from '../../src/commit/transactional.js';
import { createWorker, definePipeline, defineHandler, LINEAGE_HEADER, type Worker } from '../../src/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { capturedLogger } from '../support/captured-logger.js';
import { caughtUp, committedOffsets, createPipelineTopics, createTopics, kafkaClient, produceNumbered, uniqueName } from '../support/kafka.js';
import { readWithKcat } from '../support/kcat.js';
import { sleep, waitFor } from '../support/wait.js';

const brokers = inject('kafkaBrokers');
const cleanup: Array<() => Promise<unknown>> = [];

afterEach(async () => {
  await Promise.allSettled(cleanup.splice(0).map((close) => close()));
});

/** Records what a partition hears from the shared transaction. */
class Heard implements CommitListener {
  readonly commits: CommitResult[] = [];
  readonly rollbacks: unknown[] = [];
  committed(result: CommitResult): void {
    this.commits.push(result);
  }
  rolledBack(error: unknown): void {
    this.rollbacks.push(error);
  }
  commitDue(): void {}
}

function strategyFor(groupId: string, instanceId: string, membership: () => GroupMembership | undefined) {
  return transactionalStrategy({
    kafka: kafkaClient(brokers),
    groupId,
    transactionalId: transactionalIdFor(groupId, instanceId),
    transactionTimeoutMs: 10_000,
    concurrentTransactionsTimeoutMs: 10_000,
    // Long enough that only the test's own commit() ends a transaction.
    commitIntervalMs: 60_000,
    membership,
    onTransactionEnded: () => {},
    onOffsetsCommitted: () => {},
    commitOffsets: async () => {},
    readCommittedOffset: async () => null,
    signal: new AbortController().signal,
    logger: createLogger({ level: 'silent' }),
  });
}

/** A group member whose generation and member id the test reads (the patched GROUP_JOIN carries the generation). */
async function joinGroup(groupId: string, topic: string): Promise<{ membership: () => GroupMembership | undefined; leave: () => Promise<void> }> {
  const consumer = kafkaClient(brokers).consumer({ groupId, sessionTimeout: 10_000, heartbeatInterval: 500 });
  let membership: GroupMembership | undefined;
  consumer.on(consumer.events.GROUP_JOIN, ({ payload }) => {
    membership = { generationId: payload.generationId, memberId: payload.memberId, groupInstanceId: null };
  });
  await consumer.connect();
  await consumer.subscribe({ topics: [topic], fromBeginning: true });
  await consumer.run({ autoCommit: false, eachBatch: async () => {} });
  await waitFor(async () => membership !== undefined, `${groupId} joined`, 30_000, 100);
  const leave = () => consumer.disconnect();
  cleanup.push(leave);
  return { membership: () => membership, leave };
}

describe('exactly-once v2: zombies are fenced by the group generation (KIP-447)', () => {
  it("refuses the offsets of a member whose generation is over: its transaction aborts, its outputs never become visible", async () => {
    const input = uniqueName('kip447-in');
    const output = uniqueName('kip447-out');
    await createTopics(brokers, [{ topic: input }, { topic: output }]);
    const groupId = uniqueName('kip447-group');

    const first = await joinGroup(groupId, input);
    const stale = first.membership() as GroupMembership;
    // A second member joins and the first leaves: the group moves on to a generation without it.
    const second = await joinGroup(groupId, input);
    await first.leave();
    await waitFor(async () => (second.membership()?.generationId ?? 0) > stale.generationId + 1, 'the group moved on', 30_000, 100);

    const zombie = strategyFor(groupId, 'zombie', () => stale);
    cleanup.push(() => zombie.close());
    const heard = new Heard();
    const partition = zombie.forPartition({ topic: input, partition: 0 }, heard);
    await partition.open();
    await partition.write({ outputs: [{ topic: output, messages: [{ value: 'from the zombie' }] }], nextOffset: '10', records: 10 });
    await partition.commit();

    expect(heard.commits).toHaveLength(0);
    expect(heard.rollbacks).toHaveLength(1);
    expect(heard.rollbacks[0]).toMatchObject({ name: 'GenerationFencedError', generationId: stale.generationId });
    expect(String((heard.rollbacks[0] as Error).cause && ((heard.rollbacks[0] as Error).cause as { type?: string }).type)).toMatch(/UNKNOWN_MEMBER_ID|ILLEGAL_GENERATION/);
    expect((await committedOffsets(brokers, groupId, input)).get(0)).toBe('-1');

    // The member of the current generation commits the same thing: the refusal was about the generation.
    const owner = strategyFor(groupId, 'owner', second.membership);
    cleanup.push(() => owner.close());
    const ownerHeard = new Heard();
    const owned = owner.forPartition({ topic: input, partition: 0 }, ownerHeard);
    await owned.open();
    await owned.write({ outputs: [{ topic: output, messages: [{ value: 'from the owner' }] }], nextOffset: '10', records: 10 });
    await owned.commit();
    expect(ownerHeard.commits.map((commit) => commit.nextOffset)).toEqual(['10']);

    // An independent reader (librdkafka) sees only the owner's record.
    const visible = await readWithKcat(brokers, [output], { until: (records) => records.length >= 1 });
    expect(visible.map((record) => record.value)).toEqual(['from the owner']);
    expect((await committedOffsets(brokers, groupId, input)).get(0)).toBe('10');
  });

  it("a worker restarted under the same instance id aborts its predecessor's open transaction when it opens", async () => {
    const input = uniqueName('restart-in');
    const output = uniqueName('restart-out');
    await createTopics(brokers, [{ topic: input }, { topic: output }]);
    const groupId = uniqueName('restart-group');

    // The predecessor: an open transaction with an output and an offset commit.
    const predecessor = kafkaClient(brokers).producer({ transactionalId: transactionalIdFor(groupId, 'w1'), idempotent: true, maxInFlightRequests: 1 });
    await predecessor.connect();
    cleanup.push(() => predecessor.disconnect());
    const late = await predecessor.transaction();
    await late.send({ topic: output, messages: [{ value: 'from the predecessor' }] });
    await late.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: input, partitions: [{ partition: 0, offset: '10' }] }] });

    const restarted = strategyFor(groupId, 'w1', () => undefined);
    cleanup.push(() => restarted.close());
    await restarted.forPartition({ topic: input, partition: 0 }, new Heard()).open();

    await expect(late.commit()).rejects.toThrow(/old epoch|fenced/i);
    expect(await readWithKcat(brokers, [output], { timeoutMs: 10_000 })).toHaveLength(0);
    expect((await committedOffsets(brokers, groupId, input)).get(0)).toBe('-1');
  });

  it('a new owner waits for a pending transactional offset commit, then starts where it commits', async () => {
    const { input, output } = await createPipelineTopics(brokers, 'stable', 1);
    await produceNumbered(brokers, input, 100);
    const groupPrefix = uniqueName('stable');
    const groupId = `${groupPrefix}.echo`;

    // Another producer holds offset 60 of the group in a transaction that has not ended.
    const holder = kafkaClient(brokers).producer({ transactionalId: uniqueName('holder'), idempotent: true, maxInFlightRequests: 1 });
    await holder.connect();
    cleanup.push(() => holder.disconnect());
    const pending = await holder.transaction();
    await pending.sendOffsets({ consumerGroupId: groupId, topics: [{ topic: input, partitions: [{ partition: 0, offset: '60' }] }] });

    const worker: Worker = createWorker({
      brokers,
      groupId: groupPrefix,
      instanceId: 'new-owner',
      logger: capturedLogger(),
      sessionTimeoutMs: 10_000,
      heartbeatIntervalMs: 1000,
      commit: { transactionTimeoutMs: 20_000 },
      pipelines: [definePipeline({ name: 'echo', input, output, handler: defineHandler({ handle: (record) => ({ value: record.value }) }) })],
    });
    cleanup.push(() => worker.stop(10_000));
    await worker.start();
    await waitFor(async () => worker.pipelineStats('echo')?.rebalances === 1, 'the worker joined', 30_000, 100);
    await sleep(3000);
    // Without require_stable it would have started from the beginning by now.
    expect(worker.stats().recordsIn).toBe(0);
    expect(worker.notReadyReason()).toMatch(/not open/);

    await pending.commit();
    await waitFor(() => caughtUp(brokers, groupId, input), 'the worker caught up', 60_000, 250);
    const outputs = await readWithKcat(brokers, [output], { until: (records) => records.length >= 40 });
    const offsets = outputs.map((record) => Number(record.headers[LINEAGE_HEADER]?.split('/').at(-1))).sort((a, b) => a - b);
    expect(offsets).toEqual(Array.from({ length: 40 }, (_, index) => 60 + index));
  });
});
