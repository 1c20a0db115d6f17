import type { Producer } from 'kafkajs';
import { splitIntoRequests } from './request-size.js';
import type { CommitResult, CommitStrategy, CommitUnit, PartitionCommitter, StrategyContext, TopicPartition } from './strategy.js';

/**
 * The non-transactional strategies: outputs go through one idempotent producer
 * per pipeline, and input offsets move with the consumer's own offset commit.
 *
 * - batch (at-least-once): produce the batch's outputs, wait for the acks, commit.
 * - per-message (at-least-once): the same, one record at a time.
 * - auto (at-most-once): commit on receipt, then process; a crash loses the
 *   batch in flight. For disposable data only, like auto-ack in a queue.
 */
export function batchStrategy(context: StrategyContext): CommitStrategy {
  return acknowledgingStrategy(context, 'batch', 'after-write');
}

export function perMessageStrategy(context: StrategyContext): CommitStrategy {
  return { ...acknowledgingStrategy(context, 'per-message', 'after-write'), recordsPerUnit: 1 };
}

export function autoStrategy(context: StrategyContext): CommitStrategy {
  return acknowledgingStrategy(context, 'auto', 'on-receipt');
}

function acknowledgingStrategy(
  context: StrategyContext,
  name: 'batch' | 'per-message' | 'auto',
  acknowledge: 'after-write' | 'on-receipt',
): CommitStrategy {
  const shared = new SharedProducer(context);
  return {
    name,
    guarantee: acknowledge === 'on-receipt' ? 'at-most-once' : 'at-least-once',
    forPartition: (partition) => new AcknowledgingPartition(context, partition, shared, acknowledge),
    // Offsets commit with each write: nothing is ever pending.
    flush: async () => {},
    close: () => shared.close(),
  };
}

/** One idempotent producer (acks=all) for every partition of a pipeline, connected on first use. */
export class SharedProducer {
  private producer: Promise<Producer> | undefined;

  constructor(private readonly context: StrategyContext) {}

  get(): Promise<Producer> {
    this.producer ??= (async () => {
      const producer = this.context.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      return producer;
    })();
    return this.producer;
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    if (producer) await (await producer).disconnect();
  }
}

class AcknowledgingPartition implements PartitionCommitter {
  constructor(
    private readonly context: StrategyContext,
    private readonly partition: TopicPartition,
    private readonly shared: SharedProducer,
    private readonly acknowledge: 'after-write' | 'on-receipt',
  ) {}

  async open(): Promise<void> {
    await this.shared.get();
  }

  async acknowledgeOnReceipt(nextOffset: string): Promise<void> {
    if (this.acknowledge === 'on-receipt') await this.commitOffset(nextOffset);
  }

  async write(unit: CommitUnit): Promise<void> {
    if (unit.outputs.length > 0) {
      const producer = await this.shared.get();
      for (const request of splitIntoRequests(unit.outputs, unit.maxRequestBytes)) await producer.sendBatch({ topicMessages: request, acks: -1 });
    }
    if (this.acknowledge === 'after-write') await this.commitOffset(unit.nextOffset);
  }

  pendingForMs(): number | undefined {
    return undefined;
  }

  async commit(): Promise<CommitResult | undefined> {
    return undefined;
  }

  async abort(): Promise<void> {}

  async close(): Promise<void> {}

  private commitOffset(offset: string): Promise<void> {
    return this.context.commitOffsets([{ topic: this.partition.topic, partition: this.partition.partition, offset }]);
  }
}
