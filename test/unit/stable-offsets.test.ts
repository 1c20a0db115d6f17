import type { Admin } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { StableOffsetReader } from '../../src/kafka/stable-offsets.js';

/** What the patched admin answers for a partition a pending transaction holds. */
const UNSTABLE = 'unstable';

function scriptedAdmin(answers: Array<Error | Record<number, string>>) {
  const requests: unknown[] = [];
  const admin: Pick<Admin, 'fetchOffsets'> = {
    fetchOffsets: (async (request: { topics: string[]; requireStable?: boolean }) => {
      requests.push(request);
      const answer = answers.shift() ?? {};
      if (answer instanceof Error) throw answer;
      return [
        {
          topic: request.topics[0],
          partitions: Object.entries(answer).map(([partition, offset]) =>
            offset === UNSTABLE ? { partition: Number(partition), offset: '-1', metadata: null, unstable: true } : { partition: Number(partition), offset, metadata: null },
          ),
        },
      ];
    }) as unknown as Admin['fetchOffsets'],
  };
  return { admin, requests };
}

describe('StableOffsetReader', () => {
  it('asks once per topic for the partitions opened together, with require_stable', async () => {
    const { admin, requests } = scriptedAdmin([{ 0: '5', 1: '-1', 2: '9' }]);
    const reader = new StableOffsetReader(admin, 'g', { timeoutMs: 1000 });
    const offsets = await Promise.all([0, 1, 2].map((partition) => reader.read({ topic: 'in', partition })));
    expect(offsets).toEqual(['5', null, '9']);
    expect(requests).toEqual([{ groupId: 'g', topics: ['in'], requireStable: true }]);
  });

  it('waits while a pending transaction holds the offsets, then returns the stable one', async () => {
    const { admin, requests } = scriptedAdmin([{ 0: UNSTABLE }, { 0: UNSTABLE }, { 0: '60' }]);
    const reader = new StableOffsetReader(admin, 'g', { timeoutMs: 1000, retryMs: 5 });
    expect(await reader.read({ topic: 'in', partition: 0 })).toBe('60');
    expect(requests).toHaveLength(3);
  });

  it('does not wait for other partitions of the topic (its own transaction holds theirs every commit interval)', async () => {
    const { admin, requests } = scriptedAdmin([{ 0: '5', 1: UNSTABLE, 2: UNSTABLE }]);
    const reader = new StableOffsetReader(admin, 'g', { timeoutMs: 1000, retryMs: 5 });
    expect(await reader.read({ topic: 'in', partition: 0 })).toBe('5');
    expect(requests).toHaveLength(1);
  });

  it('fails with the group, topic and partition when the offsets stay unstable past the timeout', async () => {
    const { admin } = scriptedAdmin(Array.from({ length: 100 }, () => ({ 0: UNSTABLE })));
    const reader = new StableOffsetReader(admin, 'g', { timeoutMs: 30, retryMs: 5 });
    await expect(reader.read({ topic: 'in', partition: 0 })).rejects.toThrow('group g: the committed offsets of in partition(s) 0 stayed unstable for 30 ms');
  });

  it('passes other errors through at once', async () => {
    const denied = Object.assign(new Error('Not authorized to access group'), { type: 'GROUP_AUTHORIZATION_FAILED' });
    const { admin, requests } = scriptedAdmin([denied]);
    await expect(new StableOffsetReader(admin, 'g', { timeoutMs: 1000 }).read({ topic: 'in', partition: 0 })).rejects.toBe(denied);
    expect(requests).toHaveLength(1);
  });
});
