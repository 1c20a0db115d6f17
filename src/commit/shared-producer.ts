import type { Producer } from 'kafkajs';
import type { StrategyContext } from './strategy.js';

/**
 * One idempotent producer (acks=all) for every partition of a pipeline, connected on first
 * use: the at-least-once strategies write outputs with it, the PostgreSQL sink its retry and
 * dead-letter copies.
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

  async close(): Promise<void> {
    const producer = this.producer;
    this.producer = undefined;
    if (producer) await (await producer).disconnect();
  }
}
