import type { Producer, Transaction } from 'kafkajs';
import { ProducerFencedError } from '../errors/index.js';
import { isFencingError } from '../kafka/errors.js';
import { splitIntoRequests } from './request-size.js';
import {
  type CommitResult,
  type CommitStrategy,
  type CommitUnit,
  type PartitionCommitter,
  type StrategyContext,
  type TopicPartition,
  transactionalIdFor,
} from './strategy.js';

/**
 * Exactly-once: one transactional producer per input partition (KafkaJS has no
 * KIP-447, so the transactional id, not the group generation, is what fences a
 * zombie). Outputs and the input offset commit in one transaction, which may
 * span several handler batches up to the commit interval.
 */
export function transactionalStrategy(context: StrategyContext): CommitStrategy {
  return {
    name: 'transactional',
    guarantee: 'exactly-once',
    forPartition: (partition) => new TransactionalPartition(context, partition),
    close: async () => {},
  };
}

class TransactionalPartition implements PartitionCommitter {
  readonly transactionalId: string;
  private producer: Producer | undefined;
  private transaction: Transaction | undefined;
  private startedAt = 0;
  private pendingRecords = 0;
  private pendingNextOffset: string | undefined;

  constructor(
    private readonly context: StrategyContext,
    private readonly partition: TopicPartition,
  ) {
    this.transactionalId = transactionalIdFor(context.groupId, partition);
  }

  async open(): Promise<void> {
    this.producer = this.context.kafka.producer({
      transactionalId: this.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: this.context.transactionTimeoutMs,
      // A transaction begun right after a commit meets CONCURRENT_TRANSACTIONS while the
      // coordinator writes the markers; retry that in milliseconds, not KafkaJS's 300 ms.
      // Markers to three brokers on a loaded machine took longer than KafkaJS's default five
      // retries (about 0.6 s), and every failure now costs a fresh producer: ten (about 5 s).
      // Retries stay bounded: a request that keeps failing aborts the transaction and the
      // partition rewinds, which is safe under EOS.
      retry: { initialRetryTime: 20, maxRetryTime: 1000, retries: 10 },
    });
    const producer = this.producer;
    await this.guard(async () => {
      await producer.connect();
      // KafkaJS sends the transactional InitProducerId on the first transaction(), not in
      // connect(). Fencing must happen now, before the committed offset is read: the
      // coordinator bumps the epoch and completes whatever the previous owner left open.
      // An empty transaction ends without an EndTxn request.
      const fence = await producer.transaction();
      await fence.abort();
    });
  }

  async acknowledgeOnReceipt(): Promise<void> {}

  async write(unit: CommitUnit): Promise<void> {
    const producer = this.producer;
    if (!producer) throw new Error(`partition ${this.partition.topic}[${this.partition.partition}] written before open()`);
    await this.guard(async () => {
      if (!this.transaction) {
        this.transaction = await producer.transaction();
        this.startedAt = Date.now();
      }
      for (const request of splitIntoRequests(unit.outputs)) await this.transaction.sendBatch({ topicMessages: request, acks: -1 });
    });
    this.pendingRecords += unit.records;
    this.pendingNextOffset = unit.nextOffset;
  }

  pendingForMs(): number | undefined {
    return this.transaction ? Date.now() - this.startedAt : undefined;
  }

  async commit(): Promise<CommitResult | undefined> {
    const transaction = this.transaction;
    const nextOffset = this.pendingNextOffset;
    if (!transaction || nextOffset === undefined) return undefined;
    const started = Date.now();
    await this.guard(async () => {
      await transaction.sendOffsets({
        consumerGroupId: this.context.groupId,
        topics: [{ topic: this.partition.topic, partitions: [{ partition: this.partition.partition, offset: nextOffset }] }],
      });
      await transaction.commit();
    });
    const result = { records: this.pendingRecords, nextOffset, durationMs: Date.now() - started };
    this.reset();
    return result;
  }

  async abort(): Promise<void> {
    const transaction = this.transaction;
    this.reset();
    if (!transaction) return;
    try {
      await transaction.abort();
    } catch (error) {
      // A fenced producer cannot abort; the coordinator already did.
      if (!isFencingError(error)) throw error;
    }
  }

  async close(): Promise<void> {
    try {
      await this.abort();
    } finally {
      await this.producer?.disconnect();
      this.producer = undefined;
    }
  }

  private reset(): void {
    this.transaction = undefined;
    this.pendingRecords = 0;
    this.pendingNextOffset = undefined;
  }

  private async guard<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (isFencingError(error)) {
        this.reset();
        throw new ProducerFencedError(this.transactionalId, { cause: error });
      }
      throw error;
    }
  }
}
