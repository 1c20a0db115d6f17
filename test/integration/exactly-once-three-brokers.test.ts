import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { seededRandom } from '../../load-tests/lib/generators.js';
import { type FaultCluster, startFaultCluster } from '../support/cluster.js';
import { commandAudit, type DualAudit, dualAudit, formatCommandAudit, formatDualAudit } from '../support/dual-audit.js';
import { caughtUp, createPipelineTopics, produceNumbered, readTopics, uniqueName } from '../support/kafka.js';
import { keyOrderViolations } from '../support/key-order.js';
import { sleep, waitFor } from '../support/wait.js';
import { ChaosFleet, committedTotal } from '../support/worker-chaos.js';
import { type WorkerConfig, WorkerProcess, writeWorkerConfig } from '../support/worker-process.js';

/**
 * Exactly-once where production runs: a private three-broker cluster (RF 3,
 * min.insync.replicas 2), started here and wiped afterwards, independent of the suite's
 * single broker. Real `txstream run` workers are killed with SIGKILL every few seconds;
 * the group-coordinator broker, or a leader broker, is killed and restarted, and a
 * partition leader is moved with Kafka's reassignment tool, while records flow.
 * Outputs, retry and dead-letter topics are then read with read_committed by kcat
 * (librdkafka) and by our KafkaJS reader, and audited by `txstream audit`: each input
 * exactly once, and all three agree.
 */
const PARTITIONS = 12;
let cluster: FaultCluster;
const fleets: ChaosFleet[] = [];
const members: WorkerProcess[] = [];

beforeAll(async () => {
  cluster = await startFaultCluster({ brokers: 3 });
}, 180_000);

afterEach(async () => {
  for (const fleet of fleets.splice(0)) await fleet.kill();
  for (const worker of members.splice(0)) {
    worker.signal('SIGCONT');
    worker.signal('SIGKILL');
    await worker.exited();
  }
});

/** Waits until the worker has been assigned partitions (its log names them). */
async function holdsPartitions(worker: WorkerProcess): Promise<void> {
  await waitFor(() => /"assignment":\["[^"]+\|\d+"/.test(worker.log()), 'the worker to be assigned partitions', 60_000, 200);
}

function member(config: string, name: string, handlerDelayMs = 2): WorkerProcess {
  const worker = WorkerProcess.start(config, { handlerDelayMs, name });
  members.push(worker);
  return worker;
}

afterAll(async () => {
  await cluster?.destroy();
}, 120_000);

async function setup(prefix: string, records: number, overrides: Partial<WorkerConfig> = {}) {
  const { input, output, dlt } = await createPipelineTopics(cluster.brokers, prefix, PARTITIONS);
  await produceNumbered(cluster.brokers, input, records, 1000);
  const groupPrefix = uniqueName(prefix);
  const config = writeWorkerConfig({ brokers: cluster.brokers, groupId: groupPrefix, input, output, ...overrides });
  return { input, output, dlt, retries: [1, 2, 3].map((tier) => `${input}.retry.${tier}`), groupId: `${groupPrefix}.echo`, config };
}

function fleet(config: string, name: string, failMode?: 'routing' | 'once'): ChaosFleet {
  const started = new ChaosFleet(config, { size: 3, name, handlerDelayMs: 1, failMode });
  fleets.push(started);
  return started;
}

/** Waits until the group has committed at least `count` inputs (the coordinator may be away meanwhile). */
async function committedAtLeast(groupId: string, input: string, count: number, timeoutMs = 120_000): Promise<void> {
  await waitFor(async () => ((await committedTotal(cluster.liveBrokers(), groupId, input)) ?? 0) >= count, `${count} inputs committed`, timeoutMs, 500);
}

/** Caught up on every topic twice in a row (a retry copy written by the last transaction must itself be consumed). */
async function drained(groupId: string, topics: string[], timeoutMs = 120_000): Promise<void> {
  let streak = 0;
  await waitFor(
    async () => {
      const all = await Promise.all(topics.map((topic) => caughtUp(cluster.liveBrokers(), groupId, topic).catch(() => false)));
      streak = all.every(Boolean) ? streak + 1 : 0;
      return streak >= 2;
    },
    `${topics.join(', ')} fully committed`,
    timeoutMs,
    1000,
  );
}

/**
 * Once 30 % of the inputs are committed, kills the broker leading the first retry tier (its copies
 * and their consumption move to another leader) and restarts it; then waits for every input and
 * every retry copy to be committed, and stops the fleet, which must exit 0.
 */
async function killTierLeaderThenDrain(
  workers: ChaosFleet,
  topics: { input: string; output: string; dlt: string; retries: string[]; groupId: string },
  records: number,
): Promise<void> {
  const { input, output, dlt, retries, groupId } = topics;
  await committedAtLeast(groupId, input, records * 0.3);
  const leader = await cluster.partitionLeader(retries[0] as string, 0);
  await cluster.kill(leader);
  await sleep(3000);
  await cluster.restart(leader);
  await cluster.waitForFullIsr([input, output, dlt, ...retries]);
  console.log(`killed broker ${leader} (leader of ${retries[0]}-0) and restarted it`);
  await committedAtLeast(groupId, input, records);
  await workers.calm();
  await drained(groupId, [input, ...retries]);
  expect(await workers.stop()).toEqual([0, 0, 0]);
}

/** Both readers, and `txstream audit` run as a user would, find every input exactly once and agree. */
async function expectExactlyOnce(audit: DualAudit, inputs: number, config: string): Promise<void> {
  console.log(formatDualAudit(audit));
  const command = await commandAudit(config, 'echo', audit.readers[0]);
  console.log(formatCommandAudit(command));
  for (const reader of audit.readers) {
    expect({ reader: reader.reader, inputs: reader.inputs, missing: reader.missing, duplicates: reader.duplicates, unexpected: reader.unexpected }).toEqual({
      reader: reader.reader,
      inputs,
      missing: 0,
      duplicates: 0,
      unexpected: 0,
    });
  }
  expect(audit.agreement).toMatchObject({ agree: true, onlyFirst: [], onlySecond: [], differentLineage: [] });
  expect(command).toMatchObject({ inputs, duplicates: 0, missing: 0, ok: true, agreesWithKcat: true });
}

describe('exactly-once on three brokers (RF 3, min.insync.replicas 2) under worker and broker faults', () => {
  it('keeps every input exactly once while workers are killed every few seconds, the group-coordinator broker is killed and restarted, and a leader is moved', {
    timeout: 240_000,
  }, async () => {
    const records = 10_000;
    const random = seededRandom(Number(process.env.TXSTREAM_FAULT_SEED ?? 10));
    const { input, output, dlt, retries, groupId, config } = await setup('three-kill', records);
    const workers = fleet(config, 'three-kill');
    workers.killEvery(4000, random);

    await committedAtLeast(groupId, input, records * 0.2);
    const coordinator = await cluster.groupCoordinator(groupId);
    await cluster.kill(coordinator);
    await sleep(3000);
    await cluster.restart(coordinator);
    await cluster.waitForFullIsr([input, output]);

    await committedAtLeast(groupId, input, records * 0.5);
    const partition = Math.floor(random() * PARTITIONS);
    const moved = await cluster.moveLeader(output, partition);
    console.log(`killed coordinator broker ${coordinator} and restarted it; moved ${output}-${partition} leader ${moved.from} -> ${moved.to}`);

    await committedAtLeast(groupId, input, records);
    await workers.calm();
    await drained(groupId, [input]);
    expect(await workers.stop()).toEqual([0, 0, 0]);
    expect(workers.kills).toBeGreaterThanOrEqual(3);
    expect(moved.to).not.toBe(moved.from);

    await expectExactlyOnce(await dualAudit(cluster.brokers, { input, inputs: records, terminalTopics: [output, dlt], otherTopics: retries }), records, config);
  });

  it('keeps every input in exactly one terminal place (output or DLT) through retry tiers while workers and a leader broker are killed', {
    timeout: 240_000,
  }, async () => {
    const records = 4000;
    const random = seededRandom(Number(process.env.TXSTREAM_FAULT_SEED ?? 10) + 1);
    const backoff = { initialMs: 200, multiplier: 2, maxMs: 1000, jitter: 0 };
    const { input, output, dlt, retries, groupId, config } = await setup('three-retry', records, { errors: { onError: 'retry', attempts: 3, backoff } });
    const workers = fleet(config, 'three-retry', 'routing');
    workers.killEvery(4000, random);

    await killTierLeaderThenDrain(workers, { input, output, dlt, retries, groupId }, records);

    const audit = await dualAudit(cluster.brokers, { input, inputs: records, terminalTopics: [output, dlt], otherTopics: retries });
    await expectExactlyOnce(audit, records, config);
    // n % 97 == 0 always fails: the 42 of 0..3999 pass all three retry tiers into the DLT. n % 50 == 0 fails
    // twice: the 80 pass tiers 1 and 2 (n = 0 is both). Retry copies are written in the same transactions,
    // so each tier holds each copy exactly once too.
    for (const reader of audit.readers) {
      expect(reader.perTopic).toEqual({
        [output]: records - 42,
        [dlt]: 42,
        [retries[0] as string]: 80 + 42 - 1,
        [retries[1] as string]: 80 + 42 - 1,
        [retries[2] as string]: 42,
      });
    }
  });

  it('keeps each key in order through the retry tiers (keyOrderOnRetry: hold, ordering key) while workers and a tier leader are killed', {
    timeout: 240_000,
  }, async () => {
    // Records with n % 13 == 0 fail once, n % 97 == 0 always: a key's records fail independently. Three
    // members share the input and tier partitions, so a partition's holds are often resolved by another worker.
    const records = 4000;
    const random = seededRandom(Number(process.env.TXSTREAM_FAULT_SEED ?? 10) + 3);
    const backoff = { initialMs: 300, multiplier: 2, maxMs: 1000, jitter: 0 };
    const errors = { onError: 'retry', attempts: 3, backoff, keyOrderOnRetry: 'hold' };
    const { input, output, dlt, retries, groupId, config } = await setup('three-hold', records, { errors, concurrency: { ordering: 'key', maxInFlight: 64 } });
    const workers = fleet(config, 'three-hold', 'once');
    workers.killEvery(4000, random);

    await killTierLeaderThenDrain(workers, { input, output, dlt, retries, groupId }, records);

    const audit = await dualAudit(cluster.brokers, { input, inputs: records, terminalTopics: [output, dlt], otherTopics: retries });
    await expectExactlyOnce(audit, records, config);
    const outputs = await readTopics(cluster.brokers, [output], { until: (read) => read.length >= records - 42, timeoutMs: 60_000 });
    expect(outputs).toHaveLength(records - 42);
    expect(keyOrderViolations(outputs).violations.slice(0, 10)).toEqual([]);
    expect(workers.kills).toBeGreaterThanOrEqual(2);
  });

  it('stays exactly-once while a member stalls (SIGSTOP) past its session and is fenced, and members leave, join and crash', {
    timeout: 240_000,
  }, async () => {
    // Records arrive while the membership changes, so every change meets work in flight;
    // long transactions, so the stalled member certainly holds one open.
    const { input, output, dlt, groupId, config } = await setup('three-members', 0, { commitIntervalMs: 1500, sessionTimeoutMs: 6000 });
    const rounds = 20;
    const perRound = 700;
    const producing = (async () => {
      for (let round = 0; round < rounds; round++) {
        await produceNumbered(cluster.brokers, input, perRound, 1000, round * perRound);
        await sleep(1000);
      }
    })();
    const a = member(config, 'three-members-a');
    await committedAtLeast(groupId, input, 500);
    // Slower than its partitions' arrival rate, so it certainly holds an open transaction when stopped.
    const zombie = member(config, 'three-members-zombie', 20);
    const c = member(config, 'three-members-c');
    await Promise.all([zombie, c].map(holdsPartitions));
    await committedAtLeast(groupId, input, ((await committedTotal(cluster.liveBrokers(), groupId, input)) ?? 0) + 1000);
    zombie.signal('SIGSTOP');
    // Past the session timeout the group drops the stalled member; the others take its
    // partitions and fence their transactional ids.
    await sleep(12_000);
    zombie.signal('SIGCONT');
    expect(await a.stop()).toBe(0);
    const d = member(config, 'three-members-d');
    await holdsPartitions(d);
    c.signal('SIGKILL');
    await producing;
    await committedAtLeast(groupId, input, rounds * perRound);
    await drained(groupId, [input]);
    expect(await Promise.all([zombie.stop(), d.stop()])).toEqual([0, 0]);

    // KIP-447: the group coordinator refused the stalled member's offsets (its generation was over), so its transaction aborted.
    expect(zombie.log()).toMatch(/GenerationFencedError[^\n]*(UNKNOWN_MEMBER_ID|ILLEGAL_GENERATION)/);
    const inputs = rounds * perRound;
    await expectExactlyOnce(await dualAudit(cluster.brokers, { input, inputs, terminalTopics: [output, dlt] }), inputs, config);
  });
});
