import { createRequire } from 'node:module';

/**
 * KafkaJS's own modules, for the tests of our fixes to it (patches/): they drive its real producer
 * internals over scripted brokers. The package test points TXSTREAM_TEST_KAFKAJS at the KafkaJS an
 * installed txstream carries (dist/vendor/kafkajs).
 */
const require = createRequire(import.meta.url);
export const KAFKAJS = process.env.TXSTREAM_TEST_KAFKAJS ?? 'kafkajs';

/** A module of KafkaJS's sources, e.g. `src/producer/eosManager`. */
export function kafkajsModule<T>(path: string): T {
  return require(`${KAFKAJS}/${path}`) as T;
}

export const createEosManager = kafkajsModule<(options: Record<string, unknown>) => EosManager>('src/producer/eosManager');
export const createSendMessages = kafkajsModule<(options: Record<string, unknown>) => SendMessages>('src/producer/sendMessages');
export const createRetry = kafkajsModule<(options: Record<string, number>) => unknown>('src/retry');
export const { createErrorFromCode } = kafkajsModule<{ createErrorFromCode: (code: number) => Error }>('src/protocol/error');
const { createLogger, LEVELS } = kafkajsModule<{
  createLogger: (options: { level: number; logCreator: () => () => void }) => unknown;
  LEVELS: { NOTHING: number };
}>('src/loggers');

export interface EosManager {
  initProducerId(): Promise<void>;
  beginTransaction(): void;
  sendOffsets(request: { consumerGroupId: string; topics: Array<{ topic: string; partitions: Array<{ partition: number; offset: string }> }> }): Promise<void>;
  commit(): Promise<void>;
}

export interface TestMessage {
  value: string;
  partition: number;
}

export type SendMessages = (request: { acks: number; topicMessages: Array<{ topic: string; messages: TestMessage[] }> }) => Promise<unknown[]>;

export function silentLogger(): unknown {
  return createLogger({ level: LEVELS.NOTHING, logCreator: () => () => {} });
}

/** A cluster of one broker that leads `partitions` of every topic and coordinates every group and transaction. */
export function oneBrokerCluster(broker: object, partitions: readonly number[]) {
  return {
    targetTopics: new Set<string>(),
    retry: {},
    isConnected: () => true,
    connect: async () => {},
    refreshMetadata: async () => {},
    refreshMetadataIfNecessary: async () => {},
    addMultipleTargetTopics: async () => {},
    removeBroker: () => {},
    findTopicPartitionMetadata: () => partitions.map((partitionId) => ({ partitionId, leader: 1 })),
    findLeaderForPartitions: (_topic: string, wanted: string[]) => ({ 1: wanted.map(Number) }),
    findBroker: async () => broker,
    findGroupCoordinator: async () => broker,
    findControllerBroker: async () => broker,
  };
}

/**
 * A transactional producer's real eosManager and sendMessages over one scripted broker that
 * accepts everything: `added` lists the partitions of each AddPartitionsToTxn request, sorted;
 * `write(...partitions)` sends one record to each of them on topic `out`.
 */
export async function scriptedTransactionalProducer(partitions: readonly number[], options: Record<string, unknown> = {}) {
  const added: number[][] = [];
  const broker = {
    nodeId: 1,
    initProducerId: async () => ({ producerId: 7, producerEpoch: 0 }),
    addPartitionsToTxn: async ({ topics }: { topics: Array<{ topic: string; partitions: number[] }> }) => {
      added.push(topics.flatMap((topic) => topic.partitions).sort());
    },
    endTxn: async () => {},
    produce: async ({ topicData }: { topicData: Array<{ topic: string; partitions: Array<{ partition: number }> }> }) => ({
      topics: topicData.map(({ topic, partitions: written }) => ({ topicName: topic, partitions: written.map(({ partition }) => ({ partition, errorCode: 0, baseOffset: '0' })) })),
    }),
  };
  const cluster = oneBrokerCluster(broker, partitions);
  const logger = silentLogger();
  const eosManager = createEosManager({ logger, cluster, transactional: true, transactionalId: 'tx', ...options }) as EosManager & { abort(): Promise<void> };
  await eosManager.initProducerId();
  const retrier = createRetry({ retries: 0, initialRetryTime: 5, maxRetryTime: 20, factor: 0, multiplier: 2 });
  const send = createSendMessages({ logger, cluster, partitioner: ({ message }: { message: TestMessage }) => message.partition, eosManager, retrier });
  const write = (...written: number[]) => send({ acks: -1, topicMessages: [{ topic: 'out', messages: written.map((partition) => ({ value: 'v', partition })) }] });
  return { eosManager, write, added };
}

/** KafkaJS's own ConsumerGroup of group `g` subscribed to topic `in`, over a scripted `cluster`; `T` names what a test calls on it. */
export function consumerGroupOver<T>(cluster: object, instrumentationEmitter: object = { emit: () => {} }): T {
  const ConsumerGroup = kafkajsModule<new (options: Record<string, unknown>) => T>('src/consumer/consumerGroup');
  return new ConsumerGroup({
    retry: { retries: 0 },
    cluster,
    groupId: 'g',
    topics: ['in'],
    topicConfigurations: [],
    logger: silentLogger(),
    instrumentationEmitter,
    assigners: [],
    sessionTimeout: 30_000,
    rebalanceTimeout: 60_000,
    autoCommit: false,
  });
}
