import { afterEach, describe, expect, inject, it } from 'vitest';
import { createWorker, defineHandler, definePipeline, FAILURE_HEADERS, LINEAGE_HEADER, type Worker } from '../../src/index.js';
import { startOpsServer } from '../../src/observability/ops-server.js';
import { committedOffsets, produce, readTopics, uniqueName } from '../support/kafka.js';
import { capturedLogger, createTopicsWithConfigs } from '../support/outcomes.js';

/**
 * A handler promise that never settles: bounded by handlerTimeoutMs, named in the log
 * while stuck, routed by the error policy; the other partitions keep moving, and a
 * drain never waits for it past its deadline.
 */

const brokers = inject('kafkaBrokers');
const running: Worker[] = [];

afterEach(async () => {
  await Promise.all(running.splice(0).map((worker) => worker.stop(5_000)));
});

async function topics(prefix: string) {
  const input = uniqueName(prefix);
  const names = { input, output: `${input}.out`, dlt: `${input}.dlt`, retry1: `${input}.retry.1` };
  await createTopicsWithConfigs(brokers, [{ topic: input, partitions: 3 }, { topic: names.output, partitions: 3 }, { topic: names.dlt }, { topic: names.retry1 }]);
  return { ...names, groupId: uniqueName('stuck') };
}

const perPartition = 30;

describe('a stuck handler', () => {
  it('times out on one of three partitions, is logged while stuck, dead-lettered by the policy, while the other partitions move on', async () => {
    const t = await topics('stuck');
    await produce(
      brokers,
      t.input,
      [0, 1, 2].flatMap((partition) => Array.from({ length: perPartition }, (_, i) => ({ partition, key: `p${partition}`, value: JSON.stringify({ partition, i }) }))),
    );
    const abandoned: AbortSignal[] = [];
    const handler = defineHandler<{ partition: number; i: number }, { partition: number; i: number }>({
      handle: (record, ctx) => {
        if (record.value.partition === 1 && record.value.i === 10) {
          abandoned.push(ctx.signal);
          return new Promise(() => {}); // never settles, on every attempt
        }
        return { value: record.value, partition: record.value.partition };
      },
    });
    const { logger, lines } = capturedLogger();
    const worker = createWorker({
      brokers,
      groupId: t.groupId,
      logger,
      sessionTimeoutMs: 10_000,
      heartbeatIntervalMs: 1000,
      pipelines: [
        definePipeline({
          name: 'stuck',
          input: t.input,
          output: t.output,
          handler,
          handlerTimeoutMs: 2000,
          errors: { onError: 'retry', attempts: 1, backoff: { initialMs: 200, jitter: 0 }, then: 'dead-letter' },
        }),
      ],
    });
    running.push(worker);
    const started = Date.now();
    await worker.start();

    const records = await readTopics(brokers, [t.output, t.dlt, t.retry1], {
      until: (read) => read.filter((r) => r.topic !== t.retry1).length >= 3 * perPartition,
      quietMs: 2000,
    });
    // Every input in exactly one final place; the stuck one in the DLT after its retry.
    const finals = records.filter((r) => r.topic !== t.retry1).map((r) => r.headers[LINEAGE_HEADER]);
    expect(new Set(finals).size).toBe(3 * perPartition);
    expect(finals).toHaveLength(3 * perPartition);
    const [dead, ...moreDead] = records.filter((r) => r.topic === t.dlt);
    expect(moreDead).toHaveLength(0);
    expect(dead?.headers).toMatchObject({
      [LINEAGE_HEADER]: `${t.input}/1/10`,
      [FAILURE_HEADERS.reason]: 'retries-exhausted',
      [FAILURE_HEADERS.errorClass]: 'HandlerTimeoutError',
      [FAILURE_HEADERS.errorMessage]: `handler did not settle within 2000 ms (handlerTimeoutMs) on ${t.input}/1/10`,
    });
    expect(records.filter((r) => r.topic === t.retry1).map((r) => r.headers[LINEAGE_HEADER])).toEqual([`${t.input}/1/10`]);

    // While stuck, a warning named the record; then its timeout fired.
    const stuckLines = lines.filter((line) => typeof line.msg === 'string' && line.msg.startsWith(`handler still running on ${t.input}/1/10`));
    expect(stuckLines.length).toBe(2); // the first attempt and the retry
    expect(stuckLines[0]).toMatchObject({ level: 40, partition: 1, offset: '10', timeoutMs: 2000 });
    // The abandoned calls were told to stop.
    expect(abandoned).toHaveLength(2);
    expect(abandoned.every((signal) => signal.aborted)).toBe(true);

    // Partitions 0 and 2 were done before the stuck record's first timeout, and partition 1 went past it.
    const firstTimeout = Number(stuckLines[0]?.time) + 1000;
    const others = records.filter((r) => r.topic === t.output && r.partition !== 1);
    expect(others).toHaveLength(2 * perPartition);
    expect(Math.max(...others.map((r) => r.timestamp))).toBeLessThan(firstTimeout);
    const committed = await committedOffsets(brokers, `${t.groupId}.stuck`, t.input);
    expect([0, 1, 2].map((p) => committed.get(p))).toEqual([String(perPartition), String(perPartition), String(perPartition)]);
    console.log(`stuck handler: all ${3 * perPartition} inputs placed ${Date.now() - started} ms after start`);

    // The abandoned calls never settle: liveness says so, naming them, so a probe restarts the process.
    const ops = await startOpsServer(worker, { port: 0, host: '127.0.0.1' });
    try {
      const response = await fetch(`http://127.0.0.1:${ops.port}/healthz`);
      expect(response.status).toBe(503);
      expect(await response.text()).toMatch(new RegExp(`^not live: handler on ${t.input}/1/10 passed its timeout \\d+ ms ago and has not settled; handler on ${t.input}/1/10`));
    } finally {
      await ops.close();
    }
  });

  it('with a batch handler, finds the stuck record one call per record after the batch times out', async () => {
    const t = await topics('stuckbatch');
    await produce(
      brokers,
      t.input,
      [0, 1, 2].flatMap((partition) => Array.from({ length: perPartition }, (_, i) => ({ partition, key: `p${partition}`, value: JSON.stringify({ partition, i }) }))),
    );
    const handler = defineHandler<{ partition: number; i: number }, { partition: number; i: number }>({
      handleBatch: (records) =>
        records.some((record) => record.value.partition === 1 && record.value.i === 10)
          ? new Promise(() => {})
          : records.map((record) => ({ value: record.value, partition: record.value.partition })),
    });
    const { logger, lines } = capturedLogger();
    const worker = createWorker({
      brokers,
      groupId: t.groupId,
      logger,
      sessionTimeoutMs: 10_000,
      heartbeatIntervalMs: 1000,
      pipelines: [definePipeline({ name: 'stuckbatch', input: t.input, output: t.output, handler, handlerTimeoutMs: 1500, errors: { onError: 'dead-letter' } })],
    });
    running.push(worker);
    await worker.start();

    const records = await readTopics(brokers, [t.output, t.dlt], { until: (read) => read.length >= 3 * perPartition, quietMs: 2000 });
    expect(new Set(records.map((r) => r.headers[LINEAGE_HEADER])).size).toBe(3 * perPartition);
    expect(records).toHaveLength(3 * perPartition);
    expect(records.filter((r) => r.topic === t.dlt).map((r) => [r.headers[LINEAGE_HEADER], r.headers[FAILURE_HEADERS.errorClass], r.headers[FAILURE_HEADERS.reason]])).toEqual([
      [`${t.input}/1/10`, 'HandlerTimeoutError', 'policy-dead-letter'],
    ]);
    // Two timeouts: the batch, then the stuck record alone (its 29 neighbours were called one by one and went through).
    const stuck = lines.filter((line) => typeof line.msg === 'string' && line.msg.startsWith('handler still running on')).map((line) => line.msg as string);
    expect(stuck).toHaveLength(2);
    expect(stuck[1]).toMatch(new RegExp(`^handler still running on ${t.input}/1/10 after`));
  });

  it('does not hold a drain past its deadline', async () => {
    const t = await topics('drain');
    await produce(brokers, t.input, [{ partition: 0, key: 'a', value: JSON.stringify({ partition: 0, i: 0 }) }]);
    let entered = false;
    const handler = defineHandler({
      handle: () => {
        entered = true;
        return new Promise<undefined>(() => {});
      },
    });
    const worker = createWorker({
      brokers,
      groupId: t.groupId,
      logger: capturedLogger().logger,
      pipelines: [
        definePipeline({ name: 'drain', input: t.input, output: t.output, handler, handlerTimeoutMs: 100_000, commit: { transactionTimeoutMs: 600_000 }, errors: { onError: 'dead-letter' } }),
      ],
    });
    await worker.start();
    await expect.poll(() => entered, { timeout: 30_000 }).toBe(true);
    const result = await worker.stop(2000);
    expect(result.clean).toBe(false);
    // The deadline, plus the bounded grace for aborting open transactions.
    expect(result.durationMs).toBeLessThan(2000 + 5000 + 2000);
  });
});
