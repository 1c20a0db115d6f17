import { EventEmitter } from 'node:events';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * KafkaJS 2.2.4 runs nothing between "the group is rebalancing" and its rejoin, so a worker that
 * commits offsets in a transaction raced the JoinGroup: a commit that lost the race carried a
 * generation the group had left and was refused. The `onPartitionsRevoked` option of `consumer.run`
 * is awaited before the rejoin, as the Java consumer's rebalance listener is.
 * patches/kafkajs+2.2.4+007+kip447-on-partitions-revoked.patch adds it; this test fails on the
 * unpatched package.
 */
const require = createRequire(import.meta.url);
// The package test points this at the KafkaJS an installed txstream carries (dist/vendor/kafkajs).
const KAFKAJS = process.env.TXSTREAM_TEST_KAFKAJS ?? 'kafkajs';

describe('KafkaJS consumer runner (patched)', () => {
  it('awaits onPartitionsRevoked before it rejoins a rebalancing group', async () => {
    const Runner = require(`${KAFKAJS}/src/consumer/runner`) as new (options: Record<string, unknown>) => {
      fetchManager: { start(): Promise<void> };
      running: boolean;
      scheduleFetchManager(): void;
    };
    const { createLogger, LEVELS } = require(`${KAFKAJS}/src/loggers`) as {
      createLogger: (options: Record<string, unknown>) => { namespace(name: string): unknown };
      LEVELS: Record<string, number>;
    };
    const { KafkaJSProtocolError } = require(`${KAFKAJS}/src/errors`) as { KafkaJSProtocolError: new (error: Record<string, unknown>) => Error };
    const order: string[] = [];
    let rejoined!: () => void;
    const done = new Promise<void>((resolve) => (rejoined = resolve));
    const runner = new Runner({
      logger: createLogger({ level: LEVELS.NOTHING, logCreator: () => () => {} }),
      consumerGroup: {
        groupId: 'g',
        memberId: 'm',
        joinAndSync: async () => {
          order.push('rejoin');
          runner.running = false;
          rejoined();
        },
      },
      instrumentationEmitter: new EventEmitter(),
      concurrency: 1,
      eachBatch: async () => {},
      onCrash: () => {},
      onPartitionsRevoked: async () => {
        await new Promise((resolve) => setTimeout(resolve, 20));
        order.push('revoked');
      },
    });
    runner.running = true;
    runner.fetchManager = {
      start: async () => {
        throw new KafkaJSProtocolError({ type: 'REBALANCE_IN_PROGRESS', code: 27, retriable: false, message: 'rebalancing' });
      },
    };
    runner.scheduleFetchManager();
    await done;
    expect(order).toEqual(['revoked', 'rejoin']);
  });
});
