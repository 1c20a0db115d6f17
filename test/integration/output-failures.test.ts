import { afterEach, describe, expect, inject, it } from 'vitest';
import {
  type CommitStrategyName,
  createWorker,
  defineHandler,
  definePipeline,
  FAILURE_HEADERS,
  type PipelineDefinition,
  type Worker,
} from '../../src/index.js';
import { recordBatchSize } from '../../src/kafka/record-size.js';
import { committedOffsets, kafkaClient, produce, uniqueName, withAdmin } from '../support/kafka.js';
import { capturedLogger, createTopicsWithConfigs, exactlyOnePlace, whereInputsEnded } from '../support/outcomes.js';

/**
 * Failures after the handler: outputs the client cannot encode or the cluster would
 * refuse. Each case checks where every input ended (output, retry tiers, dead-letter
 * topic; read_committed, none missing, none twice), that the partition kept moving,
 * and what the user is told.
 */

const brokers = inject('kafkaBrokers');
const running: Worker[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((worker) => worker.stop(10_000)));
});

async function pipelineTopics(prefix: string, configs: { input?: Record<string, string>; copies?: Record<string, string> } = {}) {
  const input = uniqueName(prefix);
  const topics = { input, output: `${input}.out`, dlt: `${input}.dlt`, retry1: `${input}.retry.1`, retry2: `${input}.retry.2`, retry3: `${input}.retry.3` };
  await createTopicsWithConfigs(brokers, [
    { topic: input, configs: configs.input },
    { topic: topics.output },
    { topic: topics.dlt, configs: configs.copies },
    ...[topics.retry1, topics.retry2, topics.retry3].map((topic) => ({ topic, configs: configs.copies })),
  ]);
  const groupId = uniqueName('outputs');
  // The pipeline's group is <groupId>.<pipeline name>; every pipeline here is named after its prefix.
  return { ...topics, groupId, group: `${groupId}.${prefix}` };
}

async function start(groupId: string, pipeline: PipelineDefinition, strategy: CommitStrategyName = 'transactional') {
  const { logger, lines } = capturedLogger();
  const worker = createWorker({
    brokers,
    groupId,
    logger,
    sessionTimeoutMs: 10_000,
    heartbeatIntervalMs: 1000,
    commit: { strategy },
    pipelines: [pipeline],
  });
  running.push(worker);
  await worker.start();
  return { worker, lines };
}

const json = (n: number, extra: Record<string, unknown> = {}) => ({ key: `k${n}`, value: JSON.stringify({ n, ...extra }) });
const numbered = (count: number) => Array.from({ length: count }, (_, n) => json(n));

type Topics = Awaited<ReturnType<typeof pipelineTopics>>;
const places = (t: Topics) => ({ out: t.output, dlt: t.dlt, 'retry.1': t.retry1, 'retry.2': t.retry2, 'retry.3': t.retry3 });

/** Every input ended once; the bad one in the DLT with reason `reason`; the partition committed to its end. */
async function expectRouted(t: Topics, count: number, bad: number, reason: string) {
  const endings = await whereInputsEnded(brokers, t.input, places(t), count);
  const placeOf = exactlyOnePlace(endings, count);
  for (let offset = 0; offset < count; offset++) expect(placeOf.get(String(offset)), `offset ${offset}`).toBe(offset === bad ? 'dlt' : 'out');
  const dead = endings.records.find((record) => record.topic === t.dlt);
  expect(dead?.headers[FAILURE_HEADERS.reason]).toBe(reason);
  // Moving: every record after the bad one was written, and the offset committed past them all.
  await expect.poll(async () => (await committedOffsets(brokers, t.group, t.input)).get(0), { timeout: 15_000 }).toBe(String(count));
  return { dead: dead as NonNullable<typeof dead>, endings };
}

describe('output-side failures are routed like handler failures', () => {
  it.each<CommitStrategyName>(['transactional', 'batch'])('dead-letters an output to a partition that does not exist (%s)', async (strategy) => {
    const t = await pipelineTopics('nopart');
    await produce(brokers, t.input, numbered(10));
    const handler = defineHandler<{ n: number }, { n: number }>({
      handle: (record) => ({ value: { n: record.value.n }, ...(record.value.n === 3 ? { partition: 7 } : {}) }),
    });
    const { worker, lines } = await start(t.groupId, definePipeline({ name: 'nopart', input: t.input, output: t.output, handler }), strategy);

    const { dead } = await expectRouted(t, 10, 3, 'output-rejected');
    expect(dead.headers[FAILURE_HEADERS.errorClass]).toBe('OutputRejectedError');
    expect(dead.headers[FAILURE_HEADERS.errorMessage]).toBe(
      `output of ${t.input}/0/3 rejected: topic '${t.output}' partition 7 does not exist: the topic has partitions 0..0`,
    );
    expect(lines.some((line) => line.msg === 'record sent to the dead-letter topic' && line.offset === '3' && line.reason === 'output-rejected')).toBe(true);
    expect(worker.stats()).toMatchObject({ deadLettered: 1, recordsIn: 10, recordsOut: 9 });
  });

  it('dead-letters an output whose key is a number', async () => {
    const t = await pipelineTopics('numkey');
    await produce(brokers, t.input, numbered(10));
    const handler = defineHandler<{ n: number }, { n: number }>({
      // A JavaScript caller (or a cast) can hand over any key; KafkaJS throws in the middle of the write.
      handle: (record) => ({ value: { n: record.value.n }, key: record.value.n === 3 ? (42 as unknown as string) : `k${record.value.n}` }),
    });
    await start(t.groupId, definePipeline({ name: 'numkey', input: t.input, output: t.output, handler }));

    const { dead } = await expectRouted(t, 10, 3, 'output-rejected');
    expect(dead.headers[FAILURE_HEADERS.errorMessage]).toBe(
      `output of ${t.input}/0/3 rejected: topic '${t.output}': key is a number; it must be a string, a Buffer or null`,
    );
  });

  it('dead-letters an output to a topic that is not one of the pipeline outputs', async () => {
    const t = await pipelineTopics('unknown');
    await produce(brokers, t.input, numbered(10));
    const typo = `${t.input}.outt`;
    const handler = defineHandler<{ n: number }, { n: number }>({
      handle: (record) => ({ value: { n: record.value.n }, ...(record.value.n === 3 ? { topic: typo } : {}) }),
    });
    await start(t.groupId, definePipeline({ name: 'unknown', input: t.input, output: t.output, handler }));

    const { dead } = await expectRouted(t, 10, 3, 'output-rejected');
    expect(dead.headers[FAILURE_HEADERS.errorMessage]).toBe(
      `output of ${t.input}/0/3 rejected: topic '${typo}' is not an output of the pipeline (declared outputs: ${t.output}); add it to the pipeline's outputs`,
    );
    const topics = await withAdmin(brokers, (admin) => admin.listTopics());
    expect(topics).not.toContain(typo);
  });

  it('dead-letters, cut to fit, a failed record at the size limit whose failure headers push its copy over', async () => {
    const limit = 20_000;
    const t = await pipelineTopics('atlimit', { input: { 'max.message.bytes': String(limit) }, copies: { 'max.message.bytes': String(limit) } });
    // A JSON value that makes the record's batch exactly `limit` bytes.
    const at = (n: number, size: number) => {
      let pad = size;
      while (recordBatchSize({ key: `k${n}`, value: JSON.stringify({ n, pad: 'x'.repeat(pad) }) }) > size) pad--;
      return json(n, { pad: 'x'.repeat(pad) });
    };
    const big = at(3, limit);
    expect(recordBatchSize(big)).toBe(limit);
    // The size function agrees with the broker: one byte more is refused.
    const over = at(3, limit + 1);
    expect(recordBatchSize(over)).toBe(limit + 1);
    const producer = kafkaClient(brokers).producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    try {
      await expect(producer.send({ topic: t.input, acks: -1, messages: [over] })).rejects.toMatchObject({ type: 'MESSAGE_TOO_LARGE' });
      for (const message of [...numbered(3), big, ...numbered(10).slice(4)]) await producer.send({ topic: t.input, acks: -1, messages: [message] });
    } finally {
      await producer.disconnect();
    }
    const handler = defineHandler<{ n: number }, { n: number }>({
      handle: (record) => {
        if (record.value.n === 3) throw new Error('price service refused the order');
        return { value: { n: record.value.n } };
      },
    });
    const { lines } = await start(t.groupId, definePipeline({ name: 'atlimit', input: t.input, output: t.output, handler }));

    const { dead } = await expectRouted(t, 10, 3, 'copy-too-large');
    expect(dead.headers).toMatchObject({
      [FAILURE_HEADERS.errorClass]: 'Error',
      [FAILURE_HEADERS.errorMessage]: 'price service refused the order',
      [FAILURE_HEADERS.truncated]: String(Buffer.byteLength(big.value)),
    });
    expect(big.value.startsWith(dead.value ?? '-')).toBe(true);
    expect((dead.value ?? '').length).toBeLessThan(big.value.length);
    expect(lines.find((line) => line.msg === 'retry copy too large for its topic')).toMatchObject({ offset: '3', limitBytes: limit });
  });

  it('passes a 5 MB input through to an output with the default limit: dead-lettered with its payload cut, the partition moving', async () => {
    const t = await pipelineTopics('huge', { input: { 'max.message.bytes': String(6 * 1024 * 1024) } });
    const huge = json(3, { blob: 'y'.repeat(5 * 1024 * 1024) });
    for (const message of [...numbered(3), huge, ...numbered(10).slice(4)]) await produce(brokers, t.input, [message]);
    const handler = defineHandler<unknown, unknown>({ handle: (record) => ({ value: record.value }) });
    await start(t.groupId, definePipeline({ name: 'huge', input: t.input, output: t.output, handler }));

    const { dead } = await expectRouted(t, 10, 3, 'output-rejected');
    const size = recordBatchSize({ key: 'k3', value: huge.value, headers: { 'txstream-lineage': `${t.input}/0/3` } });
    expect(dead.headers[FAILURE_HEADERS.errorMessage]).toBe(
      `output of ${t.input}/0/3 rejected: topic '${t.output}': record of ${size} bytes is larger than the topic's max.message.bytes (1048588)`,
    );
    expect(dead.headers[FAILURE_HEADERS.truncated]).toBe(String(Buffer.byteLength(huge.value)));
    expect(Buffer.byteLength(dead.value ?? '')).toBeLessThan(1_048_588);
  });

  it.each<CommitStrategyName>(['transactional', 'batch'])('isolates a record the broker refuses after the output topic shrank its limit, and keeps the partition moving (%s)', async (strategy) => {
    const t = await pipelineTopics('shrunk');
    await produce(brokers, t.input, numbered(5));
    const handler = defineHandler<{ n: number; pad?: string }, { n: number; pad?: string }>({ handle: (record) => ({ value: record.value }) });
    await start(t.groupId, definePipeline({ name: 'shrunk', input: t.input, output: t.output, handler, commit: { batchSize: 50 } }), strategy);
    await expect.poll(async () => (await committedOffsets(brokers, t.group, t.input)).get(0), { timeout: 30_000 }).toBe('5');
    // The worker has read the output's limit (1 MiB); now an operator lowers it.
    await withAdmin(brokers, (admin) =>
      admin.alterConfigs({ validateOnly: false, resources: [{ type: 2, name: t.output, configEntries: [{ name: 'max.message.bytes', value: '5000' }] }] }),
    );
    // The broker applies a topic config change after it answers (it reaches the partition's log a
    // moment after its metadata): a record written meanwhile would pass under the old limit.
    await expect
      .poll(
        () =>
          withAdmin(brokers, async (admin) => {
            const { resources } = await admin.describeConfigs({ includeSynonyms: false, resources: [{ type: 2, name: t.output, configNames: ['max.message.bytes'] }] });
            return resources[0]?.configEntries[0]?.configValue;
          }),
        { timeout: 30_000 },
      )
      .toBe('5000');
    await new Promise((resolve) => setTimeout(resolve, 1000));
    await produce(brokers, t.input, [...numbered(20).slice(5, 12), json(12, { pad: 'z'.repeat(10_000) }), ...numbered(20).slice(13)]);

    const { dead } = await expectRouted(t, 20, 12, 'output-rejected');
    expect(dead.headers[FAILURE_HEADERS.errorMessage]).toMatch(new RegExp(`topic '${t.output.replace(/\./g, '\\.')}'.*(max\\.message\\.bytes \\(5000\\)|record of \\d+ bytes)`));
  });
});

