import { afterEach, describe, expect, inject, it } from 'vitest';
import { dualAudit, formatDualAudit } from '../support/dual-audit.js';
import { keyOrderViolations } from '../support/key-order.js';
import { caughtUp, waitForTiersCaughtUp, waitForProgress, createPipelineTopics, produceNumbered, readTopics, uniqueName } from '../support/kafka.js';
import { sleep, waitFor } from '../support/wait.js';
import { type WorkerConfig, WorkerProcess, writeWorkerConfig } from '../support/worker-process.js';

/**
 * Concurrency inside a partition (`ordering: key`, 64 calls in flight per partition) on a
 * real broker, with real `txstream run` processes whose handler waits 1-20 ms at random per
 * record: killed with SIGKILL, joined and drained while calls are in flight. Outputs are read
 * with read_committed by kcat and by KafkaJS: every input exactly once, and per key in input order.
 */
const brokers = inject('kafkaBrokers');
const processes: WorkerProcess[] = [];
const keyed = { ordering: 'key', maxInFlight: 64 } as const;

afterEach(async () => {
  for (const worker of processes.splice(0)) {
    worker.signal('SIGKILL');
    await worker.exited();
  }
});

async function setup(prefix: string, partitions: number, records: number, overrides: Partial<WorkerConfig> = {}) {
  const { input, output } = await createPipelineTopics(brokers, prefix, partitions);
  // 1,000 keys: each input partition holds many, each key many records.
  if (records > 0) await produceNumbered(brokers, input, records, 1000);
  const groupPrefix = uniqueName('conc');
  const config = writeWorkerConfig({ brokers, groupId: groupPrefix, input, output, concurrency: keyed, ...overrides });
  return { input, output, groupId: `${groupPrefix}.echo`, config };
}

function start(config: string, name: string, options: { failMode?: 'routing'; instanceId?: string; handlerDelayMs?: number } = {}): WorkerProcess {
  const worker = WorkerProcess.start(config, { name, ...options });
  processes.push(worker);
  return worker;
}

/** Waits until the worker has joined and runs (a stop before that tests the start, not the drain). */
async function running(worker: WorkerProcess): Promise<void> {
  await waitFor(async () => /worker running/.test(worker.log()), 'the worker to run', 60_000, 100);
}


async function expectExactlyOnce(input: string, terminalTopics: string[], inputs: number): Promise<void> {
  const result = await dualAudit(brokers, { input, inputs, terminalTopics, timeoutMs: 120_000 });
  console.log(`audit ${input}:\n${formatDualAudit(result)}`);
  expect(result.agreement).toMatchObject({ agree: true, onlyFirst: [], onlySecond: [], differentLineage: [] });
  for (const reader of result.readers) expect(reader).toMatchObject({ inputs, missing: 0, duplicates: 0, unexpected: 0 });
}

/** Per key, the committed outputs' input offsets (from their lineage) come in input order. */
async function expectKeyOrder(output: string, inputs: number): Promise<void> {
  const records = await readTopics(brokers, [output], { until: (read) => read.length >= inputs, timeoutMs: 120_000 });
  const { keys, violations } = keyOrderViolations(records);
  expect(violations.slice(0, 10)).toEqual([]);
  expect(keys).toBe(1000);
}

describe('concurrency inside a partition (ordering: key, maxInFlight: 64)', () => {
  it('stays exactly-once and in key order while a worker is killed with SIGKILL every ~3 s', { timeout: 300_000 }, async () => {
    const records = 60_000;
    const { input, output, groupId, config } = await setup('conckill', 4, records);
    let progress = 0n;
    let kills = 0;
    while (progress < BigInt(records) && kills < 8) {
      // A restart takes the killed worker's instance id, as a container would. Calls wait 1-40 ms.
      const worker = start(config, `conckill-${kills}`, { instanceId: 'conckill-worker', handlerDelayMs: 40 });
      progress = await waitForProgress(brokers, groupId, input, progress, 90_000);
      await sleep(1500 + Math.floor(Math.random() * 1500));
      worker.signal('SIGKILL');
      await worker.exited();
      kills++;
    }
    const survivor = start(config, 'conckill-final', { instanceId: 'conckill-worker' });
    await running(survivor);
    await waitFor(() => caughtUp(brokers, groupId, input), 'every input committed', 120_000, 500);
    expect(await survivor.stop()).toBe(0);
    expect(kills).toBeGreaterThanOrEqual(3);
    await expectExactlyOnce(input, [output], records);
    await expectKeyOrder(output, records);
  });

  it('routes poison records among concurrent ones: neighbours and other keys commit, every input in one terminal place', { timeout: 240_000 }, async () => {
    const records = 6000;
    const backoff = { initialMs: 200, multiplier: 2, maxMs: 1000, jitter: 0 };
    const { input, output, groupId, config } = await setup('concpoison', 3, records, { errors: { onError: 'retry', attempts: 3, backoff } });
    const consumed = [input, ...[1, 2, 3].map((tier) => `${input}.retry.${tier}`)];
    const worker = start(config, 'concpoison', { failMode: 'routing' });
    await running(worker);
    await waitForTiersCaughtUp(brokers, groupId, consumed, 180_000);
    expect(await worker.stop()).toBe(0);
    await expectExactlyOnce(input, [output, `${input}.dlt`], records);
    // n % 97 == 0 always fails: 62 of 0..5999 end in the DLT.
    const dead = await readTopics(brokers, [`${input}.dlt`], { until: (read) => read.length >= 62 });
    expect(dead).toHaveLength(62);
  });

  it('rebalances and drains with calls in flight: a joining member, a graceful stop, exactly-once and in key order', { timeout: 240_000 }, async () => {
    const records = 12_000;
    const { input, output, groupId, config } = await setup('concdrain', 6, 0);
    let produced = 0;
    const producing = (async () => {
      for (let round = 0; round < 12; round++) {
        await produceNumbered(brokers, input, 1000, 1000, produced);
        produced += 1000;
        await sleep(500);
      }
    })();
    const a = start(config, 'concdrain-a');
    await running(a);
    const progress = await waitForProgress(brokers, groupId, input, 0n, 90_000);
    const b = start(config, 'concdrain-b');
    await waitForProgress(brokers, groupId, input, progress + 500n, 90_000);
    // A drains while its partitions have calls in flight: it exits 0 having committed what it handled.
    expect(await a.stop()).toBe(0);
    await producing;
    await waitFor(() => caughtUp(brokers, groupId, input), 'the remaining member to commit every input', 120_000, 500);
    expect(await b.stop()).toBe(0);
    expect(a.log()).toMatch(/drain/i);
    await expectExactlyOnce(input, [output], records);
    await expectKeyOrder(output, records);
  });
});
