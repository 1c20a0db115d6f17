import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * KafkaJS 2.2.4's produce path (src/producer/sendMessages.js), driven with the real
 * eosManager and retrier over a scripted two-broker cluster. Unpatched, a retriable
 * failure of one broker's request re-sent the other broker's records while they were
 * still in flight, under new sequence numbers: duplicates inside a committed
 * transaction, seen only on multi-broker clusters.
 * patches/kafkajs+2.2.4+001+produce-retry.patch settles every request before retrying and
 * re-sends only unanswered partitions, with their original sequence numbers; these tests fail
 * on the unpatched package.
 */
const require = createRequire(import.meta.url);
// The package test points this at the KafkaJS an installed txstream carries (dist/vendor/kafkajs).
const KAFKAJS = process.env.TXSTREAM_TEST_KAFKAJS ?? 'kafkajs';

type SendMessages = (request: { acks: number; topicMessages: Array<{ topic: string; messages: TestMessage[] }> }) => Promise<unknown[]>;
const createSendMessages = require(`${KAFKAJS}/src/producer/sendMessages`) as (options: Record<string, unknown>) => SendMessages;
const createEosManager = require(`${KAFKAJS}/src/producer/eosManager`) as (options: Record<string, unknown>) => EosManager;
const createRetry = require(`${KAFKAJS}/src/retry`) as (options: Record<string, number>) => unknown;
const { createErrorFromCode } = require(`${KAFKAJS}/src/protocol/error`) as { createErrorFromCode: (code: number) => Error };
const Cluster = require(`${KAFKAJS}/src/cluster`) as { prototype: { findLeaderForPartitions: (topic: string, partitions: string[]) => Record<string, number[]> } };
const { createLogger, LEVELS } = require(`${KAFKAJS}/src/loggers`) as {
  createLogger: (options: { level: number; logCreator: () => () => void }) => unknown;
  LEVELS: { NOTHING: number };
};

interface TestMessage {
  key: string;
  value: string;
  partition: number;
}

interface EosManager {
  initProducerId(): Promise<void>;
  beginTransaction(): void;
}

interface ProduceCall {
  node: number;
  partitions: Array<{ partition: number; firstSequence: number; values: string[] }>;
}

interface PartitionEntry {
  partition: number;
  firstSequence: number;
  messages: TestMessage[];
}

const TOPIC = 'out';
const CONCURRENT_TRANSACTIONS = 51;
const NOT_LEADER_FOR_PARTITION = 6;
const silentLogger = () => createLogger({ level: LEVELS.NOTHING, logCreator: () => () => {} });

/**
 * A cluster of brokers 1 and 2 with topic `out` (partitions 0-3). `leaders` maps each
 * partition to its leader and may change on a metadata refresh; each broker's produce
 * answers after `delayMs` or throws what `failures` scripts for that call.
 */
function scriptedCluster(options: {
  leaders: () => Record<number, number>;
  delayMs: Record<number, number>;
  failures: (node: number, call: number) => Error | undefined;
  onRefresh?: () => void;
}) {
  const calls: ProduceCall[] = [];
  const callsPerNode = new Map<number, number>();
  const addPartitionCalls: number[][] = [];
  const partitionMetadata = () =>
    Object.entries(options.leaders()).map(([partitionId, leader]) => ({ partitionId: Number(partitionId), leader }));
  const broker = (nodeId: number) => ({
    nodeId,
    produce: async ({ topicData }: { topicData: Array<{ topic: string; partitions: PartitionEntry[] }> }) => {
      const call = (callsPerNode.get(nodeId) ?? 0) + 1;
      callsPerNode.set(nodeId, call);
      const partitions = topicData.flatMap(({ partitions: entries }) =>
        entries.map(({ partition, firstSequence, messages }) => ({ partition, firstSequence, values: messages.map((m) => m.value) })),
      );
      calls.push({ node: nodeId, partitions });
      await new Promise((resolve) => setTimeout(resolve, options.delayMs[nodeId] ?? 0));
      const failure = options.failures(nodeId, call);
      if (failure) throw failure;
      return {
        topics: [{ topicName: TOPIC, partitions: partitions.map(({ partition }) => ({ partition, errorCode: 0, baseOffset: '0' })) }],
      };
    },
  });
  const brokers = new Map([1, 2].map((nodeId) => [nodeId, broker(nodeId)]));
  const coordinator = {
    initProducerId: async () => ({ producerId: 7, producerEpoch: 0 }),
    addPartitionsToTxn: async ({ topics }: { topics: Array<{ partitions: number[] }> }) => {
      addPartitionCalls.push(topics.flatMap((t) => t.partitions));
    },
  };
  const cluster = {
    targetTopics: new Set<string>(),
    retry: {},
    isConnected: () => true,
    connect: async () => {},
    refreshMetadata: async () => options.onRefresh?.(),
    refreshMetadataIfNecessary: async () => {},
    addMultipleTargetTopics: async () => {},
    removeBroker: () => {},
    findTopicPartitionMetadata: () => partitionMetadata(),
    findLeaderForPartitions(topic: string, partitions: string[]) {
      return Cluster.prototype.findLeaderForPartitions.call(this, topic, partitions);
    },
    findBroker: async ({ nodeId }: { nodeId: string }) => brokers.get(Number(nodeId)),
    findGroupCoordinator: async () => coordinator,
  };
  return { cluster, calls, addPartitionCalls };
}

async function transactionalSend(cluster: ReturnType<typeof scriptedCluster>['cluster'], messages: TestMessage[]) {
  const logger = silentLogger();
  const eosManager = createEosManager({ logger, cluster, transactional: true, transactionalId: 'tx' });
  await eosManager.initProducerId();
  eosManager.beginTransaction();
  const retrier = createRetry({ retries: 5, initialRetryTime: 5, maxRetryTime: 20, factor: 0, multiplier: 2 });
  const partitioner = ({ message }: { message: TestMessage }) => message.partition;
  const sendMessages = createSendMessages({ logger, cluster, partitioner, eosManager, retrier });
  return sendMessages({ acks: -1, topicMessages: [{ topic: TOPIC, messages }] });
}

const records = (count: number): TestMessage[] =>
  Array.from({ length: count }, (_, i) => ({ key: `k${i}`, value: `v${i}`, partition: i % 4 }));

/** Every partition's records must have been sent under one sequence number only. */
function sequencesPerPartition(calls: ProduceCall[]): Map<number, Set<number>> {
  const sequences = new Map<number, Set<number>>();
  for (const { partitions } of calls)
    for (const { partition, firstSequence } of partitions) sequences.set(partition, (sequences.get(partition) ?? new Set()).add(firstSequence));
  return sequences;
}

describe('KafkaJS produce retries (patched)', () => {
  it('does not re-send a slow broker’s records under new sequence numbers when another broker’s request fails', async () => {
    // Partitions 0 and 2 lead on broker 1 (slow, succeeds); 1 and 3 on broker 2, whose first request fails fast.
    const { cluster, calls } = scriptedCluster({
      leaders: () => ({ 0: 1, 1: 2, 2: 1, 3: 2 }),
      delayMs: { 1: 60, 2: 5 },
      failures: (node, call) => (node === 2 && call === 1 ? createErrorFromCode(NOT_LEADER_FOR_PARTITION) : undefined),
    });

    const responses = await transactionalSend(cluster, records(8));

    expect(calls.filter((c) => c.node === 1)).toHaveLength(1);
    expect(calls.filter((c) => c.node === 2)).toHaveLength(2);
    for (const [partition, sequences] of sequencesPerPartition(calls)) expect([partition, [...sequences]]).toEqual([partition, [0]]);
    expect(responses).toHaveLength(4);
  });

  it('adds the partitions to the transaction once, before any produce request', async () => {
    const { cluster, calls, addPartitionCalls } = scriptedCluster({
      leaders: () => ({ 0: 1, 1: 2, 2: 1, 3: 2 }),
      delayMs: {},
      failures: () => undefined,
    });

    await transactionalSend(cluster, records(8));

    expect(addPartitionCalls).toHaveLength(1);
    expect([...(addPartitionCalls[0] ?? [])].sort()).toEqual([0, 1, 2, 3]);
    expect(calls).toHaveLength(2);
  });

  it('sends the partitions of a failed request to their new leader after it moved to a broker that already answered', async () => {
    // Broker 2 fails with NOT_LEADER; the refresh moves partitions 1 and 3 to broker 1, which answered already.
    let moved = false;
    const { cluster, calls } = scriptedCluster({
      leaders: () => (moved ? { 0: 1, 1: 1, 2: 1, 3: 1 } : { 0: 1, 1: 2, 2: 1, 3: 2 }),
      delayMs: { 1: 5, 2: 30 },
      failures: (node) => (node === 2 ? createErrorFromCode(NOT_LEADER_FOR_PARTITION) : undefined),
      onRefresh: () => {
        moved = true;
      },
    });

    await transactionalSend(cluster, records(8));

    const sent = calls.filter((c) => c.node === 1).flatMap((c) => c.partitions.map((p) => p.partition));
    expect(sent.sort()).toEqual([0, 1, 2, 3]);
    // The re-sent partitions keep the sequence numbers of the failed request.
    for (const [, sequences] of sequencesPerPartition(calls)) expect([...sequences]).toEqual([0]);
  });

  it('retries a CONCURRENT_TRANSACTIONS answer with the same sequence numbers', async () => {
    const { cluster, calls } = scriptedCluster({
      leaders: () => ({ 0: 1, 1: 2, 2: 1, 3: 2 }),
      delayMs: { 1: 40, 2: 1 },
      failures: (node, call) => (node === 2 && call <= 2 ? createErrorFromCode(CONCURRENT_TRANSACTIONS) : undefined),
    });

    await transactionalSend(cluster, records(8));

    expect(calls.filter((c) => c.node === 1)).toHaveLength(1);
    expect(calls.filter((c) => c.node === 2)).toHaveLength(3);
    for (const [, sequences] of sequencesPerPartition(calls)) expect([...sequences]).toEqual([0]);
  });

  it('refuses a record for a partition the topic does not have, naming topic and partition', async () => {
    const { cluster, calls } = scriptedCluster({ leaders: () => ({ 0: 1, 1: 2, 2: 1, 3: 2 }), delayMs: {}, failures: () => undefined });

    await expect(transactionalSend(cluster, [{ key: 'k', value: 'v', partition: 9 }])).rejects.toThrow('Topic "out" has no partition 9 (it has 4)');
    expect(calls).toHaveLength(0);
  });
});
