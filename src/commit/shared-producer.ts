import type { Producer, ProducerBatch } from 'kafkajs';
import { Coalescer } from '../util/coalescer.js';
import { MAX_REQUEST_BYTES, requestsOf } from './request-size.js';
import type { StrategyContext, TopicMessages } from './strategy.js';

interface OutputWrite {
  readonly outputs: readonly TopicMessages[];
  readonly maxRequestBytes: number;
  /** Its failure must be its own (a unit written to find the record the broker refuses): sent by itself. */
  readonly alone: boolean;
}

/**
 * One idempotent producer (acks=all) for every partition of a pipeline, connected on first
 * use: the at-least-once strategies write outputs with it, the PostgreSQL sink its retry and
 * dead-letter copies.
 *
 * Writes that arrive while one is on its way go out together, as the transactional strategy's
 * units do: its produce requests go one at a time (sequence numbers, below), and each partition
 * waiting for a round trip of its own took 96 of them per fetch at 96 partitions (seconds of
 * latency at 10,000 records/s, where the transactional strategy stayed near 100 ms). A write that
 * fails fails every write that went with it: they may be in part written, and their partitions
 * rewind (at-least-once: copies, never losses).
 *
 * A send that fails may have been written in part, and KafkaJS gives its sequence numbers back:
 * the next send would reuse them, and the broker would take its batches for copies of what it
 * already has and drop them while answering success (records lost, acknowledged). So after a failed
 * send the producer is replaced: a new producer id starts its sequence numbers afresh. (Sends that
 * run at the same time on one producer are ordered by our KafkaJS patch 013 for the same reason.)
 */
export class SharedProducer {
  private producer: Promise<Producer> | undefined;
  private readonly writes = new Coalescer<OutputWrite>(
    (writes) => this.sendTogether(writes),
    (write) => write.alone,
  );

  constructor(private readonly context: Pick<StrategyContext, 'kafka'>) {}

  get(): Promise<Producer> {
    this.producer ??= (async () => {
      const producer = this.context.kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      return producer;
    })();
    return this.producer;
  }

  /**
   * Writes outputs (acknowledged by every in-sync replica), in produce requests under
   * `maxRequestBytes`; `alone`: in requests of their own, so that a refusal is theirs.
   */
  write(outputs: readonly TopicMessages[], maxRequestBytes = MAX_REQUEST_BYTES, alone = false): Promise<void> {
    if (outputs.length === 0) return Promise.resolve();
    return this.writes.run({ outputs, maxRequestBytes, alone });
  }

  private async sendTogether(writes: readonly OutputWrite[]): Promise<void> {
    for (const request of requestsOf(writes)) await this.send({ topicMessages: request, acks: -1 });
  }

  /** Sends one batch; after a failure the next send goes through a fresh producer. */
  private async send(batch: ProducerBatch): Promise<void> {
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
