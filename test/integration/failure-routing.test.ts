import { afterEach, describe, expect, inject, it } from 'vitest';
import { auditLineage } from '../../src/audit/lineage-audit.js';
import { createKafka } from '../../src/kafka/client.js';
import { createLogger } from '../../src/observability/logger.js';
import { resolvePipeline } from '../../src/pipeline/definition.js';
import { replayDeadLetters } from '../../src/routing/replay.js';
import { DEFAULT_SETTINGS } from '../../src/config/schema.js';
import {
  createWorker,
  defineHandler,
  definePipeline,
  FAILURE_HEADERS,
  LINEAGE_HEADER,
  NonRetryableError,
  type PipelineDefinition,
  REPLAY_HEADERS,
  type Worker,
} from '../../src/index.js';
import { createPipelineTopics, produce, produceAborted, readTopics, uniqueName } from '../support/kafka.js';

const brokers = inject('kafkaBrokers');
const running: Worker[] = [];
const quiet = () => createLogger({ level: 'silent' });

afterEach(async () => {
  await Promise.all(running.splice(0).map((worker) => worker.stop(10_000)));
});

async function topicsFor(prefix: string, retryTiers = 3) {
  return { ...(await createPipelineTopics(brokers, prefix, 1, retryTiers)), groupId: uniqueName('routing') };
}

async function start(groupId: string, pipeline: PipelineDefinition): Promise<Worker> {
  const worker = createWorker({ brokers, groupId, logger: quiet(), sessionTimeoutMs: 10_000, heartbeatIntervalMs: 1000, pipelines: [pipeline] });
  running.push(worker);
  await worker.start();
  return worker;
}

const json = (n: number, extra: Record<string, unknown> = {}) => ({ key: `k${n % 10}`, value: JSON.stringify({ n, ...extra }) });

describe('failure routing', () => {
  it('retries a poison record three times with backoff, then dead-letters it, while 10,000 healthy records flow past', async () => {
    const { input, output, dlt, groupId } = await topicsFor('poison');
    await produce(brokers, input, [...Array.from({ length: 5000 }, (_, i) => json(i)), json(-1, { poison: true }), ...Array.from({ length: 5000 }, (_, i) => json(5000 + i))]);
    const poisonCalls: number[] = [];
    const handler = defineHandler<{ n: number; poison?: boolean }, { n: number }>({
      handle: (record) => {
        if (record.value.poison) {
          poisonCalls.push(Date.now());
          throw new Error('payment service timed out');
        }
        return { value: { n: record.value.n } };
      },
    });
    const backoff = { initialMs: 1000, multiplier: 2, maxMs: 10_000, jitter: 0 };
    const worker = await start(groupId, definePipeline({ name: 'pay', input, output, handler, errors: { onError: 'retry', attempts: 3, backoff } }));

    const [dead] = await readTopics(brokers, [dlt], { until: (r) => r.length >= 1, timeoutMs: 60_000 });
    const healthy = await readTopics(brokers, [output], { until: (r) => r.length >= 10_000 });

    // main, then retries after ~1 s, ~2 s and ~4 s: each gap within [-100 ms, +2 s] of its backoff.
    expect(poisonCalls).toHaveLength(4);
    const gaps = poisonCalls.slice(1).map((at, i) => at - (poisonCalls[i] as number));
    [1000, 2000, 4000].forEach((expected, i) => {
      expect(gaps[i]).toBeGreaterThanOrEqual(expected - 100);
      expect(gaps[i]).toBeLessThanOrEqual(expected + 2000);
    });
    const headers = dead?.headers ?? {};
    expect(headers).toMatchObject({
      [FAILURE_HEADERS.attempt]: '4',
      [FAILURE_HEADERS.reason]: 'retries-exhausted',
      [FAILURE_HEADERS.originalTopic]: input,
      [FAILURE_HEADERS.originalPartition]: '0',
      [FAILURE_HEADERS.originalOffset]: '5000',
      // (-1 % 10 is -1 in JavaScript)
      [FAILURE_HEADERS.originalKey]: 'k-1',
      [FAILURE_HEADERS.errorClass]: 'Error',
      [FAILURE_HEADERS.errorMessage]: 'payment service timed out',
      [LINEAGE_HEADER]: `${input}/0/5000`,
    });
    expect(headers[FAILURE_HEADERS.errorStack]).toMatch(/payment service timed out/);
    expect(Date.parse(headers[FAILURE_HEADERS.firstFailedAt] ?? '')).toBeLessThan(Date.parse(headers[FAILURE_HEADERS.failedAt] ?? ''));
    expect(JSON.parse(dead?.value ?? '{}')).toEqual({ n: -1, poison: true });

    // The 5,000 records behind the poison were not held up by its 7 s of backoff: all of
    // them were written while the poison still waited for its last retries.
    expect(healthy).toHaveLength(10_000);
    const lastHealthy = Math.max(...healthy.map((r) => r.timestamp));
    const firstFailure = poisonCalls[0] as number;
    console.log(`poison retry gaps ${gaps.join(', ')} ms (backoff 1000, 2000, 4000); healthy records done ${lastHealthy - firstFailure} ms after its first failure`);
    expect(lastHealthy).toBeLessThan((poisonCalls[2] as number) + 1000);
    expect(worker.stats()).toMatchObject({ retried: 3, deadLettered: 1, recordsOut: 10_000 });
  });

  it('gives exactly one output for a transient failure that succeeds at attempt 2', async () => {
    const { input, output, dlt, groupId } = await topicsFor('transient');
    await produce(brokers, input, Array.from({ length: 20 }, (_, i) => json(i)));
    const handler = defineHandler<{ n: number }, { n: number; attempt: number }>({
      handle: (record) => {
        if (record.value.n === 7 && record.attempt === 1) throw new Error('connection reset');
        return { value: { n: record.value.n, attempt: record.attempt } };
      },
    });
    const worker = await start(groupId, definePipeline({ name: 'flaky', input, output, handler, errors: { onError: 'retry', attempts: 3, backoff: { initialMs: 200, jitter: 0 } } }));

    const outputs = await readTopics(brokers, [output], { until: (r) => r.length >= 20, quietMs: 2000 });
    expect(outputs).toHaveLength(20);
    const seven = outputs.filter((r) => JSON.parse(r.value ?? '{}').n === 7);
    expect(seven).toHaveLength(1);
    expect(JSON.parse(seven[0]?.value ?? '{}').attempt).toBe(2);
    expect(seven[0]?.headers[LINEAGE_HEADER]).toBe(`${input}/0/7`);
    expect(await readTopics(brokers, [dlt], { quietMs: 500, timeoutMs: 500 })).toHaveLength(0);
    expect(worker.stats()).toMatchObject({ retried: 1, deadLettered: 0 });
  });

  it('dead-letters malformed JSON and a wrong schema with their reasons and keeps running', async () => {
    const { input, output, dlt, groupId } = await topicsFor('badinput');
    const handler = defineHandler<{ n: unknown }, { n: number }>({
      handle: (record) => {
        if (typeof record.value.n !== 'number') throw new NonRetryableError(`schema: n must be a number, got ${typeof record.value.n}`);
        return { value: { n: record.value.n } };
      },
    });
    const worker = await start(groupId, definePipeline({ name: 'strict', input, output, handler }));
    await produce(brokers, input, [json(1), { key: 'bad', value: '{"n": ' }, { key: 'wrong', value: JSON.stringify({ n: 'two' }) }, json(3)]);

    const dead = await readTopics(brokers, [dlt], { until: (r) => r.length >= 2 });
    expect(dead.map((r) => [r.key, r.headers[FAILURE_HEADERS.reason], r.headers[FAILURE_HEADERS.errorClass]])).toEqual([
      ['bad', 'decode-failed', 'DecodeError'],
      ['wrong', 'non-retryable', 'NonRetryableError'],
    ]);
    expect(dead[1]?.headers[FAILURE_HEADERS.errorMessage]).toBe('schema: n must be a number, got string');
    // Still running: later records are processed.
    await produce(brokers, input, [json(4)]);
    const outputs = await readTopics(brokers, [output], { until: (r) => r.length >= 3 });
    expect(outputs.map((r) => JSON.parse(r.value ?? '{}').n)).toEqual([1, 3, 4]);
    expect(worker.status).toBe('running');
  });

  it('blocks in place and keeps order: a record that fails twice is followed by its successors, in order', async () => {
    const { input, output, groupId } = await topicsFor('block', 0);
    await produce(brokers, input, Array.from({ length: 20 }, (_, i) => json(i)));
    const calls = new Map<number, number>();
    const handler = defineHandler<{ n: number }, { n: number }>({
      handle: (record) => {
        calls.set(record.value.n, (calls.get(record.value.n) ?? 0) + 1);
        if (record.value.n === 5 && (calls.get(5) ?? 0) <= 2) throw new Error('lock timeout');
        return { value: { n: record.value.n } };
      },
    });
    await start(groupId, definePipeline({ name: 'ordered', input, output, handler, errors: { onError: 'block', backoff: { initialMs: 200, jitter: 0 } } }));

    const outputs = await readTopics(brokers, [output], { until: (r) => r.length >= 20, quietMs: 2000 });
    expect(outputs.map((r) => JSON.parse(r.value ?? '{}').n)).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(calls.get(5)).toBe(3);
  });

  it('replays a dead-letter topic that ends in an aborted transaction: the replay reaches the end and stops', async () => {
    const { input, output, dlt, groupId } = await topicsFor('replay-aborted', 0);
    // Written by a transaction that aborted (a worker's, killed or fenced mid-transaction): nothing of it is readable.
    await produceAborted(brokers, dlt, [json(1), json(2), json(3)]);
    const pipeline = resolvePipeline(definePipeline({ name: 'fx', input, output, handler: defineHandler({ handle: (record) => ({ value: record.value }) }) }), {
      commit: DEFAULT_SETTINGS.commit,
      groupId,
    });
    const kafka = createKafka({ brokers, clientId: 'replay-test', logger: quiet() });
    expect(await replayDeadLetters({ kafka, pipeline, logger: quiet(), dryRun: true })).toMatchObject({ scanned: 0, matched: 0, replayed: 0 });
    expect(await replayDeadLetters({ kafka, pipeline, logger: quiet() })).toMatchObject({ scanned: 0, replayed: 0 });
    // The replay group committed past the aborted records and their marker: a second replay has nothing to read.
    expect(await replayDeadLetters({ kafka, pipeline, logger: quiet() })).toMatchObject({ scanned: 0, replayed: 0 });
  }, 60_000);

  // 300 s: it took 8-10 s, but once (clean-clone CI, Node 24) more than 120 s (not diagnosed: see the 2026-12-03 closing note).
  it('replays dead letters after the handler is fixed: one output per replayed record, and only once', { timeout: 300_000 }, async () => {
    const { input, output, dlt, groupId } = await topicsFor('replay', 0);
    let fixed = false;
    const handler = defineHandler<{ n: number }, { n: number }>({
      handle: (record) => {
        if (record.value.n % 5 === 0 && !fixed) throw new Error('unknown currency');
        return { value: { n: record.value.n } };
      },
    });
    const definition = definePipeline({ name: 'fx', input, output, handler, errors: { onError: 'dead-letter' } });
    await start(groupId, definition);
    await produce(brokers, input, Array.from({ length: 50 }, (_, i) => json(i)));
    await readTopics(brokers, [dlt], { until: (r) => r.length >= 10 });
    await readTopics(brokers, [output], { until: (r) => r.length >= 40 });

    fixed = true;
    const pipeline = resolvePipeline(definition, { commit: DEFAULT_SETTINGS.commit, groupId });
    const kafka = createKafka({ brokers, clientId: 'replay-test', logger: quiet() });
    const dryRun = await replayDeadLetters({ kafka, pipeline, logger: quiet(), dryRun: true });
    expect(dryRun).toMatchObject({ scanned: 10, matched: 10, replayed: 0 });
    expect(await replayDeadLetters({ kafka, pipeline, logger: quiet() })).toMatchObject({ replayed: 10 });
    expect(await replayDeadLetters({ kafka, pipeline, logger: quiet() })).toMatchObject({ replayed: 0 });

    const inputs = await readTopics(brokers, [input], { readCommitted: true, until: (r) => r.length >= 60 });
    const replayedInputs = inputs.filter((r) => r.headers[REPLAY_HEADERS.replayedFrom]);
    expect(replayedInputs).toHaveLength(10);
    expect(replayedInputs.every((r) => r.headers[FAILURE_HEADERS.attempt] === undefined)).toBe(true);
    const outputs = await readTopics(brokers, [output], { until: (r) => r.length >= 50, quietMs: 2000 });
    const audit = auditLineage(
      replayedInputs.map((r) => ({ topic: input, partition: r.partition, offset: r.offset })),
      outputs.filter((r) => Number(r.headers[LINEAGE_HEADER]?.split('/')[2]) >= 50).map((r) => r.headers[LINEAGE_HEADER]),
    );
    expect(audit).toMatchObject({ inputs: 10, outputs: 10, missing: 0, duplicates: 0, unexpected: 0 });
    expect(outputs.map((r) => JSON.parse(r.value ?? '{}').n).sort((a, b) => a - b)).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });
});
