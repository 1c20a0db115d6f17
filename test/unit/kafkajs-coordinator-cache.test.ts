import { describe, expect, it } from 'vitest';
import { createErrorFromCode, createEosManager, createRetry, createSendMessages, kafkajsModule, oneBrokerCluster, silentLogger } from '../support/kafkajs-internals.js';

/**
 * KafkaJS 2.2.4's eosManager sent a FindCoordinator request before every AddPartitionsToTxn,
 * AddOffsetsToTxn, TxnOffsetCommit and EndTxn: about six serial round trips per transaction on the
 * commit path. patches/kafkajs+2.2.4+016+transaction-coordinator-cache.patch remembers the node each
 * lookup finds (the transaction coordinator, and the group coordinator per consumer group) and looks
 * it up again only after a request sent to it failed, or when the cluster can no longer give that
 * node's broker. These tests drive the real eosManager, sendMessages and retrier over scripted
 * brokers; the first fails on the unpatched package, the others check that a moved or lost
 * coordinator is found again.
 */
const { KafkaJSBrokerNotFound, KafkaJSConnectionError } = kafkajsModule<{
  KafkaJSBrokerNotFound: new (message: string) => Error;
  KafkaJSConnectionError: new (message: string, options?: { code?: string }) => Error;
}>('src/errors');

const TOPIC = 'out';
const GROUP = 'g';
const NOT_COORDINATOR = 16; // NOT_COORDINATOR_FOR_GROUP in KafkaJS, for both coordinator types
const TRANSACTION_COORDINATOR = 1; // KafkaJS's COORDINATOR_TYPES.TRANSACTION
const PARTITION_LEADER = 3;

type Coordinator = 'transaction' | 'group';

/**
 * Coordinator candidates 1 and 2 and partition leader 3. A coordinator request sent to a node that is
 * not the current coordinator is answered NOT_COORDINATOR, as Kafka answers it; every request is
 * recorded as `<request>@<broker>`.
 */
function scriptedCluster() {
  const coordinators: Record<Coordinator, number> = { transaction: 1, group: 1 };
  const lookups: Record<Coordinator, number> = { transaction: 0, group: 0 };
  const requests: string[] = [];
  /** Nodes whose next request fails with this error (a dropped connection). */
  const failNext = new Map<number, Error>();
  /** Nodes the cluster cannot give a broker for (removed from the metadata, refusing connections). */
  const unreachable = new Map<number, () => Error>();

  const broker = (nodeId: number, label = String(nodeId)) => {
    const answer = (request: string, coordinator?: Coordinator) => {
      requests.push(`${request}@${label}`);
      const failure = failNext.get(nodeId);
      if (failure) {
        failNext.delete(nodeId);
        throw failure;
      }
      if (coordinator && coordinators[coordinator] !== nodeId) throw createErrorFromCode(NOT_COORDINATOR);
    };
    return {
      nodeId,
      initProducerId: async () => {
        answer('InitProducerId', 'transaction');
        return { producerId: 7, producerEpoch: 0 };
      },
      addPartitionsToTxn: async () => answer('AddPartitionsToTxn', 'transaction'),
      addOffsetsToTxn: async () => answer('AddOffsetsToTxn', 'transaction'),
      txnOffsetCommit: async () => answer('TxnOffsetCommit', 'group'),
      endTxn: async () => answer('EndTxn', 'transaction'),
      produce: async () => {
        answer('Produce');
        return { topics: [{ topicName: TOPIC, partitions: [{ partition: 0, errorCode: 0, baseOffset: '0' }] }] };
      },
    };
  };
  const brokers = new Map([1, 2, PARTITION_LEADER].map((nodeId) => [nodeId, broker(nodeId)]));

  const cluster = {
    ...oneBrokerCluster(brokers.get(PARTITION_LEADER) as object, [0]),
    findTopicPartitionMetadata: () => [{ partitionId: 0, leader: PARTITION_LEADER }],
    findLeaderForPartitions: (_topic: string, wanted: string[]) => ({ [PARTITION_LEADER]: wanted.map(Number) }),
    findBroker: async ({ nodeId }: { nodeId: number | string }) => {
      const failure = unreachable.get(Number(nodeId));
      if (failure) throw failure();
      return brokers.get(Number(nodeId));
    },
    findGroupCoordinator: async ({ coordinatorType }: { coordinatorType: number }) => {
      const kind: Coordinator = coordinatorType === TRANSACTION_COORDINATOR ? 'transaction' : 'group';
      lookups[kind]++;
      return brokers.get(coordinators[kind]);
    },
  };

  /** Moves both coordinators to `nodeId`. */
  const moveCoordinators = (nodeId: number) => {
    coordinators.transaction = nodeId;
    coordinators.group = nodeId;
  };
  /** The requests recorded since the last call. */
  const takeRequests = () => requests.splice(0);

  return { cluster, lookups, moveCoordinators, takeRequests, failNext, unreachable, brokers, broker };
}

async function transactionalProducer(cluster: ReturnType<typeof scriptedCluster>['cluster']) {
  const logger = silentLogger();
  const eosManager = createEosManager({ logger, cluster, transactional: true, transactionalId: 'tx' });
  const retrier = createRetry({ retries: 2, initialRetryTime: 5, maxRetryTime: 20, factor: 0, multiplier: 2 });
  const send = createSendMessages({ logger, cluster, partitioner: () => 0, eosManager, retrier });
  await eosManager.initProducerId();
  let offset = 0;
  /** One whole transaction as the worker runs it: begin, send, sendOffsets, commit. */
  const transaction = async () => {
    eosManager.beginTransaction();
    await send({ acks: -1, topicMessages: [{ topic: TOPIC, messages: [{ value: 'v', partition: 0 }] }] });
    offset += 10;
    await eosManager.sendOffsets({ consumerGroupId: GROUP, topics: [{ topic: 'in', partitions: [{ partition: 0, offset: String(offset) }] }] });
    await eosManager.commit();
  };
  return { eosManager, transaction };
}

/** The requests of one transaction that went through without an error, to coordinators on `node`. */
const smoothTransaction = (node: string) => [`AddPartitionsToTxn@${node}`, 'Produce@3', `AddOffsetsToTxn@${node}`, `TxnOffsetCommit@${node}`, `EndTxn@${node}`];

describe('KafkaJS transaction and group coordinator lookups (patched)', () => {
  it('looks each coordinator up once over three transactions, not once per request', async () => {
    const { cluster, lookups, takeRequests } = scriptedCluster();
    const { eosManager, transaction } = await transactionalProducer(cluster);
    await transaction();
    await transaction();
    await transaction();
    // Unpatched: 10 transaction coordinator lookups (InitProducerId, then AddPartitionsToTxn,
    // AddOffsetsToTxn and EndTxn in each transaction) and 3 group coordinator lookups.
    expect(lookups).toEqual({ transaction: 1, group: 1 });
    expect(takeRequests()).toEqual(['InitProducerId@1', ...smoothTransaction('1'), ...smoothTransaction('1'), ...smoothTransaction('1')]);

    // A new producer id or epoch starts from a fresh lookup.
    await eosManager.initProducerId();
    expect(lookups.transaction).toBe(2);
  });

  it('looks a coordinator that answers NOT_COORDINATOR up again and sends the retry to the new one', async () => {
    const { cluster, lookups, moveCoordinators, takeRequests } = scriptedCluster();
    const { transaction } = await transactionalProducer(cluster);
    await transaction();
    takeRequests();
    moveCoordinators(2);

    await transaction();
    expect(takeRequests()).toEqual([
      'AddPartitionsToTxn@1', // NOT_COORDINATOR: the producer's retry looks the transaction coordinator up
      'AddPartitionsToTxn@2',
      'Produce@3',
      'AddOffsetsToTxn@2',
      'TxnOffsetCommit@1', // NOT_COORDINATOR: the offset commit's retry looks the group coordinator up
      'TxnOffsetCommit@2',
      'EndTxn@2',
    ]);
    expect(lookups).toEqual({ transaction: 2, group: 2 });

    await transaction();
    expect(takeRequests()).toEqual(smoothTransaction('2'));
    expect(lookups).toEqual({ transaction: 2, group: 2 });
  });

  it('looks the coordinator up again after a request to it failed with a connection error', async () => {
    const { cluster, lookups, moveCoordinators, takeRequests, failNext } = scriptedCluster();
    const { transaction } = await transactionalProducer(cluster);
    await transaction();
    takeRequests();
    // The coordinator's broker is killed: its connection drops and the transactions move to node 2.
    failNext.set(1, new KafkaJSConnectionError('Connection error: read ECONNRESET', { code: 'ECONNRESET' }));
    moveCoordinators(2);

    await transaction();
    expect(takeRequests()).toEqual([
      'AddPartitionsToTxn@1',
      'AddPartitionsToTxn@2',
      'Produce@3',
      'AddOffsetsToTxn@2',
      'TxnOffsetCommit@1',
      'TxnOffsetCommit@2',
      'EndTxn@2',
    ]);
    expect(lookups).toEqual({ transaction: 2, group: 2 });
  });

  it('looks the coordinator up when the cluster can no longer give the remembered node, and uses the broker it gives now', async () => {
    const { cluster, lookups, moveCoordinators, takeRequests, unreachable, brokers, broker } = scriptedCluster();
    const { transaction } = await transactionalProducer(cluster);
    await transaction();
    takeRequests();

    // Node 1's broker replaced in the pool (its address changed): the replacement is used, no lookup.
    brokers.set(1, broker(1, '1-replaced'));
    await transaction();
    expect(takeRequests()).toEqual(smoothTransaction('1-replaced'));
    expect(lookups).toEqual({ transaction: 1, group: 1 });

    // Node 1 removed from the metadata after a kill, its coordinators moved: looked up before any request.
    unreachable.set(1, () => new KafkaJSBrokerNotFound('Broker 1 not found in the cached metadata'));
    moveCoordinators(2);
    await transaction();
    expect(takeRequests()).toEqual(smoothTransaction('2'));
    expect(lookups).toEqual({ transaction: 2, group: 2 });
  });
});
