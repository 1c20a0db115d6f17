import type { KafkaMessage } from 'kafkajs';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { failureCopy, originOf } from '../../src/routing/failure-copy.js';
import { sinkTablesSql } from '../fixtures/pg-sink-handler.js';
import { createPipelineTopics, endOffsets, produce, produceNumbered, uniqueName } from '../support/kafka.js';
import { readWithKcat } from '../support/kcat.js';
import { startTestPostgres, type TestPostgres } from '../support/postgres.js';
import { sleep, waitFor } from '../support/wait.js';
import { type WorkerConfig, WorkerProcess, writeWorkerConfig } from '../support/worker-process.js';

/**
 * The PostgreSQL sink against a real broker and a real PostgreSQL (Debian's package, started
 * by this file on a free port): workers run as `txstream run` processes; every input is
 * counted in the target table by its lineage (UNIQUE, so a row applied twice cannot hide),
 * failures are read back from the dead-letter topic with kcat.
 */
const brokers = inject('kafkaBrokers');
const processes: WorkerProcess[] = [];
let db: TestPostgres;

beforeAll(async () => {
  db = await startTestPostgres('sink');
});

afterAll(async () => {
  await db?.stop();
});

afterEach(async () => {
  for (const worker of processes.splice(0)) {
    worker.signal('SIGCONT');
    worker.signal('SIGKILL');
    await worker.exited();
  }
});

/** Topics, the target tables and a worker config for one sink pipeline. */
async function setup(prefix: string, partitions: number, overrides: Partial<WorkerConfig> = {}) {
  const { input, dlt } = await createPipelineTopics(brokers, prefix, partitions);
  const pipeline = `${prefix}_${Math.random().toString(36).slice(2, 8)}`;
  await db.query(sinkTablesSql(pipeline));
  const groupPrefix = uniqueName('sink');
  const config = writeWorkerConfig({ brokers, groupId: groupPrefix, input, pipelineName: pipeline, postgresSink: { url: db.url, poolSize: 8 }, ...overrides });
  return { input, dlt, pipeline, groupId: `${groupPrefix}.${pipeline}`, config };
}

function start(config: string, name: string, handlerDelayMs = 0): WorkerProcess {
  const worker = WorkerProcess.start(config, { name, handlerDelayMs });
  processes.push(worker);
  return worker;
}

/** One sample of a worker's /metrics (0 when the series is absent). */
async function metric(worker: WorkerProcess, series: string): Promise<number> {
  const text = await (await fetch(`http://127.0.0.1:${await worker.opsPort()}/metrics`)).text();
  const line = text.split('\n').find((entry) => entry.startsWith(`${series} `));
  return line === undefined ? 0 : Number(line.slice(series.length + 1));
}

async function endTotal(topic: string): Promise<number> {
  let total = 0;
  for (const end of (await endOffsets(brokers, topic)).values()) total += Number(end);
  return total;
}

/** Waits until the offsets table has every input of the topic committed. */
async function waitForDatabaseCommit(groupId: string, input: string, timeoutMs = 120_000): Promise<void> {
  const total = await endTotal(input);
  await waitFor(async () => (await db.offsetsTotal(groupId, input)) >= total, `the offsets table to reach ${total} on ${input}`, timeoutMs, 300);
}

/** Every input exactly once in the table: as many rows as inputs, every lineage distinct. */
async function expectExactlyOnce(pipeline: string, inputs: number): Promise<void> {
  const [row] = await db.query<{ rows: string; distinct: string }>(`SELECT count(*)::text AS rows, count(DISTINCT lineage)::text AS distinct FROM rows_${pipeline}`);
  expect({ rows: Number(row?.rows), distinct: Number(row?.distinct) }).toEqual({ rows: inputs, distinct: inputs });
}

describe('PostgreSQL sink: exactly-once into the database', () => {
  it('commits rows with their offsets; a constraint violation and an undecodable record go to the DLT with their reason, neighbours commit', async () => {
    const { input, dlt, pipeline, groupId, config } = await setup('pgdlt', 3, { metricsPort: 0 });
    const records = 3000;
    // n % 250 == 7 has a negative amount: the CHECK constraint refuses it (12 records).
    const violating = Array.from({ length: records }, (_, n) => n).filter((n) => n % 250 === 7);
    await produce(
      brokers,
      input,
      Array.from({ length: records }, (_, n) => ({ key: `key-${n % 30}`, value: JSON.stringify({ n, amount: n % 250 === 7 ? -1 : n }) })),
    );
    await produce(brokers, input, [
      { key: 'bad-1', value: '{"n": 1,' },
      { key: 'bad-2', value: 'not json' },
    ]);
    const worker = start(config, 'pgdlt');
    await waitForDatabaseCommit(groupId, input);
    expect(await metric(worker, `txstream_sink_rows_written_total{pipeline="${pipeline}"}`)).toBe(records - violating.length);
    expect(await metric(worker, `txstream_sink_commit_duration_seconds_count{pipeline="${pipeline}"}`)).toBeGreaterThan(0);
    expect(await metric(worker, `txstream_commit_duration_seconds_count{pipeline="${pipeline}",strategy="postgres"}`)).toBeGreaterThan(0);
    expect(await metric(worker, `txstream_records_total{pipeline="${pipeline}",outcome="dead_lettered"}`)).toBe(violating.length + 2);
    expect(await metric(worker, `txstream_sink_fenced_commits_total{pipeline="${pipeline}"}`)).toBe(0);
    expect(await worker.stop()).toBe(0);

    await expectExactlyOnce(pipeline, records - violating.length);
    const missingNeighbours = await db.count(`SELECT count(*) FROM generate_series(0, ${records - 1}) AS s(n) WHERE n % 250 <> 7 AND n NOT IN (SELECT n FROM rows_${pipeline})`);
    expect(missingNeighbours).toBe(0);
    expect(await db.count(`SELECT count(*) FROM rows_${pipeline} WHERE n % 250 = 7`)).toBe(0);

    const deadLetters = await readWithKcat(brokers, [dlt], { until: (read) => read.length >= violating.length + 2, timeoutMs: 60_000 });
    const constraint = deadLetters.filter((record) => record.headers['txstream-dlt-reason'] === 'constraint-violation');
    expect(constraint.map((record) => (JSON.parse(record.value ?? '{}') as { n: number }).n).sort((a, b) => a - b)).toEqual(violating);
    for (const record of constraint) {
      expect(record.headers['txstream-error-class']).toBe('SinkStatementError');
      expect(record.headers['txstream-error-message']).toMatch(/amount_not_negative.*SQLSTATE 23514|SQLSTATE 23514.*amount_not_negative/);
      expect(record.headers['txstream-lineage'] ?? record.headers['txstream-origin']).toBeDefined();
    }
    const decode = deadLetters.filter((record) => record.headers['txstream-dlt-reason'] === 'decode-failed');
    expect(decode.map((record) => record.key).sort()).toEqual(['bad-1', 'bad-2']);
    expect(deadLetters).toHaveLength(violating.length + 2);

    await db.expectOffsetsAgree(brokers, groupId, input);
    expect(worker.log()).toMatch(/PostgreSQL sink ready: pipeline '[^']+' commits in the database \(commit.strategy '[a-z-]+' does not apply\); handlerTimeoutMs is \d+ ms, at most a third of transactionTimeoutMs/);
  });

  it('waits for a database that does not answer at start, saying why in the log and on /readyz, then runs once it answers', async () => {
    const { input, pipeline, groupId, config } = await setup('pgwait', 2, { metricsPort: 0 });
    await produceNumbered(brokers, input, 200);
    await db.server.stop();
    const worker = start(config, 'pgwait');
    try {
      await waitFor(async () => /does not answer[^\n]*retrying/.test(worker.log()), 'the worker to say it waits for the database', 30_000, 100);
      const ready = await fetch(`http://127.0.0.1:${await worker.opsPort()}/readyz`);
      expect(ready.status).toBe(503);
      expect(await ready.text()).toMatch(new RegExp(`${pipeline}: the database at postgres://txstream:\\*\\*\\*@127\\.0\\.0\\.1:\\d+/txstream does not answer`));
      // Still there: an orchestrator sees a worker that is not ready, not a crash loop.
      expect(worker.exitCode()).toBeNull();
    } finally {
      await db.server.restart();
    }
    await waitForDatabaseCommit(groupId, input);
    expect(await worker.stop()).toBe(0);
    await expectExactlyOnce(pipeline, 200);
  });

  it('refuses to start with a wrong database password, in one line naming the pipeline and the database (password hidden)', async () => {
    const wrong = db.url.replace('txstream:txstream@', 'txstream:not-the-password@');
    const { config } = await setup('pgbadpw', 1, { postgresSink: { url: wrong } });
    const worker = start(config, 'pgbadpw');
    const code = await worker.exited();
    const log = worker.log();
    expect(code).toBe(2);
    expect(log).toMatch(/pipeline 'pgbadpw_\w+' sink\.postgres: cannot use the database at postgres:\/\/txstream:\*\*\*@127\.0\.0\.1:\d+\/txstream: password authentication failed/);
    expect(log).not.toContain('not-the-password');
  });

  it('ctx.once runs a side effect once per id, even when the id comes again in another record', async () => {
    const { input, pipeline, groupId, config } = await setup('pgonce', 2);
    // Every id twice: 400 records, 200 ids; the second record of an id finds it recorded.
    const messages = [0, 1].flatMap(() => Array.from({ length: 200 }, (_, n) => ({ key: `key-${n}`, value: JSON.stringify({ n, once: true }) })));
    await produce(brokers, input, messages);
    const worker = start(config, 'pgonce');
    await waitForDatabaseCommit(groupId, input);
    expect(await worker.stop()).toBe(0);

    expect(await db.count(`SELECT count(*) FROM rows_${pipeline}`)).toBe(400);
    expect(await db.count(`SELECT count(*) FROM once_runs_${pipeline}`)).toBe(200);
    expect(await db.count(`SELECT count(DISTINCT n) FROM once_runs_${pipeline}`)).toBe(200);
    expect(await db.count(`SELECT count(*) FROM txstream_once WHERE group_id = $1`, [groupId])).toBe(200);
  });

  it('applies a retry copy written twice (a crash between its write and the database commit) once', async () => {
    const { input, dlt, pipeline, groupId, config } = await setup('pgretry', 1);
    await produceNumbered(brokers, input, 10);
    // A delivery that failed once, as the worker writes it to the first retry tier, twice: what a
    // crash after the copy's acknowledgment and before the database commit leaves behind.
    const failed = { key: Buffer.from('key-x'), value: Buffer.from(JSON.stringify({ n: 9999 })), headers: {}, offset: '777', timestamp: String(Date.now()) } as unknown as KafkaMessage;
    const copy = failureCopy(failed, originOf(input, 0, failed, false), { error: new Error('first attempt failed'), now: Date.now(), dueAt: Date.now() });
    await produce(brokers, `${input}.retry.1`, [copy, copy]);
    const worker = start(config, 'pgretry');
    await waitForDatabaseCommit(groupId, input);
    await waitFor(async () => (await db.offsetsTotal(groupId, `${input}.retry.1`)) >= 2, 'both retry copies consumed', 60_000, 300);
    expect(await worker.stop()).toBe(0);

    expect(await db.count(`SELECT count(*) FROM rows_${pipeline} WHERE lineage = $1`, [`${input}/0/777`])).toBe(1);
    await expectExactlyOnce(pipeline, 11);
    expect(worker.log()).toMatch(/duplicate retry copy skipped/);
    // Without the check the second copy is a unique violation, dead-lettered.
    expect(await readWithKcat(brokers, [dlt], { timeoutMs: 30_000 })).toHaveLength(0);
  });

  it('fences a member stalled with SIGSTOP: its late database commit is refused and no row is written twice', { timeout: 240_000 }, async () => {
    const records = 2000;
    const partitions = 2;
    // A long commit interval: the first member handles every input and then sits idle in its open
    // transactions, which is when it is stopped. Its database sessions outlive the stall (60 s).
    const { input, dlt, pipeline, groupId, config } = await setup('pgzombie', partitions, { commitIntervalMs: 8000, sessionTimeoutMs: 6000, transactionTimeoutMs: 60_000, metricsPort: 0 });
    await produceNumbered(brokers, input, records);
    const zombie = start(config, 'pgzombie-a', 1);
    // Idle in transaction for a second: every input handled (a batch takes ~100 ms), nothing committed yet.
    const idleInTransaction = () =>
      db.count(
        `SELECT count(*) FROM pg_stat_activity WHERE application_name = $1 AND state = 'idle in transaction' AND state_change < now() - interval '1 second'`,
        [`txstream:${pipeline}`],
      );
    await waitFor(async () => (await idleInTransaction()) === partitions, 'the first member to hold an open transaction per partition', 60_000, 100);
    expect(await db.offsetsTotal(groupId, input)).toBe(0);
    zombie.signal('SIGSTOP');
    // Past the session timeout the group drops the stalled member; the new one opens its partitions,
    // which bumps their owner epochs, and waits on the rows the stalled member's transactions hold.
    const healthy = start(config, 'pgzombie-b', 1);
    // Resumed only once the new member has opened every partition (its owner epoch is the second), however slow its start.
    await waitFor(
      async () => (await db.count(`SELECT count(*) FROM txstream_offsets WHERE group_id = $1 AND topic = $2 AND owner_epoch >= 2`, [groupId, input])) === partitions,
      'the new member to open every partition',
      120_000,
      200,
    );
    zombie.signal('SIGCONT');
    await waitForDatabaseCommit(groupId, input);
    expect(await metric(zombie, `txstream_sink_fenced_commits_total{pipeline="${pipeline}"}`)).toBeGreaterThanOrEqual(1);
    await Promise.all([zombie.stop(), healthy.stop()]);

    const refused = zombie.log().match(/database commit refused: a newer owner opened this partition/g) ?? [];
    expect(refused.length).toBeGreaterThanOrEqual(1);
    // Said as what happened: the database refused an older owner's commit; no producer is involved.
    expect(zombie.log()).toMatch(/the database refused a commit from an older owner \(owner epoch \d+ moved on\): another worker owns \S+ of group \S+ now; giving the partition up/);
    expect(zombie.log()).not.toMatch(/producer fenced/);
    await expectExactlyOnce(pipeline, records);
    // A row applied twice would have been a unique violation, dead-lettered: there is none.
    expect(await readWithKcat(brokers, [dlt], { timeoutMs: 30_000 })).toHaveLength(0);
    await db.expectOffsetsAgree(brokers, groupId, input);
  });

  it('waits through a PostgreSQL restart mid-run and resumes: nothing lost, nothing doubled', { timeout: 240_000 }, async () => {
    const records = 8000;
    const { input, dlt, pipeline, groupId, config } = await setup('pgrestart', 3);
    await produceNumbered(brokers, input, records);
    const worker = start(config, 'pgrestart', 1);
    await waitFor(async () => (await db.offsetsTotal(groupId, input)) > 1000, 'the worker to commit 1000 inputs', 60_000, 200);
    await db.server.stop({ mode: 'fast' });
    const stoppedAt = Date.now();
    await sleep(5000);
    await db.server.restart();
    await waitForDatabaseCommit(groupId, input);
    expect(await worker.stop()).toBe(0);

    const log = worker.log();
    expect(log).toMatch(/processing failed; rolled back to the last commit and will retry|could not open the partition/);
    expect(log).toMatch(/resuming from the committed offset after a rollback/);
    expect(Date.now() - stoppedAt).toBeGreaterThan(5000);
    await expectExactlyOnce(pipeline, records);
    expect(await readWithKcat(brokers, [dlt], { timeoutMs: 30_000 })).toHaveLength(0);
    await db.expectOffsetsAgree(brokers, groupId, input);
  });
});
