import type { Kafka } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { SharedProducer } from '../../src/commit/shared-producer.js';

/** A KafkaJS stand-in whose producers fail the sends `fail` picks; each producer is numbered. */
function scriptedKafka(fail: (producer: number, send: number) => boolean) {
  const log = { created: 0, disconnected: [] as number[], sent: [] as Array<[number, string]>, requests: [] as Array<Array<{ topic: string; values: string[] }>> };
  const kafka = {
    producer: () => {
      const id = ++log.created;
      let sends = 0;
      return {
        connect: async () => {},
        disconnect: async () => void log.disconnected.push(id),
        sendBatch: async ({ topicMessages }: { topicMessages: Array<{ topic: string; messages: Array<{ value: string }> }> }) => {
          sends++;
          log.requests.push(topicMessages.map(({ topic, messages }) => ({ topic, values: messages.map((message) => message.value) })));
          await new Promise((resolve) => setTimeout(resolve, 1));
          if (fail(id, sends)) throw new Error(`producer ${id} send ${sends} failed`);
          for (const { topic } of topicMessages) log.sent.push([id, topic]);
        },
      };
    },
  } as unknown as Kafka;
  return { kafka, log };
}

const outputs = (topic: string, ...values: string[]) => [{ topic, messages: (values.length > 0 ? values : ['v']).map((value) => ({ value })) }];

describe('the shared idempotent producer of the at-least-once strategies', () => {
  it('sends after a failed send through a fresh producer (new producer id, sequence numbers afresh)', async () => {
    const { kafka, log } = scriptedKafka((producer, send) => producer === 1 && send === 2);
    const shared = new SharedProducer({ kafka });
    await shared.write(outputs('a'));
    await expect(shared.write(outputs('b'))).rejects.toThrow('producer 1 send 2 failed');
    await shared.write(outputs('c'));
    expect(log.sent).toEqual([
      [1, 'a'],
      [2, 'c'],
    ]);
    expect(log.disconnected).toEqual([1]);
  });

  it('sends the writes that arrive while one is on its way together, in one request, each topic in the order written', async () => {
    const { kafka, log } = scriptedKafka(() => false);
    const shared = new SharedProducer({ kafka });
    await Promise.all([shared.write(outputs('a', '1')), shared.write(outputs('b', '2')), shared.write(outputs('a', '3')), shared.write(outputs('b', '4'))]);
    // The first went alone (nothing was on its way); the three that waited for it, as one.
    expect(log.requests).toEqual([
      [{ topic: 'a', values: ['1'] }],
      [
        { topic: 'b', values: ['2', '4'] },
        { topic: 'a', values: ['3'] },
      ],
    ]);
  });

  it('fails every write that went with a failed request, and the writes after it go through a fresh producer', async () => {
    const { kafka, log } = scriptedKafka((producer, send) => producer === 1 && send === 2);
    const shared = new SharedProducer({ kafka });
    const results = await Promise.allSettled([shared.write(outputs('a')), shared.write(outputs('b')), shared.write(outputs('c'))]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'rejected']);
    await shared.write(outputs('d'));
    expect(log.created).toBe(2);
    expect(log.sent).toEqual([
      [1, 'a'],
      [2, 'd'],
    ]);
  });

  it('keeps writes sent together under the smallest request limit among them', async () => {
    const { kafka, log } = scriptedKafka(() => false);
    const shared = new SharedProducer({ kafka });
    const kilobyte = 'x'.repeat(1024);
    await Promise.all([shared.write(outputs('a', kilobyte)), shared.write(outputs('a', kilobyte, kilobyte), 1_000_000), shared.write(outputs('a', kilobyte), 1500)]);
    expect(log.requests.map((request) => request.flatMap(({ values }) => values).length)).toEqual([1, 1, 1, 1]);
  });

  it('sends nothing for a write without outputs', async () => {
    const { kafka, log } = scriptedKafka(() => false);
    const shared = new SharedProducer({ kafka });
    await shared.write([]);
    expect(log.requests).toEqual([]);
    expect(log.created).toBe(0);
  });

  it('sends a write that must go alone in a request of its own, even with others waiting', async () => {
    const { kafka, log } = scriptedKafka(() => false);
    const shared = new SharedProducer({ kafka });
    await Promise.all([shared.write(outputs('a', '1')), shared.write(outputs('b', '2')), shared.write(outputs('c', '3'), undefined, true), shared.write(outputs('d', '4'))]);
    expect(log.requests.map((request) => request.map(({ topic }) => topic))).toEqual([['a'], ['b'], ['c'], ['d']]);
  });
});
