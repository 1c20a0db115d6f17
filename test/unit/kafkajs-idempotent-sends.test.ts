import { describe, expect, it } from 'vitest';
import { createErrorFromCode, createEosManager, createRetry, createSendMessages, oneBrokerCluster, silentLogger, type TestMessage } from '../support/kafkajs-internals.js';

/**
 * Two sends at once on one idempotent KafkaJS producer (the at-least-once strategies write every
 * partition's outputs through one). A produce request that fails after the broker wrote it (a
 * per-partition error in its answer, a timeout) gives its sequence numbers back, so that its retry
 * re-sends the records under them and the broker drops what it already has. In KafkaJS 2.2.4 (and
 * with patch 001) another send waiting for the broker took those numbers first: the broker took
 * its batch for the retry of the written one and answered success without writing it (a record
 * lost, acknowledged), and the real retry then came in under the next numbers and was written
 * again (a duplicate). The partitions sweep saw exactly that pair at 384 partitions: 1 missing and
 * 1 duplicated in an at-least-once run. patches/kafkajs+2.2.4+013+idempotent-sends-one-at-a-time.patch
 * lets one send at a time use an idempotent producer's sequence numbers; these tests drive the real
 * sendMessages, eosManager and retrier over a broker that deduplicates as Kafka does, and fail on the
 * unpatched package.
 */
const TOPIC = 'out';
const REQUEST_TIMED_OUT = 7;
const OUT_OF_ORDER_SEQUENCE_NUMBER = 45;

interface PartitionEntry {
  partition: number;
  firstSequence: number;
  messages: TestMessage[];
}

/**
 * One broker leading partitions 0 and 1 of `out` that keeps sequence numbers as Kafka does: a batch
 * whose first and last sequence equal an appended batch's is a duplicate (answered as written, not
 * appended again); otherwise it must start at the next sequence. `failAfterWrite(call)` makes a request
 * append its batches and then answer an error, as a timed-out or partly refused request does.
 */
function idempotentBroker(failAfterWrite: (call: number) => Error | undefined, delayMs = 20) {
  const logs = new Map<number, string[]>([
    [0, []],
    [1, []],
  ]);
  const state = new Map<number, { next: number; batches: Array<{ first: number; last: number }> }>();
  let calls = 0;
  const broker = {
    nodeId: 1,
    initProducerId: async () => ({ producerId: 7, producerEpoch: 0 }),
    produce: async ({ topicData }: { topicData: Array<{ topic: string; partitions: PartitionEntry[] }> }) => {
      const call = ++calls;
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      for (const { partitions } of topicData) {
        for (const { partition, firstSequence, messages } of partitions) {
          const seen = state.get(partition) ?? { next: 0, batches: [] };
          state.set(partition, seen);
          const last = firstSequence + messages.length - 1;
          if (seen.batches.some((batch) => batch.first === firstSequence && batch.last === last)) continue;
          if (firstSequence !== seen.next) throw createErrorFromCode(OUT_OF_ORDER_SEQUENCE_NUMBER);
          seen.batches.push({ first: firstSequence, last });
          seen.next = last + 1;
          logs.get(partition)?.push(...messages.map((m) => m.value));
        }
      }
      const failure = failAfterWrite(call);
      if (failure) throw failure;
      return { topics: [{ topicName: TOPIC, partitions: topicData.flatMap((t) => t.partitions.map(({ partition }) => ({ partition, errorCode: 0, baseOffset: '0' }))) }] };
    },
  };
  const cluster = oneBrokerCluster(broker, [0, 1]);

  return { cluster, logs };
}

async function idempotentProducer(cluster: ReturnType<typeof idempotentBroker>['cluster']) {
  const logger = silentLogger();
  const eosManager = createEosManager({ logger, cluster, transactional: false });
  await eosManager.initProducerId();
  const retrier = createRetry({ retries: 5, initialRetryTime: 10, maxRetryTime: 40, factor: 0, multiplier: 2 });
  const partitioner = ({ message }: { message: TestMessage }) => message.partition;
  const send = createSendMessages({ logger, cluster, partitioner, eosManager, retrier });
  return (...messages: TestMessage[]) => send({ acks: -1, topicMessages: [{ topic: TOPIC, messages }] });
}

describe('KafkaJS idempotent producer, two sends at once (patched)', () => {
  it('writes both sends once when the first request is written but answered with an error', async () => {
    const { cluster, logs } = idempotentBroker((call) => (call === 1 ? createErrorFromCode(REQUEST_TIMED_OUT) : undefined));
    const send = await idempotentProducer(cluster);

    // Both acknowledged: an at-least-once worker commits the inputs of both.
    await Promise.all([send({ value: 'a', partition: 0 }), send({ value: 'b', partition: 0 })]);

    expect(logs.get(0)).toEqual(['a', 'b']);
  });

  it('keeps sends to other partitions flowing, in order, after a failed request', async () => {
    const { cluster, logs } = idempotentBroker((call) => (call === 1 ? createErrorFromCode(REQUEST_TIMED_OUT) : undefined));
    const send = await idempotentProducer(cluster);

    await Promise.all([send({ value: 'a0', partition: 0 }, { value: 'a1', partition: 1 }), send({ value: 'b0', partition: 0 }), send({ value: 'c1', partition: 1 })]);

    expect(logs.get(0)).toEqual(['a0', 'b0']);
    expect(logs.get(1)).toEqual(['a1', 'c1']);
  });
});
