import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { seededRandom } from '../../load-tests/lib/generators.js';
import { sinkTablesSql } from '../fixtures/pg-sink-handler.js';
import { createPipelineTopics, produceNumbered, uniqueName } from '../support/kafka.js';
import { readWithKcat } from '../support/kcat.js';
import { startTestPostgres, type TestPostgres } from '../support/postgres.js';
import { sleep, waitFor } from '../support/wait.js';
import { ChaosFleet } from '../support/worker-chaos.js';
import { writeWorkerConfig } from '../support/worker-process.js';

/**
 * The sink under kill -9: three `txstream run` processes, one killed with SIGKILL every ~3 s
 * and replaced, while 50,000 inputs go into PostgreSQL. The table's lineage column is UNIQUE,
 * so a row applied twice would be a unique violation and land in the dead-letter topic (read
 * with kcat): exactly once means as many rows as inputs and an empty DLT.
 */
const brokers = inject('kafkaBrokers');
const INPUTS = Number(process.env.TXSTREAM_SINK_CHAOS_INPUTS ?? 50_000);
let db: TestPostgres;
let fleet: ChaosFleet | undefined;

beforeAll(async () => {
  db = await startTestPostgres('chaos');
});

afterAll(async () => {
  await fleet?.kill();
  await db?.stop();
});

describe('PostgreSQL sink under kill -9', () => {
  it(`three workers, one killed every ~3 s, ${INPUTS} inputs: each exactly once in the table, offsets table and Kafka agree`, { timeout: 300_000 }, async () => {
    const partitions = 12;
    const { input, dlt } = await createPipelineTopics(brokers, 'pgchaos', partitions);
    const pipeline = `pgchaos_${Math.random().toString(36).slice(2, 8)}`;
    await db.query(sinkTablesSql(pipeline));
    const groupPrefix = uniqueName('sinkchaos');
    const groupId = `${groupPrefix}.${pipeline}`;
    const config = writeWorkerConfig({ brokers, groupId: groupPrefix, input, pipelineName: pipeline, batchSize: 200, postgresSink: { url: db.url, poolSize: 12 } });
    // The inputs arrive in ten parts, one every 2 s, so the run outlasts several kills however fast the machine is.
    const parts = 10;
    await produceNumbered(brokers, input, INPUTS / parts);

    const started = Date.now();
    fleet = new ChaosFleet(config, { size: 3, name: 'pgchaos' });
    await waitFor(async () => (await db.offsetsTotal(groupId, input)) > 0, 'the first commit', 90_000, 200);
    fleet.killEvery(3000, seededRandom(7));
    for (let part = 1; part < parts; part++) {
      await sleep(2000);
      await produceNumbered(brokers, input, INPUTS / parts, 100, (part * INPUTS) / parts);
    }
    // Kills go on while at most 90 % is committed, so every kill lands mid-run; then the survivors finish.
    await waitFor(async () => (await db.offsetsTotal(groupId, input)) >= INPUTS * 0.9, '90 % of the inputs committed under kills', 240_000, 500);
    await fleet.calm();
    await waitFor(async () => (await db.offsetsTotal(groupId, input)) >= INPUTS, 'every input committed', 120_000, 500);
    // The last replacement may still be starting: a SIGTERM before its handlers are installed is no drain.
    const running = fleet;
    await waitFor(async () => running.workers.every((worker) => /worker running/.test(worker.log())), 'every worker to be running', 60_000, 200);
    const exitCodes = await fleet.stop();
    const seconds = (Date.now() - started) / 1000;

    const [row] = await db.query<{ rows: string; distinct: string }>(`SELECT count(*)::text AS rows, count(DISTINCT lineage)::text AS distinct FROM rows_${pipeline}`);
    console.log(`sink chaos: ${INPUTS} inputs, ${fleet.kills} kills, ${row?.rows} rows in ${seconds.toFixed(0)} s; self exits: ${fleet.selfExits.length}`);
    expect(fleet.kills).toBeGreaterThanOrEqual(3);
    expect(fleet.selfExits).toEqual([]);
    expect(exitCodes).toEqual([0, 0, 0]);
    expect({ rows: Number(row?.rows), distinct: Number(row?.distinct) }).toEqual({ rows: INPUTS, distinct: INPUTS });
    // Every offset of every partition, none skipped: n runs 0..INPUTS-1 over the inputs.
    expect(await db.count(`SELECT count(DISTINCT n) FROM rows_${pipeline}`)).toBe(INPUTS);
    expect(await readWithKcat(brokers, [dlt], { timeoutMs: 30_000 })).toHaveLength(0);

    await db.expectOffsetsAgree(brokers, groupId, input);
  });
});
