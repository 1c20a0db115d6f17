import { describe, expect, it } from 'vitest';
import { createErrorFromCode, createEosManager, silentLogger } from '../support/kafkajs-internals.js';

/**
 * KafkaJS 2.2.4's transactional offset commit (TxnOffsetCommit, in src/producer/eosManager) retries
 * a loading or moved group coordinator only under the protocol's newer error names, but KafkaJS
 * names codes 14-16 GROUP_LOAD_IN_PROGRESS, GROUP_COORDINATOR_NOT_AVAILABLE and
 * NOT_COORDINATOR_FOR_GROUP: the names never matched, and a moved group coordinator aborted the
 * whole transaction. patches/kafkajs+2.2.4+002+txn-offset-commit-coordinator-retry.patch lists both
 * names; these tests fail on the unpatched package.
 */
const GROUP_LOAD_IN_PROGRESS = 14;
const NOT_COORDINATOR_FOR_GROUP = 16;

describe('KafkaJS transactional offset commit (patched)', () => {
  /** A transaction coordinator and group coordinators whose TxnOffsetCommit answers as `answers` scripts. */
  async function sendOffsetsAgainst(answers: Array<number | undefined>) {
    const lookups: string[] = [];
    const commits: string[] = [];
    const groupCoordinator = (name: string) => ({
      txnOffsetCommit: async () => {
        commits.push(name);
        const code = answers.shift();
        if (code !== undefined) throw createErrorFromCode(code);
      },
    });
    const transactionCoordinator = {
      initProducerId: async () => ({ producerId: 7, producerEpoch: 0 }),
      addOffsetsToTxn: async () => {},
    };
    const cluster = {
      retry: {},
      refreshMetadataIfNecessary: async () => {},
      findGroupCoordinator: async ({ coordinatorType }: { coordinatorType: number }) => {
        if (coordinatorType === 1) return transactionCoordinator;
        lookups.push(`group#${lookups.length + 1}`);
        return groupCoordinator(`group#${lookups.length}`);
      },
    };
    const eosManager = createEosManager({ logger: silentLogger(), cluster, transactional: true, transactionalId: 'tx' });
    await eosManager.initProducerId();
    eosManager.beginTransaction();
    await eosManager.sendOffsets({ consumerGroupId: 'g', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '10' }] }] });
    return { lookups, commits };
  }

  it('finds the group coordinator again and retries when the old one answers NOT_COORDINATOR_FOR_GROUP', async () => {
    const { lookups, commits } = await sendOffsetsAgainst([NOT_COORDINATOR_FOR_GROUP]);
    expect(lookups).toEqual(['group#1', 'group#2']);
    expect(commits).toEqual(['group#1', 'group#2']);
  });

  it('retries while the group coordinator answers GROUP_LOAD_IN_PROGRESS', async () => {
    const { commits } = await sendOffsetsAgainst([GROUP_LOAD_IN_PROGRESS, GROUP_LOAD_IN_PROGRESS]);
    expect(commits).toHaveLength(3);
  });
});
