import { describe, expect, it } from 'vitest';
import { consumerGroupOver, kafkajsModule } from '../support/kafkajs-internals.js';

/**
 * The worker learns its group generation from the consumer's GROUP_JOIN event and sends it with
 * every transactional offset commit (KIP-447), so the group coordinator can refuse a zombie's
 * offsets. KafkaJS 2.2.4 keeps the generation inside its consumer group and leaves it out of the
 * event: the worker would send `undefined` and lose the fencing.
 * patches/kafkajs+2.2.4+006+kip447-group-join-generation-id.patch adds it; this test fails on the
 * unpatched package.
 */
interface ConsumerGroup {
  joinAndSync(): Promise<void>;
}
const InstrumentationEventEmitter = kafkajsModule<
  new () => {
    addListener(eventName: string, listener: (event: { payload: Record<string, unknown> }) => void): () => void;
  }
>('src/instrumentation/emitter');
const { events } = kafkajsModule<{ events: { GROUP_JOIN: string } }>('src/consumer/instrumentationEvents');
const { MemberAssignment } = kafkajsModule<{
  MemberAssignment: { encode(assignment: { version: number; assignment: Record<string, number[]> }): Buffer };
}>('src/consumer/assignerProtocol');

/** A group coordinator that answers one JoinGroup (generation 7, another member leads) and one SyncGroup. */
function joinOnce() {
  const coordinator = {
    joinGroup: async () => ({ generationId: 7, leaderId: 'leader', memberId: 'member-a', members: [], groupProtocol: 'RoundRobinAssigner' }),
    syncGroup: async () => ({ memberAssignment: MemberAssignment.encode({ version: 0, assignment: { in: [0, 1] } }) }),
  };
  const committed: Record<string, unknown> = {};
  const cluster = {
    findGroupCoordinator: async () => coordinator,
    findTopicPartitionMetadata: () => [{ partitionId: 0 }, { partitionId: 1 }],
    committedOffsets: () => committed,
  };
  const instrumentationEmitter = new InstrumentationEventEmitter();
  const group = consumerGroupOver<ConsumerGroup>(cluster, instrumentationEmitter);
  return { group, instrumentationEmitter };
}

describe('KafkaJS GROUP_JOIN event (patched)', () => {
  it('carries the generation the member joined', async () => {
    const { group, instrumentationEmitter } = joinOnce();
    const payloads: Array<Record<string, unknown>> = [];
    instrumentationEmitter.addListener(events.GROUP_JOIN, ({ payload }) => payloads.push(payload));
    await group.joinAndSync();
    expect(payloads).toHaveLength(1);
    expect(payloads[0]).toMatchObject({ groupId: 'g', memberId: 'member-a', generationId: 7, isLeader: false });
  });
});
