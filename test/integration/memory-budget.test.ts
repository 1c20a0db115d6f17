import { afterEach, describe, expect, inject, it } from 'vitest';
import { fetchSizing, MIN_MEMORY_BUDGET_MB } from '../../src/config/memory-budget.js';
import { createWorker, defineHandler, definePipeline, LINEAGE_HEADER, type Worker } from '../../src/index.js';
import { createLogger } from '../../src/observability/logger.js';
import { createTopics, produce, readTopics, uniqueName } from '../support/kafka.js';

/**
 * The smallest memory budget fetches far less than one large record: such a record still comes
 * (the broker returns the first batch of a response's first partition whole, KIP-74, and KafkaJS
 * shuffles the partitions of every fetch request), so every partition makes progress.
 */

const brokers = inject('kafkaBrokers');
const running: Worker[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((worker) => worker.stop(10_000)));
});

describe('memory budget', () => {
  it('at the smallest budget, records larger than a whole fetch response are consumed on every partition', async () => {
    const partitions = 6;
    const [sizing] = fetchSizing(MIN_MEMORY_BUDGET_MB, [partitions]);
    if (!sizing) throw new Error('no sizing');
    // ~600 KB of JSON per record, one record batch each: over the response limit and each partition's share.
    const large = `"${'x'.repeat(600_000)}"`;
    expect(large.length).toBeGreaterThan(sizing.maxBytes);
    const input = uniqueName('budget');
    const output = `${input}.out`;
    await createTopics(brokers, [{ topic: input, partitions }, { topic: output, partitions }, { topic: `${input}.dlt` }]);
    for (let partition = 0; partition < partitions; partition++) {
      await produce(brokers, input, [{ partition, value: large }]);
      await produce(brokers, input, [{ partition, value: `{"small":${partition}}` }]);
    }
    const worker = createWorker({
      brokers,
      groupId: uniqueName('budget'),
      logger: createLogger({ level: 'silent' }),
      sessionTimeoutMs: 10_000,
      heartbeatIntervalMs: 1000,
      memoryBudgetMb: MIN_MEMORY_BUDGET_MB,
      pipelines: [
        definePipeline({
          name: 'budget',
          input,
          output,
          handler: defineHandler<unknown, unknown>({ handle: (record) => ({ value: record.value }) }),
          errors: { onError: 'dead-letter' },
        }),
      ],
    });
    running.push(worker);
    await worker.start();
    const records = await readTopics(brokers, [output], { until: (r) => r.length >= 2 * partitions, quietMs: 500, timeoutMs: 60_000 });
    const expected = Array.from({ length: partitions }, (_, partition) => [`${input}/${partition}/0`, `${input}/${partition}/1`]).flat();
    expect(records.map((r) => r.headers[LINEAGE_HEADER]).sort()).toEqual(expected.sort());
    expect(records.filter((r) => r.value === large)).toHaveLength(partitions);
  });

  it('refuses a budget too small to start, naming the setting and the accepted range', () => {
    expect(() =>
      createWorker({
        brokers,
        memoryBudgetMb: MIN_MEMORY_BUDGET_MB - 1,
        pipelines: [definePipeline({ name: 'p', input: 'in', output: 'out', handler: defineHandler({ handle: () => [] }) })],
      }),
    ).toThrow(new RegExp(`memoryBudgetMb ${MIN_MEMORY_BUDGET_MB - 1} is too small; accepted: a whole number of MiB from ${MIN_MEMORY_BUDGET_MB}`));
  });
});
