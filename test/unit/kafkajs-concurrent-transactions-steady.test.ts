import { describe, expect, it } from 'vitest';
import { createErrorFromCode, createEosManager, createRetry, createSendMessages, oneBrokerCluster, silentLogger } from '../support/kafkajs-internals.js';

/**
 * While the coordinator writes the previous transaction's markers it answers the next
 * transaction's first AddPartitionsToTxn CONCURRENT_TRANSACTIONS, and every output of the
 * transaction waits for that request. Patch 012 retried it from 5 ms doubling to 100 ms, so a
 * retry could come long after the markers were done (attempts at 0, 5, 15, 35, 75, 155, 255 ms…).
 * patches/kafkajs+2.2.4+031+concurrent-transactions-steady-retry.patch retries it every 10 ms,
 * as the Java producer retries it at a fixed 20 ms; this test fails without it.
 */
const TOPIC = 'out';
const CONCURRENT_TRANSACTIONS = 51;

/** A coordinator that answers CONCURRENT_TRANSACTIONS until `busyMs` after its first AddPartitionsToTxn. */
function coordinatorBusyFor(busyMs: number) {
  let freeAt: number | undefined;
  let acceptedAt: number | undefined;
  const broker = {
    nodeId: 1,
    initProducerId: async () => ({ producerId: 7, producerEpoch: 0 }),
    addPartitionsToTxn: async () => {
      const now = performance.now();
      freeAt ??= now + busyMs;
      if (now < freeAt) throw createErrorFromCode(CONCURRENT_TRANSACTIONS);
      acceptedAt = now;
    },
    produce: async () => ({ topics: [{ topicName: TOPIC, partitions: [{ partition: 0, errorCode: 0, baseOffset: '0' }] }] }),
  };
  return { cluster: oneBrokerCluster(broker, [0]), overshootMs: () => (acceptedAt ?? Number.NaN) - (freeAt ?? Number.NaN) };
}

describe('KafkaJS CONCURRENT_TRANSACTIONS retried at a steady pace (patched)', () => {
  it('starts the transaction soon after the coordinator has ended the previous one, however long that took', async () => {
    for (const busyMs of [160, 300]) {
      const { cluster, overshootMs } = coordinatorBusyFor(busyMs);
      const logger = silentLogger();
      const eosManager = createEosManager({ logger, cluster, transactional: true, transactionalId: 'tx', concurrentTransactionsTimeout: 5_000 });
      await eosManager.initProducerId();
      eosManager.beginTransaction();
      const retrier = createRetry({ retries: 2, initialRetryTime: 5, maxRetryTime: 20, factor: 0, multiplier: 2 });
      const send = createSendMessages({ logger, cluster, partitioner: () => 0, eosManager, retrier });
      await send({ acks: -1, topicMessages: [{ topic: TOPIC, messages: [{ value: 'v', partition: 0 }] }] });
      // Every 10 ms: at most one step (and a timer's lateness) past the end. Doubling, the attempt
      // after a 160 ms wait came at 255 ms, and after 300 ms at 355.
      expect(overshootMs()).toBeGreaterThanOrEqual(0);
      expect(overshootMs()).toBeLessThan(45);
    }
  });
});
