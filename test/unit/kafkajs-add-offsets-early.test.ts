import { describe, expect, it } from 'vitest';
import { createErrorFromCode, createEosManager, type EosManager, oneBrokerCluster, silentLogger } from '../support/kafkajs-internals.js';

/**
 * KafkaJS 2.2.4's sendOffsets sent AddOffsetsToTxn and then TxnOffsetCommit, both in the commit,
 * where no output can be written. patches/kafkajs+2.2.4+031+add-offsets-early.patch lets a producer
 * add its group's offsets partition earlier (`transaction.addOffsets`, the eosManager's
 * addOffsetsToTransaction): sendOffsets then sends only TxnOffsetCommit. These tests drive the real
 * eosManager over a scripted broker; on the unpatched package addOffsetsToTransaction does not exist.
 */
const GROUP = 'g';
const COORDINATOR_NOT_AVAILABLE = 15;

interface EarlyOffsets extends EosManager {
  addOffsetsToTransaction(request: { consumerGroupId: string }): Promise<void>;
  abort(): Promise<void>;
}

/** A broker that records every request; `failAddOffsets` fails the next AddOffsetsToTxn, `holdAddOffsets` holds its answer until released. */
function scriptedBroker() {
  const requests: string[] = [];
  let failAddOffsets = false;
  let held: Promise<void> | undefined;
  let release = () => {};
  const broker = {
    nodeId: 1,
    initProducerId: async () => {
      requests.push('InitProducerId');
      return { producerId: 7, producerEpoch: 0 };
    },
    addPartitionsToTxn: async () => void requests.push('AddPartitionsToTxn'),
    addOffsetsToTxn: async () => {
      requests.push('AddOffsetsToTxn');
      if (failAddOffsets) {
        failAddOffsets = false;
        throw createErrorFromCode(COORDINATOR_NOT_AVAILABLE);
      }
      await held;
    },
    txnOffsetCommit: async () => void requests.push('TxnOffsetCommit'),
    endTxn: async () => void requests.push('EndTxn'),
  };
  return {
    cluster: oneBrokerCluster(broker, [0]),
    takeRequests: () => requests.splice(0),
    failNextAddOffsets: () => (failAddOffsets = true),
    holdAddOffsets: () => {
      held = new Promise((resolve) => (release = resolve));
      return () => {
        held = undefined;
        release();
      };
    },
  };
}

async function producerOver(cluster: object): Promise<EarlyOffsets> {
  const eosManager = createEosManager({ logger: silentLogger(), cluster, transactional: true, transactionalId: 'tx' }) as EarlyOffsets;
  await eosManager.initProducerId();
  return eosManager;
}

const offsets = (offset: number) => ({ consumerGroupId: GROUP, topics: [{ topic: 'in', partitions: [{ partition: 0, offset: String(offset) }] }] });

describe('KafkaJS AddOffsetsToTxn ahead of the commit (patched)', () => {
  it('sends only TxnOffsetCommit at commit once the offsets partition was added early, in each transaction', async () => {
    const { cluster, takeRequests } = scriptedBroker();
    const eosManager = await producerOver(cluster);
    takeRequests();
    for (const offset of [10, 20]) {
      eosManager.beginTransaction();
      await eosManager.addOffsetsToTransaction({ consumerGroupId: GROUP });
      await eosManager.addOffsetsToTransaction({ consumerGroupId: GROUP });
      expect(takeRequests()).toEqual(['AddOffsetsToTxn']);
      await eosManager.sendOffsets(offsets(offset));
      await eosManager.commit();
      expect(takeRequests()).toEqual(['TxnOffsetCommit', 'EndTxn']);
    }
    // Without the early add, sendOffsets adds them itself.
    eosManager.beginTransaction();
    await eosManager.sendOffsets(offsets(30));
    await eosManager.commit();
    expect(takeRequests()).toEqual(['AddOffsetsToTxn', 'TxnOffsetCommit', 'EndTxn']);
  });

  it('adds them again at commit when the early AddOffsetsToTxn failed', async () => {
    const { cluster, takeRequests, failNextAddOffsets } = scriptedBroker();
    const eosManager = await producerOver(cluster);
    takeRequests();
    eosManager.beginTransaction();
    failNextAddOffsets();
    await expect(eosManager.addOffsetsToTransaction({ consumerGroupId: GROUP })).rejects.toThrow();
    await eosManager.sendOffsets(offsets(10));
    await eosManager.commit();
    expect(takeRequests()).toEqual(['AddOffsetsToTxn', 'AddOffsetsToTxn', 'TxnOffsetCommit', 'EndTxn']);
  });

  it('does not mark the next transaction ongoing when an early add is answered after its own transaction ended', async () => {
    const { cluster, takeRequests, holdAddOffsets } = scriptedBroker();
    const eosManager = await producerOver(cluster);
    takeRequests();
    eosManager.beginTransaction();
    const releaseAnswer = holdAddOffsets();
    const added = eosManager.addOffsetsToTransaction({ consumerGroupId: GROUP });
    // Nothing added yet as far as the producer knows: the abort ends it without EndTxn.
    await eosManager.abort();
    releaseAnswer();
    await added;
    eosManager.beginTransaction();
    await eosManager.commit();
    // An empty transaction sends nothing: no EndTxn for offsets added to the one before.
    expect(takeRequests()).toEqual(['AddOffsetsToTxn']);
  });
});
