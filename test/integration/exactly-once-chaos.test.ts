import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { dualAudit, formatDualAudit, type ReaderAudit } from '../support/dual-audit.js';
import { caughtUp, waitForTiersCaughtUp, waitForProgress, createPipelineTopics, produce, produceNumbered, uniqueName } from '../support/kafka.js';
import { sleep, waitFor } from '../support/wait.js';
import { type WorkerConfig, WorkerProcess, writeWorkerConfig } from '../support/worker-process.js';

/**
 * Exactly-once under faults: workers run as real `txstream run` processes and are
 * killed with SIGKILL, stopped with SIGSTOP, added and removed while records flow.
 * Afterwards two read_committed readers, kcat (librdkafka) and our KafkaJS reader, must
 * read the same records and find every input exactly once. One broker here;
 * exactly-once-three-brokers.test.ts runs the same faults and broker kills on three.
 */
const brokers = inject('kafkaBrokers');
const processes: WorkerProcess[] = [];

afterEach(async () => {
  for (const worker of processes.splice(0)) {
    worker.signal('SIGCONT');
    worker.signal('SIGKILL');
    await worker.exited();
  }
});

async function setup(prefix: string, partitions: number, records: number, overrides: Partial<WorkerConfig> = {}) {
  const { input, output } = await createPipelineTopics(brokers, prefix, partitions);
  if (records > 0) await produceNumbered(brokers, input, records);
  const groupPrefix = uniqueName('chaos');
  const config = writeWorkerConfig({ brokers, groupId: groupPrefix, input, output, ...overrides });
  return { input, output, groupId: `${groupPrefix}.echo`, config };
}

function start(config: string, handlerDelayMs: number, name: string, failMode?: 'routing', instanceId?: string): WorkerProcess {
  const worker = WorkerProcess.start(config, { handlerDelayMs, name, failMode, instanceId });
  processes.push(worker);
  return worker;
}


/**
 * Starts a worker, waits until it has committed something new, kills it with SIGKILL
 * at a random moment, and again, up to `kills` times or until the input is done.
 * Returns how many workers were killed.
 */
async function killRepeatedly(config: string, groupId: string, input: string, records: number, kills: number, name: string, failMode?: 'routing'): Promise<number> {
  let progress = 0n;
  for (let kill = 0; kill < kills; kill++) {
    // Each replacement restarts under the same instance id, as a container would: its producer
    // aborts what the killed one left open instead of leaving it to the transaction timeout.
    const worker = start(config, 2, `${name}-${kill}`, failMode, `${name}-worker`);
    progress = await waitForProgress(brokers, groupId, input, progress, 90_000);
    if (progress >= BigInt(records)) return kill;
    await sleep(Math.floor(Math.random() * 1500));
    worker.signal('SIGKILL');
    await worker.exited();
  }
  return kills;
}

/**
 * Reads the committed outputs (and `extra` topics) with kcat (librdkafka) and with our
 * KafkaJS reader, counts each by lineage and requires the two readers to agree.
 */
async function audit(input: string, terminalTopics: string[], inputs: number): Promise<readonly ReaderAudit[]> {
  const result = await dualAudit(brokers, { input, inputs, terminalTopics, timeoutMs: 120_000 });
  console.log(`audit ${input}:\n${formatDualAudit(result)}`);
  expect(result.agreement).toMatchObject({ agree: true, onlyFirst: [], onlySecond: [], differentLineage: [] });
  return result.readers;
}

const exactlyOnce = (inputs: number) => ({ inputs, missing: 0, duplicates: 0, unexpected: 0, exactlyOnce: true });

describe('exactly-once under faults', () => {
  it('survives kill -9 at random moments of a 20,000-record run: every input exactly once', async () => {
    const records = 20_000;
    const { input, output, groupId, config } = await setup('crash', 4, records);
    const kills = await killRepeatedly(config, groupId, input, records, 5, 'crash');
    const survivor = start(config, 0, 'crash-final');
    await waitFor(() => caughtUp(brokers, groupId, input), 'the last worker to commit every input', 120_000, 500);
    expect(await survivor.stop()).toBe(0);

    const readers = await audit(input, [output], records);
    expect(kills).toBeGreaterThanOrEqual(3);
    for (const reader of readers) expect(reader).toMatchObject(exactlyOnce(records));
  });

  it('stays exactly-once while members join, leave gracefully and crash during the run', async () => {
    const { input, output, groupId, config } = await setup('rebalance', 6, 0);
    let produced = 0;
    const producing = (async () => {
      for (let round = 0; round < 16; round++) {
        await produceNumbered(brokers, input, 1000, 100, produced);
        produced += 1000;
        await sleep(700);
      }
    })();
    const a = start(config, 1, 'rebalance-a');
    let progress = await waitForProgress(brokers, groupId, input, 0n);
    const b = start(config, 1, 'rebalance-b');
    progress = await waitForProgress(brokers, groupId, input, progress + 500n);
    start(config, 1, 'rebalance-c');
    progress = await waitForProgress(brokers, groupId, input, progress + 500n);
    expect(await a.stop()).toBe(0);
    start(config, 1, 'rebalance-d');
    await waitForProgress(brokers, groupId, input, progress + 500n);
    b.signal('SIGKILL');
    await producing;
    await waitFor(() => caughtUp(brokers, groupId, input), 'the remaining members to commit every input', 120_000, 500);

    expect(produced).toBe(16_000);
    for (const reader of await audit(input, [output], produced)) expect(reader).toMatchObject(exactlyOnce(produced));
  });

  it('fences a member stalled with SIGSTOP past its session: its late commit fails and outputs stay exactly-once', {
    timeout: 240_000,
  }, async () => {
    const records = 8000;
    // Long transactions, so the stalled member certainly holds one open.
    const { input, output, groupId, config } = await setup('zombie', 4, records, { commitIntervalMs: 1500, sessionTimeoutMs: 6000 });
    const zombie = start(config, 3, 'zombie-a');
    const progress = await waitForProgress(brokers, groupId, input, 0n);
    const healthy = start(config, 3, 'zombie-b');
    await waitForProgress(brokers, groupId, input, progress + 200n);
    zombie.signal('SIGSTOP');
    // Past the session timeout the group drops the stalled member and the healthy one takes
    // its partitions; the stalled member's late commit carries a generation that is over.
    await sleep(12_000);
    zombie.signal('SIGCONT');
    await waitFor(() => caughtUp(brokers, groupId, input), 'every input committed after the stall', 120_000, 500);
    await Promise.all([zombie.stop(), healthy.stop()]);

    // KIP-447: the group coordinator refused the stalled member's offsets (its generation was over), so its transaction aborted.
    expect(zombie.log()).toMatch(/GenerationFencedError[^\n]*(UNKNOWN_MEMBER_ID|ILLEGAL_GENERATION)/);
    for (const reader of await audit(input, [output], records)) expect(reader).toMatchObject(exactlyOnce(records));
  });

  it("never commits a stalled member's unit under the generation it rejoined, though the unit waited for the producer behind its refused commit", {
    timeout: 240_000,
  }, async () => {
    // The coordinator checks the generation an offset commit names, not who owns the partition. A
    // member back from a stall rejoins once its batches end, and a batch ends once its units are
    // handed over: a unit still waiting for the producer behind the old transaction's commit went
    // into the next transaction, which, begun after the rejoin, took the new generation and
    // committed it over the work of the member that had taken the partition over (seen once as 743
    // duplicates on three brokers). Here the stalled member's commit is held (its TxnOffsetCommit
    // waits, as behind a slow coordinator; the offsets partition joined the transaction with its
    // first write) until it has rejoined.
    const { input, output } = await createPipelineTopics(brokers, 'stalled-unit', 2);
    // Partition 0: one unit of 100 records, 10 s in the stalled member's handler. Partition 1: one of
    // 10, written at once into a transaction still open (10 s interval) when the member stops.
    const records = [0, 1].flatMap((partition) => Array.from({ length: partition === 0 ? 100 : 10 }, () => partition));
    await produce(brokers, input, records.map((partition, n) => ({ key: `key-${n}`, value: JSON.stringify({ n }), partition })));
    const groupPrefix = uniqueName('stalled-unit');
    const groupId = `${groupPrefix}.echo`;
    const config = writeWorkerConfig({ brokers, groupId: groupPrefix, input, output, commitIntervalMs: 10_000, sessionTimeoutMs: 6000, handlerTimeoutMs: 60_000 });
    const hold = join(mkdtempSync(join(tmpdir(), 'txstream-hold-')), 'hold');
    const stalled = WorkerProcess.cli(['run', '-c', config], {
      name: 'stalled-unit-a',
      env: { TEST_HANDLER_DELAY_MS: '100', TEST_HOLD_REQUESTS_WHILE: hold, TEST_HOLD_REQUESTS_API: 'TxnOffsetCommit' },
    });
    processes.push(stalled);
    try {
      await waitFor(() => /"assignment":\["[^"]+\|0","[^"]+\|1"/.test(stalled.log()), 'the first member to be assigned both partitions', 60_000, 200);
      await sleep(2500);
      writeFileSync(hold, '');
      stalled.signal('SIGSTOP');
      // Past its session the group drops it; the second member takes both partitions and commits them.
      const healthy = start(config, 0, 'stalled-unit-b');
      await waitFor(() => caughtUp(brokers, groupId, input), 'the second member to commit every input', 60_000, 500);
      stalled.signal('SIGCONT');
      // Its overdue commit waits in TxnOffsetCommit, the unit of partition 0 behind it: it rejoins meanwhile.
      await waitFor(() => (stalled.log().match(/"partitions assigned"/g) ?? []).length >= 2, 'the first member to rejoin', 30_000, 100);
      rmSync(hold);
      await waitFor(() => /"transaction aborted"/.test(stalled.log()), 'the first member to end its old transaction', 60_000, 200);
      await waitFor(() => caughtUp(brokers, groupId, input), 'every input committed after the stall', 60_000, 500);
      expect(await Promise.all([stalled.stop(), healthy.stop()])).toEqual([0, 0]);
    } finally {
      rmSync(hold, { force: true });
    }
    for (const reader of await audit(input, [output], records.length)) expect(reader).toMatchObject(exactlyOnce(records.length));
    expect(stalled.log()).toMatch(/GenerationFencedError/);
  });

  it('keeps every input in exactly one terminal place (output or DLT) when workers are killed during retries', { timeout: 240_000 }, async () => {
    const records = 6000;
    const backoff = { initialMs: 200, multiplier: 2, maxMs: 2000, jitter: 0 };
    const { input, output, groupId, config } = await setup('retrykill', 3, records, { errors: { onError: 'retry', attempts: 3, backoff } });
    const consumed = [input, ...[1, 2, 3].map((tier) => `${input}.retry.${tier}`)];
    await killRepeatedly(config, groupId, input, records, 3, 'retrykill', 'routing');
    // The survivor takes the killed workers' instance id, as a restarted container would: its
    // producer aborts the transaction the last one left open. Under another id that transaction
    // stays open until the coordinator times it out, and until then the retry tiers' end (their
    // last stable offset, all a read_committed reader can see) stops before it: "caught up" below
    // would hold while the copies behind it are still to be handled.
    const survivor = start(config, 0, 'retrykill-final', 'routing', 'retrykill-worker');
    await waitForTiersCaughtUp(brokers, groupId, consumed, 240_000);
    expect(await survivor.stop()).toBe(0);

    const readers = await audit(input, [output, `${input}.dlt`], records);
    for (const reader of readers) expect(reader).toMatchObject({ inputs: records, missing: 0, duplicates: 0, unexpected: 0 });
    const deadLettered = readers[0]?.perTopic[`${input}.dlt`];
    // n % 97 == 0 always fails: 62 of 0..5999 end in the DLT, everything else in the output.
    expect(deadLettered).toBe(62);
  });

  it('loses nothing with the at-least-once batch strategy under kill -9, and counts the duplicates', async () => {
    const records = 10_000;
    const { input, output, groupId, config } = await setup('alo', 4, records, { strategy: 'batch' });
    await killRepeatedly(config, groupId, input, records, 3, 'alo');
    const survivor = start(config, 0, 'alo-final');
    await waitFor(() => caughtUp(brokers, groupId, input), 'every input committed', 120_000, 500);
    expect(await survivor.stop()).toBe(0);

    const readers = await audit(input, [output], records);
    console.log(`at-least-once (batch) under kill -9: ${readers[0]?.duplicates} duplicate outputs for ${records} inputs`);
    for (const reader of readers) expect(reader).toMatchObject({ inputs: records, missing: 0, unexpected: 0 });
  });
});
