import { describe, expect, inject, it } from 'vitest';
import { createTopics, kafkaClient, produce, readTopics, type ReadRecord, uniqueName } from '../support/kafka.js';
import { readWithKcat } from '../support/kcat.js';

/**
 * The independent reader the audits use: kcat (librdkafka) must read what our KafkaJS reader
 * reads, honour read_committed, and fail loudly, naming topic and brokers.
 */
const brokers = inject('kafkaBrokers');

const byPosition = (a: ReadRecord, b: ReadRecord) =>
  a.topic.localeCompare(b.topic) || a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset));

describe('readWithKcat', () => {
  it('reads committed records with headers, hides an aborted transaction, and agrees with readTopics', async () => {
    const topic = uniqueName('kcat-read');
    const other = uniqueName('kcat-read-other');
    await createTopics(brokers, [
      { topic, partitions: 3 },
      { topic: other, partitions: 1 },
    ]);
    const producer = kafkaClient(brokers).producer({ transactionalId: uniqueName('kcat-txn'), idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      const committed = await producer.transaction();
      await committed.send({
        topic,
        messages: [
          { key: 'k0', value: 'plain', headers: { 'txstream-lineage': 'in/0/0', note: 'a "quoted"\tvalue' } },
          { key: 'k1', value: 'ü-utf8', headers: { repeated: ['first', 'last'] } },
          { key: null, value: null },
          { key: 'k3', value: Buffer.from([0x00, 0xff, 0x80, 0x62]), headers: { bin: Buffer.from([0xfe, 0x41]) } },
          { key: 'k4', value: 'line\nbreak' },
        ],
      });
      await committed.send({ topic: other, messages: [{ key: 'o', value: 'other-topic' }] });
      await committed.commit();

      const aborted = await producer.transaction();
      await aborted.send({ topic, messages: [{ key: 'k0', value: 'aborted-1' }, { key: 'k1', value: 'aborted-2' }] });
      await aborted.abort();
    } finally {
      await producer.disconnect();
    }

    const kcatCommitted = (await readWithKcat(brokers, [topic, other])).sort(byPosition);
    const values = kcatCommitted.map((r) => r.value);
    expect(values).toHaveLength(6);
    expect(values).not.toContain('aborted-1');
    expect(values).not.toContain('aborted-2');
    expect(kcatCommitted.find((r) => r.key === 'k0')?.headers).toEqual({ 'txstream-lineage': 'in/0/0', note: 'a "quoted"\tvalue' });
    expect(kcatCommitted.find((r) => r.key === 'k1')?.headers).toEqual({ repeated: 'last' });
    expect(kcatCommitted.find((r) => r.key === 'k4')?.value).toBe('line\nbreak');
    expect(kcatCommitted.find((r) => r.topic === other)?.value).toBe('other-topic');

    // The aborted records are on the log: read_uncommitted returns them, so the check above means something.
    const kcatUncommitted = await readWithKcat(brokers, [topic], { readCommitted: false });
    expect(kcatUncommitted.map((r) => r.value).filter((v) => v?.startsWith('aborted-'))).toEqual(
      expect.arrayContaining(['aborted-1', 'aborted-2']),
    );
    expect(kcatUncommitted).toHaveLength(7);

    // Record for record (position, timestamp, key, value incl. binary, headers) what KafkaJS reads.
    const kafkajs = (await readTopics(brokers, [topic, other], { until: (r) => r.length >= 6, quietMs: 500 })).sort(byPosition);
    expect(kcatCommitted).toEqual(kafkajs);
  });

  it('waits for an open transaction with `until`, and names topic and brokers when kcat fails', async () => {
    const topic = uniqueName('kcat-open');
    await createTopics(brokers, [{ topic }]);
    const producer = kafkaClient(brokers).producer({ transactionalId: uniqueName('kcat-open-txn'), idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      await produce(brokers, topic, [{ value: 'before' }]);
      const open = await producer.transaction();
      await open.send({ topic, messages: [{ value: 'in-open-transaction' }] });
      await produce(brokers, topic, [{ value: 'after' }]);
      // read_committed stops at the last stable offset: only what precedes the open transaction.
      expect((await readWithKcat(brokers, [topic])).map((r) => r.value)).toEqual(['before']);
      const reading = readWithKcat(brokers, [topic], { until: (r) => r.length >= 3, timeoutMs: 30_000 });
      setTimeout(() => void open.commit(), 1000);
      expect((await reading).map((r) => r.value)).toEqual(['before', 'in-open-transaction', 'after']);
    } finally {
      await producer.disconnect();
    }

    await expect(readWithKcat(brokers, [uniqueName('kcat-missing')])).rejects.toThrow(
      new RegExp(`kcat reading topic kcat-missing-\\w+ from ${brokers.join(',').replace(/\./g, '\\.')}: kcat exited with 1: .*Unknown topic`),
    );
    await expect(readWithKcat(brokers, [topic], { until: () => false, timeoutMs: 1500 })).rejects.toThrow(
      /condition not met within 1500 ms \(3 records read\)/,
    );
  });
});
