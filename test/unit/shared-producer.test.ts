import type { Kafka } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { SharedProducer } from '../../src/commit/shared-producer.js';

/** A KafkaJS stand-in whose producers fail the sends `fail` picks; each producer is numbered. */
function scriptedKafka(fail: (producer: number, send: number) => boolean) {
  const log = { created: 0, disconnected: [] as number[], sent: [] as Array<[number, string]> };
  const kafka = {
    producer: () => {
      const id = ++log.created;
      let sends = 0;
      return {
        connect: async () => {},
        disconnect: async () => void log.disconnected.push(id),
        sendBatch: async ({ topicMessages }: { topicMessages: Array<{ topic: string }> }) => {
          sends++;
          await new Promise((resolve) => setTimeout(resolve, 1));
          if (fail(id, sends)) throw new Error(`producer ${id} send ${sends} failed`);
          log.sent.push([id, topicMessages[0]?.topic ?? '']);
        },
      };
    },
  } as unknown as Kafka;
  return { kafka, log };
}

const batch = (topic: string) => ({ topicMessages: [{ topic, messages: [{ value: 'v' }] }], acks: -1 });

describe('the shared idempotent producer of the at-least-once strategies', () => {
  it('sends after a failed send through a fresh producer (new producer id, sequence numbers afresh)', async () => {
    const { kafka, log } = scriptedKafka((producer, send) => producer === 1 && send === 2);
    const shared = new SharedProducer({ kafka });
    await shared.send(batch('a'));
    await expect(shared.send(batch('b'))).rejects.toThrow('producer 1 send 2 failed');
    await shared.send(batch('c'));
    expect(log.sent).toEqual([
      [1, 'a'],
      [2, 'c'],
    ]);
    expect(log.disconnected).toEqual([1]);
  });

  it('replaces the producer once when sends at the same time fail with it', async () => {
    const { kafka, log } = scriptedKafka((producer) => producer === 1);
    const shared = new SharedProducer({ kafka });
    const results = await Promise.allSettled([shared.send(batch('a')), shared.send(batch('b'))]);
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected']);
    await shared.send(batch('c'));
    expect(log.created).toBe(2);
    expect(log.sent).toEqual([[2, 'c']]);
  });
});
