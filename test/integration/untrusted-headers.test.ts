import { afterEach, describe, expect, inject, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../src/config/schema.js';
import { createKafka } from '../../src/kafka/client.js';
import { createLogger } from '../../src/observability/logger.js';
import { resolvePipeline } from '../../src/pipeline/definition.js';
import { replayDeadLetters } from '../../src/routing/replay.js';
import { createWorker, defineHandler, definePipeline, FAILURE_HEADERS, LINEAGE_HEADER, REPLAY_HEADERS, type Worker } from '../../src/index.js';
import { committedOffsets, produce, readTopics, uniqueName } from '../support/kafka.js';
import { createTopicsWithConfigs } from '../support/outcomes.js';

/**
 * Failure headers on retry and dead-letter topics are input like any other: a forged
 * due time must not stop a tier, a forged original topic must not steer a replay.
 */

const brokers = inject('kafkaBrokers');
const running: Worker[] = [];
const quiet = () => createLogger({ level: 'silent' });

afterEach(async () => {
  await Promise.all(running.splice(0).map((worker) => worker.stop(10_000)));
});

async function topics(prefix: string) {
  const input = uniqueName(prefix);
  const names = { input, output: `${input}.out`, dlt: `${input}.dlt`, retry1: `${input}.retry.1`, victim: `${input}.victim` };
  await createTopicsWithConfigs(brokers, Object.values(names).map((topic) => ({ topic })));
  return { ...names, groupId: uniqueName('untrusted') };
}

/** Failure headers as txstream writes them on a retry copy of `input`/0/`offset`. */
function retryHeaders(input: string, offset: number, overrides: Record<string, string> = {}) {
  const now = Date.now();
  return {
    [FAILURE_HEADERS.attempt]: '1',
    [FAILURE_HEADERS.dueAt]: String(now),
    [FAILURE_HEADERS.firstFailedAt]: new Date(now).toISOString(),
    [FAILURE_HEADERS.failedAt]: new Date(now).toISOString(),
    [FAILURE_HEADERS.originalTopic]: input,
    [FAILURE_HEADERS.originalPartition]: '0',
    [FAILURE_HEADERS.originalOffset]: String(offset),
    [FAILURE_HEADERS.originalTimestamp]: String(now),
    [FAILURE_HEADERS.errorClass]: 'Error',
    [FAILURE_HEADERS.errorMessage]: 'earlier failure',
    [LINEAGE_HEADER]: `${input}/0/${offset}`,
    ...overrides,
  };
}

const echo = defineHandler<{ n: number }, { n: number }>({ handle: (record) => ({ value: record.value }) });

describe('untrusted failure headers', () => {
  it('dead-letters a retry copy with a forged due time (and one naming another topic) instead of pausing the tier', async () => {
    const t = await topics('forged');
    const tenYears = Date.now() + 10 * 365 * 24 * 3600 * 1000;
    await produce(brokers, t.retry1, [
      { key: 'a', value: JSON.stringify({ n: 100 }), headers: retryHeaders(t.input, 100, { [FAILURE_HEADERS.dueAt]: String(tenYears) }) },
      { key: 'c', value: JSON.stringify({ n: 101 }), headers: retryHeaders(t.input, 101, { [FAILURE_HEADERS.originalTopic]: t.victim }) },
      { key: 'b', value: JSON.stringify({ n: 102 }), headers: retryHeaders(t.input, 102) },
    ]);
    await produce(brokers, t.input, [0, 1, 2].map((n) => ({ key: `k${n}`, value: JSON.stringify({ n }) })));
    const worker = createWorker({
      brokers,
      groupId: t.groupId,
      logger: quiet(),
      pipelines: [definePipeline({ name: 'forged', input: t.input, output: t.output, handler: echo, errors: { onError: 'retry', attempts: 1, backoff: { initialMs: 100, maxMs: 1000 } } })],
    });
    running.push(worker);
    await worker.start();

    const records = await readTopics(brokers, [t.output, t.dlt, t.victim], { until: (r) => r.length >= 6, quietMs: 2000 });
    const where = records.map((r) => [r.topic === t.output ? 'out' : r.topic === t.dlt ? 'dlt' : 'victim', JSON.parse(r.value ?? '{}').n]).sort((a, b) => (a[1] as number) - (b[1] as number));
    expect(where).toEqual([['out', 0], ['out', 1], ['out', 2], ['dlt', 100], ['dlt', 101], ['out', 102]]);
    const dead = records.filter((r) => r.topic === t.dlt);
    for (const record of dead) {
      expect(record.headers).toMatchObject({ [FAILURE_HEADERS.reason]: 'invalid-failure-headers', [FAILURE_HEADERS.errorClass]: 'InvalidFailureHeadersError' });
    }
    expect(dead[0]?.headers[FAILURE_HEADERS.errorMessage]).toMatch(new RegExp(`^retry copy at ${t.retry1}/0/0: txstream-due-at is '${tenYears}'; it must be epoch milliseconds no later than \\d+`));
    expect(dead[1]?.headers[FAILURE_HEADERS.errorMessage]).toContain(`txstream-original-topic is '${t.victim}'; this tier belongs to input '${t.input}'`);
    // The valid copy behind the forged one kept its lineage; the tier committed past all three.
    expect(records.find((r) => r.topic === t.output && JSON.parse(r.value ?? '{}').n === 102)?.headers[LINEAGE_HEADER]).toBe(`${t.input}/0/102`);
    await expect.poll(async () => (await committedOffsets(brokers, `${t.groupId}.forged`, t.retry1)).get(0), { timeout: 15_000 }).toBe('3');
  });

  it('never replays to a topic outside the pipeline: stops there, or passes it over with --skip-unmatched, and says so', async () => {
    const t = await topics('replay');
    const definition = definePipeline({ name: 'replay', input: t.input, output: t.output, handler: echo, errors: { onError: 'dead-letter' } });
    const pipeline = resolvePipeline(definition, { commit: DEFAULT_SETTINGS.commit, groupId: t.groupId });
    const dlq = (n: number, originalTopic: string) => {
      const { [FAILURE_HEADERS.dueAt]: _due, ...headers } = retryHeaders(t.input, n, { [FAILURE_HEADERS.originalTopic]: originalTopic, [FAILURE_HEADERS.reason]: 'policy-dead-letter' });
      return { key: `k${n}`, value: JSON.stringify({ n }), headers };
    };
    await produce(brokers, t.dlt, [dlq(1, t.victim), dlq(2, t.input)]);
    const kafka = createKafka({ brokers, clientId: 'replay-test', logger: quiet() });

    const stopped = await replayDeadLetters({ kafka, pipeline, logger: quiet() });
    expect(stopped).toMatchObject({ replayed: 0, passedOver: 0 });
    expect(stopped.stoppedAt).toEqual([
      {
        topic: t.dlt,
        partition: 0,
        offset: '0',
        reason: `not replayable: txstream-original-topic names '${t.victim}', which is not an input of the pipeline (${t.input})`,
      },
    ]);
    // Stopping did not move the cursor: the same replay stops at the same record.
    expect((await replayDeadLetters({ kafka, pipeline, logger: quiet() })).stoppedAt).toHaveLength(1);

    const skipped = await replayDeadLetters({ kafka, pipeline, logger: quiet(), skipUnmatched: true });
    expect(skipped).toMatchObject({ replayed: 1, passedOver: 1, stoppedAt: [] });
    expect(skipped.passedOverSample.map((record) => record.offset)).toEqual(['0']);
    expect(await replayDeadLetters({ kafka, pipeline, logger: quiet() })).toMatchObject({ scanned: 0, replayed: 0 });

    const written = await readTopics(brokers, [t.input, t.victim], { until: (r) => r.length >= 1, quietMs: 1500 });
    expect(written.map((r) => [r.topic, JSON.parse(r.value ?? '{}').n, r.headers[REPLAY_HEADERS.replayedFrom]])).toEqual([[t.input, 2, `${t.dlt}/0/1`]]);
  });
});
