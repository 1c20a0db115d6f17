import type { Producer, ProducerBatch } from 'kafkajs';
import type { StrategyContext } from './strategy.js';

/**
 * One idempotent producer (acks=all) for every partition of a pipeline, connected on first
 * use: the at-least-once strategies write outputs with it, the PostgreSQL sink its retry and
 * dead-letter copies.
 *
 * A send that fails may have been written in part, and KafkaJS gives its sequence numbers back:
 * the next send would reuse them, and the broker would take its batches for copies of what it
 * already has and drop them while answering success (records lost, acknowledged). So after a failed
 * send the producer is replaced: a new producer id starts its sequence numbers afresh. (Sends that
 * run at the same time on one producer are ordered by our KafkaJS patch 013 for the same reason.)
 */
export class SharedProducer {
  private producer: Promise<Producer> | undefined;

  constructor(private readonly context: Pick<StrategyContext, 'kafka'>) {}

  get(): Promise<Producer> {
    this.producer ??= (async () => {
      const producer = this.context.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      return producer;
    })();
    return this.producer;
  }

  /** Sends one batch; after a failure the next send goes through a fresh producer. */
  async send(batch: ProducerBatch): Promise<void> {
    const current = this.get();
    const producer = await current;
    try {
      await producer.sendBatch(batch);
    } catch (error) {
      // Replace it once, whoever of the sends that failed with it gets here first.
      if (this.producer === current) {
        this.producer = undefined;
        void producer.disconnect().catch(() => {});
      }
      throw error;
    }
  }

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    if (producer) await (await producer).disconnect();
  }
}
