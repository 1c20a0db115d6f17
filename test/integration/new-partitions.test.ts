import { afterEach, describe, expect, inject, it } from 'vitest';
import { createWorker, defineHandler, definePipeline, LINEAGE_HEADER, type Worker } from '../../src/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { createTopics, produce, readTopics, uniqueName, withAdmin } from '../support/kafka.js';

/** Partitions added to an input are consumed within the metadata refresh interval, not KafkaJS's 5 minutes. */

const brokers = inject('kafkaBrokers');
const running: Worker[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((worker) => worker.stop(10_000)));
});

describe('new partitions of an input', () => {
  it('are picked up within metadataMaxAgeMs and a rebalance', async () => {
    const input = uniqueName('grow');
    const output = `${input}.out`;
    await createTopics(brokers, [{ topic: input }, { topic: output, partitions: 3 }, { topic: `${input}.dlt` }]);
    const handler = defineHandler<unknown, unknown>({ handle: (record) => ({ value: record.value }) });
    const worker = createWorker({
      brokers,
      groupId: uniqueName('grow'),
      logger: createLogger({ level: 'silent' }),
      sessionTimeoutMs: 10_000,
      heartbeatIntervalMs: 1000,
      metadataMaxAgeMs: 2000,
      pipelines: [definePipeline({ name: 'grow', input, output, handler, errors: { onError: 'dead-letter' } })],
    });
    running.push(worker);
    await worker.start();
    await produce(brokers, input, [{ partition: 0, value: '{"n":0}' }]);
    await readTopics(brokers, [output], { until: (r) => r.length >= 1, quietMs: 0 });

    await withAdmin(brokers, (admin) => admin.createPartitions({ topicPartitions: [{ topic: input, count: 3 }] }));
    const grown = Date.now();
    await produce(brokers, input, [1, 2].map((partition) => ({ partition, value: `{"n":${partition}}` })));
    const records = await readTopics(brokers, [output], { until: (r) => r.length >= 3, quietMs: 500, timeoutMs: 40_000 });
    const seconds = (Date.now() - grown) / 1000;
    console.log(`records on new partitions processed ${seconds.toFixed(1)} s after the partitions were added`);
    expect(records.map((r) => r.headers[LINEAGE_HEADER]).sort()).toEqual([`${input}/0/0`, `${input}/1/0`, `${input}/2/0`]);
    expect(seconds).toBeLessThan(30);
  });
});
