import type { Admin } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { applyTopics } from '../../src/topics/cluster.js';

/**
 * Two `topics apply` of the same files at once, over a scripted admin client: the other apply grew
 * the topic first, so the controller refuses this one's count (INVALID_PARTITIONS), and the broker
 * answering metadata shows the new count only a moment later. The broker side is in
 * operator-commands.test.ts ("topics apply, two at once").
 */
function scriptedAdmin(countsSeen: number[]) {
  let reads = 0;
  const admin = {
    listTopics: async () => ['grown'],
    fetchTopicMetadata: async () => {
      const count = countsSeen[Math.min(reads, countsSeen.length - 1)] as number;
      reads++;
      return { topics: [{ name: 'grown', partitions: Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 1, replicas: [1], isr: [1] })) }] };
    },
    describeConfigs: async () => ({ resources: [{ resourceName: 'grown', errorCode: 0, configEntries: [] }] }),
    createPartitions: async () => {
      throw Object.assign(new Error('Number of partitions is invalid'), { type: 'INVALID_PARTITIONS' });
    },
  } as unknown as Admin;
  return { admin, reads: () => reads };
}

const desired = [{ name: 'grown', partitions: 3, configs: {}, origin: 'topics/t.yaml:1' }];

describe('topics apply, when another apply grew a topic first', () => {
  it("counts the other apply's growth as done once the broker's metadata shows it", async () => {
    // Planned against 1 partition; after the refusal the metadata still says 1 twice, then 3.
    const { admin, reads } = scriptedAdmin([1, 1, 1, 3]);
    const result = await applyTopics(admin, desired);
    expect(result.grown).toEqual(['grown']);
    expect(reads()).toBe(4);
  });

  it('fails naming the refusal when the topic never reaches the count the files say', async () => {
    // Someone grew it to 4: not what these files asked for.
    const { admin } = scriptedAdmin([1, 4]);
    await expect(applyTopics(admin, desired)).rejects.toThrow(/add partitions to failed for grown: Number of partitions is invalid/);
  });
});
