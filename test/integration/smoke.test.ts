import { describe, expect, inject, it } from 'vitest';
import { createTopics, kafkaClient, produce, readTopics, uniqueName, withAdmin } from '../support/kafka.js';

const brokers = inject('kafkaBrokers');

describe('the broker the suite runs against', () => {
  it('creates a topic with the admin client', async () => {
    const topic = uniqueName('smoke-admin');
    await createTopics(brokers, [{ topic, partitions: 3 }]);
    const metadata = await withAdmin(brokers, (admin) => admin.fetchTopicMetadata({ topics: [topic] }));
    expect(metadata.topics).toHaveLength(1);
    expect(metadata.topics[0]?.partitions).toHaveLength(3);
  });

  it('gives back the 1,000 records produced, each once, in order per key', async () => {
    const topic = uniqueName('smoke-roundtrip');
    await createTopics(brokers, [{ topic, partitions: 3 }]);
    const sent = Array.from({ length: 1000 }, (_, i) => ({ key: `k${i % 10}`, value: `v${i}` }));
    await produce(brokers, topic, sent);

    const read = await readTopics(brokers, [topic], { until: (records) => records.length >= 1000, quietMs: 1000 });

    expect(read).toHaveLength(1000);
    expect(new Set(read.map((r) => r.value)).size).toBe(1000);
    for (let k = 0; k < 10; k++) {
      const values = read.filter((r) => r.key === `k${k}`).map((r) => Number(r.value?.slice(1)));
      expect(values).toEqual([...values].sort((a, b) => a - b));
    }
  });

  it('shows a committed transaction to read_committed readers and hides an aborted one', async () => {
    const topic = uniqueName('smoke-txn');
    await createTopics(brokers, [{ topic }]);
    const producer = kafkaClient(brokers).producer({
      transactionalId: uniqueName('smoke-txn-id'),
      idempotent: true,
      maxInFlightRequests: 1,
    });
    await producer.connect();
    try {
      const aborted = await producer.transaction();
      await aborted.send({ topic, messages: [{ value: 'aborted-1' }, { value: 'aborted-2' }] });
      await aborted.abort();

      const committed = await producer.transaction();
      await committed.send({ topic, messages: [{ value: 'committed-1' }, { value: 'committed-2' }] });
      await committed.commit();
    } finally {
      await producer.disconnect();
    }

    const readCommitted = await readTopics(brokers, [topic], { readCommitted: true, until: (r) => r.length >= 2 });
    expect(readCommitted.map((r) => r.value)).toEqual(['committed-1', 'committed-2']);

    // The aborted records are on the log: a read_uncommitted reader sees them, so the check above means something.
    const readUncommitted = await readTopics(brokers, [topic], { readCommitted: false, until: (r) => r.length >= 4 });
    expect(readUncommitted.map((r) => r.value)).toEqual(['aborted-1', 'aborted-2', 'committed-1', 'committed-2']);
  });
});
