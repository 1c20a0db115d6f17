import { describe, expect, inject, it } from 'vitest';
import { startKcatReader } from '../../load-tests/lib/kcat-reader.js';
import { findKcat } from '../../load-tests/lib/kcat-sender.js';
import { createTopics, kafkaClient, produce, uniqueName } from '../support/kafka.js';

/**
 * The latency runs' reader: what it counts as visible is what a read_committed consumer sees, a
 * record's value whole whatever chunks the pipe cuts it into, and each value once.
 */
const brokers = inject('kafkaBrokers');

describe('startKcatReader (the latency runs\u2019 reader)', () => {
  it('passes each committed value once and whole with its record timestamp, never an aborted one, and stops', async () => {
    const kcat = await findKcat();
    expect(kcat, 'kcat is installed by .ci/run').toBeDefined();
    const topic = uniqueName('load-kcat-reader');
    await createTopics(brokers, [{ topic, partitions: 3 }]);
    const values: string[] = [];
    const timestamps: number[] = [];
    const started = Date.now();
    const reader = await startKcatReader(kcat as string, brokers, topic, (value, receivedAt, timestamp) => {
      expect(receivedAt).toBeGreaterThan(0);
      values.push(value.toString());
      timestamps.push(timestamp);
    });
    try {
      // Long values: a pipe chunk (64 KiB) ends inside one of them.
      const long = (n: number) => `{"n":${n},"pad":"${'x'.repeat(3000 + n)}"}`;
      await produce(brokers, topic, Array.from({ length: 60 }, (_, n) => ({ key: `k${n}`, value: long(n) })));
      const producer = kafkaClient(brokers).producer({ transactionalId: uniqueName('load-kcat-reader-txn'), idempotent: true, maxInFlightRequests: 1 });
      await producer.connect();
      try {
        const aborted = await producer.transaction();
        await aborted.send({ topic, messages: [{ key: 'a', value: 'aborted' }] });
        await aborted.abort();
        const committed = await producer.transaction();
        await committed.send({ topic, messages: [{ key: 'c', value: 'committed' }] });
        await committed.commit();
      } finally {
        await producer.disconnect();
      }
      const deadline = Date.now() + 30_000;
      while (reader.received() < 61 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
      // A moment more: an aborted record read late would show now.
      await new Promise((resolve) => setTimeout(resolve, 500));
    } finally {
      await reader.stop();
    }
    expect(reader.received()).toBe(61);
    // The producer stamped each record when it sent it (CreateTime).
    for (const timestamp of timestamps) expect(timestamp).toBeGreaterThanOrEqual(started - 1000);
    for (const timestamp of timestamps) expect(timestamp).toBeLessThanOrEqual(Date.now());
    expect(values).not.toContain('aborted');
    expect(values).toContain('committed');
    expect(values.filter((value) => value.startsWith('{')).sort()).toEqual(Array.from({ length: 60 }, (_, n) => `{"n":${n},"pad":"${'x'.repeat(3000 + n)}"}`).sort());
  });
});
