import { describe, expect, it } from 'vitest';
import { createErrorFromCode, createEosManager, createRetry, createSendMessages, oneBrokerCluster, silentLogger } from '../support/kafkajs-internals.js';

/**
 * The first request of a transaction (AddPartitionsToTxn; AddOffsetsToTxn when the transaction has
 * no records) is answered CONCURRENT_TRANSACTIONS while the coordinator still writes the previous
 * transaction's markers: at a few hundred partitions that takes seconds on a busy broker. In KafkaJS
 * 2.2.4 AddPartitionsToTxn's CONCURRENT_TRANSACTIONS was one of the producer's counted retries and
 * AddOffsetsToTxn's had no retry at all, so a busy coordinator aborted transactions.
 * patches/kafkajs+2.2.4+012+concurrent-transactions-retry.patch retries it on its own until the
 * producer's `concurrentTransactionsTimeout`, then fails as not retriable
 * (patches/kafkajs+2.2.4+033+concurrent-transactions-poll.patch: every 5 ms for the
 * first ten retries, then less and less often); these tests drive the real
 * eosManager, sendMessages and retrier over a scripted coordinator and fail on the unpatched package.
 */
const TOPIC = 'out';
const CONCURRENT_TRANSACTIONS = 51;

/** One broker leading partition 0 of `out`, also the coordinator; its AddPartitionsToTxn/AddOffsetsToTxn answer CONCURRENT_TRANSACTIONS `busyFor` times. */
function scriptedCoordinator(busyFor: { addPartitions: number; addOffsets: number }) {
  const requests = { addPartitions: 0, addOffsets: 0, produce: 0 };
  const busy = (kind: 'addPartitions' | 'addOffsets') => {
    requests[kind]++;
    if (requests[kind] <= busyFor[kind]) throw createErrorFromCode(CONCURRENT_TRANSACTIONS);
  };
  const broker = {
    nodeId: 1,
    initProducerId: async () => ({ producerId: 7, producerEpoch: 0 }),
    addPartitionsToTxn: async () => busy('addPartitions'),
    addOffsetsToTxn: async () => busy('addOffsets'),
    txnOffsetCommit: async () => {},
    produce: async () => {
      requests.produce++;
      return { topics: [{ topicName: TOPIC, partitions: [{ partition: 0, errorCode: 0, baseOffset: '0' }] }] };
    },
  };
  const cluster = oneBrokerCluster(broker, [0]);

  return { cluster, requests };
}

async function transaction(cluster: ReturnType<typeof scriptedCoordinator>['cluster'], concurrentTransactionsTimeout: number | undefined) {
  const logger = silentLogger();
  const eosManager = createEosManager({ logger, cluster, transactional: true, transactionalId: 'tx', concurrentTransactionsTimeout });
  await eosManager.initProducerId();
  eosManager.beginTransaction();
  // Few counted retries, as a transactional producer that must not loop on other errors has.
  const retrier = createRetry({ retries: 2, initialRetryTime: 5, maxRetryTime: 20, factor: 0, multiplier: 2 });
  const send = createSendMessages({ logger, cluster, partitioner: () => 0, eosManager, retrier });
  return {
    eosManager,
    send: () => send({ acks: -1, topicMessages: [{ topic: TOPIC, messages: [{ value: 'v', partition: 0 }] }] }),
  };
}

describe('KafkaJS CONCURRENT_TRANSACTIONS at the start of a transaction (patched)', () => {
  it('retries AddPartitionsToTxn past the counted retries while the coordinator ends the previous transaction', async () => {
    const { cluster, requests } = scriptedCoordinator({ addPartitions: 8, addOffsets: 0 });
    const { send } = await transaction(cluster, 5_000);
    await send();
    expect(requests.addPartitions).toBe(9);
    expect(requests.produce).toBe(1);
  });

  it('asks again every few milliseconds at first, so the write follows the markers closely (patch 033)', async () => {
    // Eight answers: 8 × 5 ms with the first retries at a fixed 5 ms; 5 + 10 + 20 + 40 + 80 + 3 × 100
    // = 455 ms with a backoff doubling from the first retry, as before patch 033.
    const { cluster, requests } = scriptedCoordinator({ addPartitions: 8, addOffsets: 0 });
    const { send } = await transaction(cluster, 5_000);
    const started = Date.now();
    await send();
    expect(requests.addPartitions).toBe(9);
    expect(Date.now() - started).toBeLessThan(200);
  });

  it('gives up after concurrentTransactionsTimeout with an error that is not retried again', async () => {
    const { cluster, requests } = scriptedCoordinator({ addPartitions: Number.POSITIVE_INFINITY, addOffsets: 0 });
    const { send } = await transaction(cluster, 200);
    const started = Date.now();
    const error = (await send().catch((e: unknown) => e)) as { name: string; retriable: boolean; cause?: { type?: string } };
    const elapsed = Date.now() - started;
    expect(error.name).toBe('KafkaJSNonRetriableError');
    expect(error.retriable).toBe(false);
    expect(error.cause?.type).toBe('CONCURRENT_TRANSACTIONS');
    // One deadline, not one per counted retry (three would take at least 600 ms).
    expect(elapsed).toBeGreaterThanOrEqual(190);
    expect(elapsed).toBeLessThan(550);
    expect(requests.produce).toBe(0);
  });

  it('retries AddOffsetsToTxn too (a transaction with offsets and no records)', async () => {
    const { cluster, requests } = scriptedCoordinator({ addPartitions: 0, addOffsets: 3 });
    const { eosManager } = await transaction(cluster, 5_000);
    await eosManager.sendOffsets({ consumerGroupId: 'g', topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '10' }] }] });
    expect(requests.addOffsets).toBe(4);
  });

  it('without concurrentTransactionsTimeout, CONCURRENT_TRANSACTIONS stays one of the counted retries', async () => {
    const { cluster, requests } = scriptedCoordinator({ addPartitions: Number.POSITIVE_INFINITY, addOffsets: 0 });
    const { send } = await transaction(cluster, undefined);
    const error = (await send().catch((e: unknown) => e)) as { name: string };
    expect(error.name).toBe('KafkaJSNumberOfRetriesExceeded');
    expect(requests.addPartitions).toBe(3);
  });
});
