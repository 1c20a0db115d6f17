import { describe, expect, inject, it } from 'vitest';
import { describeUnread, scanRanges, wholeTopicRanges } from '../../src/kafka/topic-read.js';
import { readToEnd } from '../../src/routing/inspect.js';
import { createTopics, kafkaClient, produce, produceAborted, uniqueName } from '../support/kafka.js';

/**
 * The reader behind `dlt inspect` and the console's dead-letter views: it reads ranges to their
 * end past aborted records and markers, and a read whose time runs out says what it left unread
 * instead of passing part of a topic off as the whole of it.
 */
const brokers = inject('kafkaBrokers');

describe('scanRanges', () => {
  it('reads every range to its end (aborted records and markers skipped) and leaves nothing unread', async () => {
    const topic = uniqueName('topic-read');
    await createTopics(brokers, [{ topic, partitions: 3 }]);
    const message = (n: number) => ({ key: `k${n}`, value: `v${n}`, partition: n % 3 });
    await produce(brokers, topic, Array.from({ length: 60 }, (_, n) => message(n)));
    await produceAborted(brokers, topic, Array.from({ length: 6 }, (_, n) => message(100 + n)));
    await produce(brokers, topic, Array.from({ length: 30 }, (_, n) => message(200 + n)));
    const kafka = kafkaClient(brokers);

    const { records, unread } = await readToEnd(kafka, topic, 60_000);

    expect(unread).toEqual([]);
    expect(records.map(({ message: m }) => String(m.value)).sort()).toEqual(
      [...Array.from({ length: 60 }, (_, n) => `v${n}`), ...Array.from({ length: 30 }, (_, n) => `v${200 + n}`)].sort(),
    );
  });

  it('says which offsets it left unread when its time runs out, and reading those reads the rest', async () => {
    const topic = uniqueName('topic-read-cut');
    await createTopics(brokers, [{ topic, partitions: 2 }]);
    await produce(
      brokers,
      topic,
      Array.from({ length: 40 }, (_, n) => ({ value: `v${n}`, partition: n % 2 })),
    );
    const kafka = kafkaClient(brokers);
    const ranges = await wholeTopicRanges(kafka, topic);

    // A millisecond: the read gives up before the consumer has even joined.
    const seen: string[] = [];
    const cut = await scanRanges(kafka, topic, ranges, (_partition, m) => seen.push(String(m.value)), { timeoutMs: 1 });

    expect(cut.unread.length).toBeGreaterThan(0);
    expect(describeUnread(cut.unread)).toMatch(/^partition \d offsets \d+–\d+/);
    // What it read and what it says it left cover the topic between them.
    const rest: string[] = [];
    const resumed = await scanRanges(kafka, topic, cut.unread, (_partition, m) => rest.push(String(m.value)), { timeoutMs: 60_000 });
    expect(resumed.unread).toEqual([]);
    expect([...seen, ...rest].sort()).toEqual(Array.from({ length: 40 }, (_, n) => `v${n}`).sort());
  });
});
