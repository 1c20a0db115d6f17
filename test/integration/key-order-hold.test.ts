import { afterEach, describe, expect, inject, it } from 'vitest';
import { dualAudit, formatDualAudit } from '../support/dual-audit.js';
import { keyOrderViolations } from '../support/key-order.js';
import { caughtUp, createTopics, kafkaClient, produce, produceNumbered, readTopics, uniqueName, waitForProgress, waitForTiersCaughtUp } from '../support/kafka.js';
import { sleep, waitFor } from '../support/wait.js';
import { WorkerProcess, writeWorkerConfig } from '../support/worker-process.js';

/**
 * `keyOrderOnRetry: hold` on a real broker with real `txstream run` processes: records with
 * n % 13 == 0 fail once (they succeed on their retry), records with n % 97 == 0 always (they end
 * in the dead-letter topic), 100 keys, so a key's records fail independently of each other. Every
 * output, read with read_committed by kcat and KafkaJS, comes per key in input order; without
 * `hold` the same run puts retried records after later ones of their key. Retry tiers have 3
 * partitions (the input 4), so a key's copies must find its partition there.
 */
const brokers = inject('kafkaBrokers');
const processes: WorkerProcess[] = [];
const backoff = { initialMs: 300, multiplier: 2, maxMs: 1000, jitter: 0 };

afterEach(async () => {
  for (const worker of processes.splice(0)) {
    worker.signal('SIGKILL');
    await worker.exited();
  }
});

async function setup(prefix: string, records: number, keyOrderOnRetry: 'hold' | 'overtake', ordering: 'key' | 'partition', options: { partitions?: number; backoff?: typeof backoff } = {}) {
  const input = uniqueName(prefix);
  const output = `${input}.out`;
  const tiers = [`${input}.retry.1`, `${input}.retry.2`];
  const partitions = options.partitions ?? 4;
  await createTopics(brokers, [{ topic: input, partitions }, { topic: output, partitions }, { topic: `${input}.dlt` }, ...tiers.map((topic) => ({ topic, partitions: 3 }))]);
  if (records > 0) await produceNumbered(brokers, input, records, 100);
  const groupPrefix = uniqueName('hold');
  const config = writeWorkerConfig({
    brokers,
    groupId: groupPrefix,
    input,
    output,
    concurrency: ordering === 'key' ? { ordering, maxInFlight: 64 } : { ordering },
    errors: { onError: 'retry', attempts: 2, backoff: options.backoff ?? backoff, keyOrderOnRetry },
  });
  return { input, output, dlt: `${input}.dlt`, consumed: [input, ...tiers], groupId: `${groupPrefix}.echo`, config };
}

function start(config: string, name: string, instanceId?: string): WorkerProcess {
  const worker = WorkerProcess.start(config, { name, failMode: 'once', handlerDelayMs: 5, ...(instanceId ? { instanceId } : {}) });
  processes.push(worker);
  return worker;
}

/** n % 97 == 0 among 0..records-1 always fails: those end in the dead-letter topic. */
function deadLetters(records: number): number {
  return Math.floor((records - 1) / 97) + 1;
}

async function outputsInKeyOrder(output: string, expected: number): Promise<string[]> {
  const records = await readTopics(brokers, [output], { until: (read) => read.length >= expected, timeoutMs: 120_000 });
  expect(records).toHaveLength(expected);
  return keyOrderViolations(records).violations;
}

/** Once everything is handled, no partition holds a key any more: the holds ended and their end was committed. */
async function expectNoHoldsLeft(groupId: string, topics: readonly string[]): Promise<void> {
  const admin = kafkaClient(brokers).admin();
  await admin.connect();
  try {
    await waitFor(
      async () => {
        const committed = await admin.fetchOffsets({ groupId, topics: [...topics] });
        return committed.every(({ partitions }) => partitions.every(({ metadata }) => !metadata));
      },
      'every hold to end in the committed offsets',
      15_000,
      500,
    );
  } finally {
    await admin.disconnect();
  }
}

async function expectExactlyOnce(input: string, terminalTopics: string[], inputs: number): Promise<void> {
  const result = await dualAudit(brokers, { input, inputs, terminalTopics, timeoutMs: 120_000 });
  console.log(`audit ${input}:\n${formatDualAudit(result)}`);
  expect(result.agreement).toMatchObject({ agree: true, onlyFirst: [], onlySecond: [], differentLineage: [] });
  for (const reader of result.readers) expect(reader).toMatchObject({ inputs, missing: 0, duplicates: 0, unexpected: 0 });
}

describe('keyOrderOnRetry: hold', () => {
  it('keeps every key in input order through the retry tiers and the dead-letter topic (ordering key, 64 in flight)', { timeout: 240_000 }, async () => {
    const records = 3000;
    const { input, output, dlt, consumed, groupId, config } = await setup('hold', records, 'hold', 'key');
    const worker = start(config, 'hold');
    await waitForTiersCaughtUp(brokers, groupId, consumed, 180_000);
    await expectNoHoldsLeft(groupId, consumed);
    expect(await worker.stop()).toBe(0);
    expect(await outputsInKeyOrder(output, records - deadLetters(records))).toEqual([]);
    await expectExactlyOnce(input, [output, dlt], records);
    // Records were sent behind their key's retry, not handled before it.
    expect(worker.log()).toMatch(/record held back behind its key/);
  });

  it('without hold, retried records come after later records of their key (the audit above can fail)', { timeout: 240_000 }, async () => {
    const records = 1000;
    const { output, consumed, groupId, config } = await setup('overtake', records, 'overtake', 'key');
    const worker = start(config, 'overtake');
    await waitForTiersCaughtUp(brokers, groupId, consumed, 180_000);
    expect(await worker.stop()).toBe(0);
    expect((await outputsInKeyOrder(output, records - deadLetters(records))).length).toBeGreaterThan(0);
  });

  it('a restarted worker holds the keys its predecessor committed as held: a later record waits for the retry', { timeout: 120_000 }, async () => {
    // Record 13 fails once; its retry is due 5 s later. The worker is killed once the copy and
    // the input offset are committed; record 14 of the same key arrives while no worker runs.
    const { input, output, consumed, groupId, config } = await setup('holdrestart', 0, 'hold', 'partition', { partitions: 1, backoff: { ...backoff, initialMs: 5000, maxMs: 5000 } });
    await produce(brokers, input, [{ key: 'k', value: JSON.stringify({ n: 13 }) }]);
    const first = start(config, 'holdrestart-a', 'holdrestart-worker');
    await waitFor(() => caughtUp(brokers, groupId, input), 'record 13 sent to its retry tier and committed', 60_000, 100);
    first.signal('SIGKILL');
    await first.exited();
    await produce(brokers, input, [{ key: 'k', value: JSON.stringify({ n: 14 }) }]);
    const second = start(config, 'holdrestart-b', 'holdrestart-worker');
    await waitForTiersCaughtUp(brokers, groupId, consumed, 90_000);
    expect(await second.stop()).toBe(0);
    const outputs = await readTopics(brokers, [output], { until: (read) => read.length >= 2, timeoutMs: 30_000 });
    expect(outputs.map((record) => JSON.parse(record.value ?? '{}').n)).toEqual([13, 14]);
    expect(second.log()).toMatch(/keys held behind their retries, as the committed offset says/);
    expect(second.log()).toMatch(/record held back behind its key/);
  });

  it('keeps key order and exactly-once while the worker is killed with SIGKILL: holds survive in the committed offsets', { timeout: 300_000 }, async () => {
    const records = 4000;
    const { input, output, dlt, consumed, groupId, config } = await setup('holdkill', records, 'hold', 'partition');
    let progress = 0n;
    let kills = 0;
    const restarts: WorkerProcess[] = [];
    while (progress < BigInt(records) && kills < 5) {
      const worker = start(config, `holdkill-${kills}`, 'holdkill-worker');
      if (kills > 0) restarts.push(worker);
      progress = await waitForProgress(brokers, groupId, input, progress, 90_000);
      await sleep(1000 + Math.floor(Math.random() * 1500));
      worker.signal('SIGKILL');
      await worker.exited();
      kills++;
    }
    const survivor = start(config, 'holdkill-final', 'holdkill-worker');
    restarts.push(survivor);
    await waitFor(async () => /worker running/.test(survivor.log()), 'the worker to run', 60_000, 100);
    await waitForTiersCaughtUp(brokers, groupId, consumed, 180_000);
    await expectNoHoldsLeft(groupId, consumed);
    expect(await survivor.stop()).toBe(0);
    expect(kills).toBeGreaterThanOrEqual(2);
    // A restarted worker found keys held in the committed offsets and kept them held.
    expect(restarts.some((worker) => /keys held behind their retries, as the committed offset says/.test(worker.log()))).toBe(true);
    expect(await outputsInKeyOrder(output, records - deadLetters(records))).toEqual([]);
    await expectExactlyOnce(input, [output, dlt], records);
  });
});
