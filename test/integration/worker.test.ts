import { afterEach, describe, expect, inject, it } from 'vitest';
import { auditLineage } from '../../src/audit/lineage-audit.js';
import { createWorker, FAILURE_HEADERS, defineHandler, definePipeline, LINEAGE_HEADER, type Worker } from '../../src/index.js';
import { createLogger } from '../../src/observability/logger.js';
import type { WorkerOptions } from '../../src/worker/worker.js';
import {
  caughtUp,
  committedOffsets,
  createPipelineTopics,
  createTopics,
  endOffsets,
  inputLineage,
  produce,
  produceAborted,
  produceNumbered,
  readTopics,
  uniqueName,
} from '../support/kafka.js';
import { capturedLogger } from '../support/captured-logger.js';
import { waitFor } from '../support/wait.js';

const brokers = inject('kafkaBrokers');
const running: Worker[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((worker) => worker.stop(10_000)));
});

async function topicsFor(prefix: string, partitions = 3) {
  return { ...(await createPipelineTopics(brokers, prefix, partitions)), groupPrefix: uniqueName('group') };
}

async function startWorker(
  options: Omit<WorkerOptions, 'brokers' | 'logger' | 'sessionTimeoutMs' | 'heartbeatIntervalMs'>,
): Promise<Worker> {
  const worker = createWorker({
    brokers,
    logger: capturedLogger(),
    sessionTimeoutMs: 10_000,
    heartbeatIntervalMs: 1000,
    ...options,
  });
  running.push(worker);
  await worker.start();
  return worker;
}

const double = defineHandler<{ n: number }, { n: number; doubled: number }>({
  handle: (record) => ({ value: { n: record.value.n, doubled: record.value.n * 2 } }),
});

describe('the transactional worker', () => {
  it('turns N inputs into N outputs, each once by lineage, and commits every input offset', async () => {
    const { input, output, groupPrefix } = await topicsFor('happy');
    await produceNumbered(brokers, input, 3000);
    const worker = await startWorker({
      groupId: groupPrefix,
      pipelines: [definePipeline({ name: 'double', input, output, handler: double })],
    });
    const groupId = `${groupPrefix}.double`;

    await waitFor(() => caughtUp(brokers, groupId, input), 'offsets committed to the end of the input', 60_000, 250);

    const outputs = await readTopics(brokers, [output], { until: (r) => r.length >= 3000 });
    const audit = auditLineage(
      await inputLineage(brokers, input, 3000),
      outputs.map((r) => r.headers[LINEAGE_HEADER]),
    );
    expect(audit).toMatchObject({ inputs: 3000, outputs: 3000, missing: 0, duplicates: 0, unexpected: 0 });
    expect(JSON.parse(outputs[0]?.value ?? '{}')).toHaveProperty('doubled');
    expect(worker.stats()).toMatchObject({ recordsIn: 3000, recordsOut: 3000, transactionsAborted: 0 });
    expect(worker.stats().transactionsCommitted).toBeGreaterThan(0);
  });

  it('commits past an aborted transaction at the end of its input: caught up, none of its records handled', async () => {
    const { input, output, groupPrefix } = await topicsFor('aborted-tail', 1);
    await produceNumbered(brokers, input, 20);
    const worker = await startWorker({ groupId: groupPrefix, pipelines: [definePipeline({ name: 'double', input, output, handler: double })] });
    const groupId = `${groupPrefix}.double`;
    await waitFor(() => caughtUp(brokers, groupId, input), 'the first 20 inputs committed', 60_000, 250);

    // Fetched on its own, the aborted transaction is a batch with no record left to hand over:
    // the committed offset must still move past it and its marker, or the lag never reaches 0.
    await produceAborted(brokers, input, [{ key: 'k', value: JSON.stringify({ n: 99 }) }, { key: 'k', value: JSON.stringify({ n: 98 }) }]);
    // The abort returns before the coordinator has written the marker; until then the end offset
    // read here (the last stable offset) is still 20 and "caught up" would hold at once (Kafka 4.1).
    await waitFor(async () => (await endOffsets(brokers, input)).get(0) === '23', 'the abort marker written', 30_000, 100);
    await waitFor(() => caughtUp(brokers, groupId, input), 'offsets committed past the aborted transaction', 30_000, 250);
    expect((await committedOffsets(brokers, groupId, input)).get(0)).toBe('23');
    expect(worker.stats()).toMatchObject({ recordsIn: 20, recordsOut: 20 });
  });

  it('keeps outputs invisible to read_committed readers until the transaction commits', async () => {
    const { input, output, groupPrefix } = await topicsFor('visibility', 1);
    await produceNumbered(brokers, input, 50);
    // One long transaction: every unit of 10 records is written into it, and it commits after 10 s.
    const worker = await startWorker({
      groupId: groupPrefix,
      commit: { batchSize: 10, commitIntervalMs: 10_000 },
      pipelines: [definePipeline({ name: 'double', input, output, handler: double })],
    });

    const uncommitted = await readTopics(brokers, [output], {
      readCommitted: false,
      until: (r) => r.length >= 50,
      quietMs: 200,
      timeoutMs: 8000,
    });
    expect(uncommitted).toHaveLength(50);
    const beforeCommit = await readTopics(brokers, [output], { readCommitted: true, quietMs: 1000, timeoutMs: 1000 });
    expect(beforeCommit).toHaveLength(0);
    expect((await committedOffsets(brokers, `${groupPrefix}.double`, input)).get(0)).toBe('-1');

    const afterCommit = await readTopics(brokers, [output], { readCommitted: true, until: (r) => r.length >= 50, timeoutMs: 20_000 });
    expect(afterCommit).toHaveLength(50);
    expect((await committedOffsets(brokers, `${groupPrefix}.double`, input)).get(0)).toBe('50');
    expect(worker.stats().transactionsCommitted).toBe(1);
  });

  it('aborts the transaction when the handler throws mid-batch: nothing visible, offsets unmoved', async () => {
    const { input, output, groupPrefix } = await topicsFor('throws', 1);
    await produceNumbered(brokers, input, 100);
    const failing = defineHandler<{ n: number }, { n: number }>({
      handle: (record) => {
        if (record.value.n === 55) throw new Error('downstream service unavailable');
        return { value: record.value };
      },
    });
    // Units of 10 go into one long transaction; the unit holding n=55 fails after five units were
    // sent. Under the block policy the partition stops there and retries in place.
    const worker = await startWorker({
      groupId: groupPrefix,
      commit: { batchSize: 10, commitIntervalMs: 60_000 },
      pipelines: [definePipeline({ name: 'failing', input, output, handler: failing, errors: { onError: 'block' } })],
    });

    await waitFor(() => worker.stats().handlerFailures >= 2, 'the failing batch to be retried', 20_000);

    expect(worker.stats().transactionsAborted).toBeGreaterThanOrEqual(1);
    // Counted by cause (txstream_transactions_aborted_total{cause}): the record blocking its partition.
    expect(Object.keys(worker.stats().transactionsAbortedBy)).toEqual(['BlockedRecord']);
    expect(worker.stats().transactionsCommitted).toBe(0);
    // The first units' outputs reached the log inside the aborted transaction...
    const written = await readTopics(brokers, [output], {
      readCommitted: false,
      until: (r) => r.length >= 50,
      quietMs: 200,
      timeoutMs: 10_000,
    });
    expect(written.length).toBeGreaterThanOrEqual(50);
    // ...and a read_committed reader sees none of them.
    expect(await readTopics(brokers, [output], { readCommitted: true, quietMs: 1000, timeoutMs: 1000 })).toHaveLength(0);
    expect((await committedOffsets(brokers, `${groupPrefix}.failing`, input)).get(0)).toBe('-1');
  });

  it('sends a record that is not valid JSON to the dead-letter topic and keeps going', async () => {
    const { input, output, dlt, groupPrefix } = await topicsFor('malformed', 1);
    await produce(brokers, input, [
      { key: 'a', value: JSON.stringify({ n: 1 }) },
      { key: 'b', value: '{"n": 2' },
      { key: 'c', value: JSON.stringify({ n: 3 }) },
    ]);
    const worker = await startWorker({
      groupId: groupPrefix,
      pipelines: [definePipeline({ name: 'double', input, output, handler: double })],
    });

    const outputs = await readTopics(brokers, [output], { until: (r) => r.length >= 2 });
    expect(outputs.map((r) => JSON.parse(r.value ?? '{}').n)).toEqual([1, 3]);
    const [dead] = await readTopics(brokers, [dlt], { until: (r) => r.length >= 1 });
    expect(dead?.value).toBe('{"n": 2');
    expect(dead?.key).toBe('b');
    expect(dead?.headers[FAILURE_HEADERS.errorClass]).toBe('DecodeError');
    expect(dead?.headers[FAILURE_HEADERS.originalOffset]).toBe('1');
    expect(dead?.headers[FAILURE_HEADERS.originalTopic]).toBe(input);
    expect(dead?.headers[FAILURE_HEADERS.errorMessage]).toMatch(new RegExp(`${input}\\[0\\]@1 is not valid JSON`));
    expect(worker.stats()).toMatchObject({ deadLettered: 1, recordsIn: 3, recordsOut: 2 });
  });

  it('never rewrites a number past 2^53: json dead-letters it as decode-failed naming it, json-bigint carries it exactly', async () => {
    const { input, output, dlt, groupPrefix } = await topicsFor('bignum', 1);
    const big = '{"id":12345678901234567890,"n":1}';
    await produce(brokers, input, [{ key: 'a', value: big }, { key: 'b', value: JSON.stringify({ id: 7, n: 2 }) }]);
    const echo = defineHandler({ handle: (record) => ({ value: record.value }) });
    await startWorker({ groupId: groupPrefix, pipelines: [definePipeline({ name: 'exact', input, output, handler: echo })] });
    const [dead] = await readTopics(brokers, [dlt], { until: (r) => r.length >= 1 });
    expect(dead?.value).toBe(big);
    expect(dead?.headers[FAILURE_HEADERS.reason]).toBe('decode-failed');
    expect(dead?.headers[FAILURE_HEADERS.errorMessage]).toMatch(/the JSON number 12345678901234567890 \(key 'id'\) cannot be held exactly/);
    const outputs = await readTopics(brokers, [output], { until: (r) => r.length >= 1 });
    expect(outputs.map((r) => r.value)).toEqual(['{"id":7,"n":2}']);

    const exact = uniqueName('bignum-exact');
    await createTopics(brokers, [{ topic: `${exact}.out` }, { topic: `${exact}.dlt` }]);
    await startWorker({
      groupId: `${groupPrefix}-exact`,
      pipelines: [definePipeline({ name: 'exact', input, output: `${exact}.out`, deadLetterTopic: `${exact}.dlt`, serde: { input: 'json-bigint', output: 'json-bigint' }, handler: echo })],
    });
    const copied = await readTopics(brokers, [`${exact}.out`], { until: (r) => r.length >= 2 });
    expect(copied.map((r) => r.value)).toEqual([big, '{"id":7,"n":2}']);
  });

  it('refuses to start when a topic it needs does not exist, naming it', async () => {
    const input = uniqueName('missing');
    await createTopics(brokers, [{ topic: input }]);
    const worker = createWorker({
      brokers,
      logger: createLogger({ level: 'silent' }),
      pipelines: [definePipeline({ name: 'p', input, output: `${input}.nowhere`, handler: double })],
    });
    await expect(worker.start()).rejects.toThrow(new RegExp(`topics do not exist: ${input}\\.nowhere .*${input}\\.dlt`));
  });
});
