import { describe, expect, it } from 'vitest';
import { createErrorFromCode, kafkajsModule, silentLogger } from '../support/kafkajs-internals.js';

/**
 * KafkaJS 2.2.4's `admin.fetchOffsets` sends one OffsetFetch to the group coordinator and gives up on
 * any error, the ones that say "ask again" included: a broker that has just started (or taken over
 * the group) answers NOT_COORDINATOR_FOR_GROUP or GROUP_LOAD_IN_PROGRESS while it loads
 * __consumer_offsets, and `txstream dlt replay` failed with "This is not the correct coordinator for
 * this group" before it copied anything (CI, operator-commands.test.ts). The same read serves the
 * worker's stable offsets, `txstream status` and the audit.
 * patches/kafkajs+2.2.4+030+offset-fetch-coordinator-retry.patch looks the coordinator up again and
 * retries those errors; these tests fail on the unpatched package.
 */
const GROUP_LOAD_IN_PROGRESS = 14;
const NOT_COORDINATOR_FOR_GROUP = 16;
const UNKNOWN_TOPIC_OR_PARTITION = 3;

interface FetchOffsetsAdmin {
  fetchOffsets(request: { groupId: string; topics: string[]; requireStable?: boolean }): Promise<Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }>>;
}

const createAdmin = kafkajsModule<(options: Record<string, unknown>) => FetchOffsetsAdmin>('src/admin');

/** An admin over coordinators whose OffsetFetch answers as `answers` scripts (an error code, or undefined for offset 42). */
function adminAgainst(answers: Array<number | undefined>) {
  const lookups: string[] = [];
  const asked: string[] = [];
  const coordinator = (name: string) => ({
    offsetFetch: async ({ topics }: { topics: Array<{ topic: string; partitions: Array<{ partition: number }> }> }) => {
      asked.push(name);
      const code = answers.shift();
      if (code !== undefined) throw createErrorFromCode(code);
      return { responses: topics.map(({ topic, partitions }) => ({ topic, partitions: partitions.map(({ partition }) => ({ partition, offset: '42', metadata: null, errorCode: 0 })) })) };
    },
  });
  const cluster = {
    addTargetTopic: async () => {},
    refreshMetadataIfNecessary: async () => {},
    findTopicPartitionMetadata: () => [{ partitionId: 0 }, { partitionId: 1 }],
    findGroupCoordinator: async () => {
      lookups.push(`coordinator#${lookups.length + 1}`);
      return coordinator(`coordinator#${lookups.length}`);
    },
  };
  const admin = createAdmin({ logger: silentLogger(), cluster, retry: { retries: 5, initialRetryTime: 1, maxRetryTime: 5, factor: 0, multiplier: 1 } });
  return { admin, lookups, asked };
}

describe('KafkaJS admin.fetchOffsets (patched)', () => {
  it.each([
    ['NOT_COORDINATOR_FOR_GROUP', NOT_COORDINATOR_FOR_GROUP],
    ['GROUP_LOAD_IN_PROGRESS', GROUP_LOAD_IN_PROGRESS],
  ])('asks a coordinator looked up again after %s', async (_name, code) => {
    const { admin, lookups, asked } = adminAgainst([code, code]);
    const offsets = await admin.fetchOffsets({ groupId: 'g', topics: ['in'], requireStable: true });
    expect(offsets).toEqual([{ topic: 'in', partitions: [expect.objectContaining({ partition: 0, offset: '42' }), expect.objectContaining({ partition: 1, offset: '42' })] }]);
    expect(asked).toEqual(['coordinator#1', 'coordinator#2', 'coordinator#3']);
    expect(lookups).toHaveLength(3);
  });

  it('fails at once on an error that asking again cannot mend', async () => {
    const { admin, asked } = adminAgainst([UNKNOWN_TOPIC_OR_PARTITION]);
    await expect(admin.fetchOffsets({ groupId: 'g', topics: ['in'] })).rejects.toMatchObject({ type: 'UNKNOWN_TOPIC_OR_PARTITION' });
    expect(asked).toEqual(['coordinator#1']);
  });

  it('gives up once its retries are spent, with the coordinator error', async () => {
    const { admin, asked } = adminAgainst(Array.from({ length: 10 }, () => NOT_COORDINATOR_FOR_GROUP));
    await expect(admin.fetchOffsets({ groupId: 'g', topics: ['in'] })).rejects.toThrow(/not the correct coordinator/);
    expect(asked).toHaveLength(6);
  });
});
