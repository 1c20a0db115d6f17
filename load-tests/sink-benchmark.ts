/**
 * Rows per second into PostgreSQL from one Kafka topic, three ways, at batch sizes 1…5000:
 *
 * - naive:  consume one record, INSERT it (autocommit), commit its Kafka offset; per record.
 * - alo:    at-least-once batched: one multi-row INSERT per batch (autocommit), then the batch's
 *           Kafka offsets; no offsets in the database (a crash between the two applies rows twice).
 * - sink:   txstream's exactly-once sink: the same multi-row INSERT through ctx.db, the offsets
 *           in the same database transaction (spanning batches up to commitIntervalMs), epoch check.
 *
 * Each cell reads the same pre-produced backlog with its own consumer group into its own table.
 * The rate counts rows between the first row committed and the last, so the group join does not
 * count. `npm run load:sink -- --help`; results in load-tests/results/sink-<date>.{json,md}.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { type EachBatchPayload, Kafka, logLevel } from 'kafkajs';
import pg from 'pg';
import { findFreePort } from '../src/local-server/supervisor.js';
import { LocalPostgres } from '../src/local-postgres/postgres.js';
import { createLogger } from '../src/observability/logger.js';
import { definePipeline } from '../src/pipeline/definition.js';
import { defineHandler } from '../src/pipeline/records.js';
import { createWorker } from '../src/worker/worker.js';
import { openBroker } from './lib/kafka-env.js';

type Mode = 'naive' | 'alo' | 'sink';

interface Cell {
  readonly mode: Mode;
  readonly batchSize: number;
  readonly rows: number;
  readonly seconds: number;
  readonly rowsPerSecond: number;
}

const program = new Command('sink-benchmark')
  .option('--batch-sizes <list>', 'batch sizes', '1,10,100,500,1000,5000')
  .option('--records <n>', 'backlog records (cells at batch size 1 and the naive loop read the first --small of them)', '20000')
  .option('--small <n>', 'records for the per-record cells', '2000')
  .option('--partitions <n>', 'partitions of the backlog topic', '3')
  .option('--out <dir>', 'where the results go', join(import.meta.dirname, 'results'))
  .parse();
const options = program.opts<{ batchSizes: string; records: string; small: string; partitions: string; out: string }>();
const batchSizes = options.batchSizes.split(',').map(Number);
const records = Number(options.records);
const small = Number(options.small);
const partitions = Number(options.partitions);
const log = (line: string) => console.log(line);

const broker = await openBroker(log);
const { postgres, started } = await openPostgres();
log(`database: local PostgreSQL on port ${postgres.port}`);
const admin = new pg.Pool({ connectionString: postgres.url, max: 2 });
const kafka = new Kafka({ clientId: 'sink-bench', brokers: broker.brokers, logLevel: logLevel.NOTHING });
const run = Math.random().toString(36).slice(2, 8);
const cells: Cell[] = [];

try {
  // Two backlogs: the per-record cells read a small one, the batched ones a large one.
  const topics = { large: `sinkbench-${run}-large`, small: `sinkbench-${run}-small`, dlt: `sinkbench-${run}-dlt` };
  const kafkaAdmin = kafka.admin();
  await kafkaAdmin.connect();
  await kafkaAdmin.createTopics({ waitForLeaders: true, topics: Object.values(topics).map((topic) => ({ topic, numPartitions: partitions })) });
  await kafkaAdmin.disconnect();
  log(`topics created; producing ${records} + ${small} records`);
  await produce(topics.large, records);
  await produce(topics.small, small);

  cells.push(await measure('naive', 1, topics.small, small));
  for (const batchSize of batchSizes) {
    const [topic, count] = batchSize < 10 ? [topics.small, small] : [topics.large, records];
    for (const mode of ['alo', 'sink'] as const) cells.push(await measure(mode, batchSize, topic, count));
  }
  report();
} finally {
  await admin.end();
  if (started) await postgres.stop({ wipe: true });
  await broker.close();
}

async function openPostgres(): Promise<{ postgres: LocalPostgres; started: boolean }> {
  const name = `bench-${process.pid}`;
  const { postgres } = await LocalPostgres.start({ name, port: await findFreePort() });
  return { postgres, started: true };
}

async function produce(topic: string, count: number): Promise<void> {
  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  for (let start = 0; start < count; start += 5000) {
    const messages = Array.from({ length: Math.min(5000, count - start) }, (_, i) => ({ key: `k${(start + i) % 100}`, value: JSON.stringify({ n: start + i, amount: (start + i) % 1000 }) }));
    await producer.send({ topic, acks: -1, messages });
  }
  await producer.disconnect();
}

async function createTable(table: string): Promise<void> {
  await admin.query(`CREATE TABLE ${table} (lineage text NOT NULL UNIQUE, n integer NOT NULL, amount integer NOT NULL)`);
}

function insertSql(table: string): string {
  return `INSERT INTO ${table} (lineage, n, amount) SELECT * FROM unnest($1::text[], $2::int[], $3::int[])`;
}

function columns(rows: ReadonlyArray<{ lineage: string; value: { n: number; amount: number } }>): unknown[] {
  return [rows.map((row) => row.lineage), rows.map((row) => row.value.n), rows.map((row) => row.value.amount)];
}

async function measure(mode: Mode, batchSize: number, topic: string, count: number): Promise<Cell> {
  const table = `bench_${mode}_${batchSize}_${run}`;
  await createTable(table);
  const groupId = `sinkbench-${run}-${mode}-${batchSize}`;
  let firstAt: number | undefined;
  const first = () => {
    firstAt ??= performance.now();
  };
  const stop = mode === 'sink' ? await runSink(table, groupId, topic, batchSize, first) : await runConsumer(mode, table, groupId, topic, batchSize, first);
  let rows = 0;
  const deadline = Date.now() + 600_000;
  let reported = Date.now();
  while (rows < count && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    rows = Number((await admin.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`)).rows[0]?.n ?? 0);
    if (Date.now() - reported > 10_000) {
      reported = Date.now();
      log(`  ${mode} batch ${batchSize}: ${rows} of ${count} rows so far`);
    }
  }
  const seconds = (performance.now() - (firstAt ?? performance.now())) / 1000;
  await stop();
  const cell = { mode, batchSize, rows, seconds, rowsPerSecond: Math.round(rows / seconds) };
  log(`${mode.padEnd(5)} batch ${String(batchSize).padStart(4)}: ${rows} rows in ${seconds.toFixed(2)} s = ${cell.rowsPerSecond} rows/s`);
  return cell;
}

/** The hand-written consumers: naive (per record) and at-least-once batched. */
async function runConsumer(mode: 'naive' | 'alo', table: string, groupId: string, topic: string, batchSize: number, first: () => void): Promise<() => Promise<void>> {
  const client = new pg.Client({ connectionString: postgres.url });
  await client.connect();
  const consumer = kafka.consumer({ groupId, maxWaitTimeInMs: 50 });
  await consumer.connect();
  await consumer.subscribe({ topic, fromBeginning: true });
  await consumer.run({
    autoCommit: false,
    eachBatchAutoResolve: false,
    eachBatch: async (payload) => {
      try {
        await handleBatch(payload);
      } catch (error) {
        log(`  ${mode} consumer failed: ${(error as Error).message}`);
        throw error;
      }
    },
  });
  async function handleBatch({ batch, resolveOffset, isRunning }: EachBatchPayload): Promise<void> {
      first();
      const messages = batch.messages;
      const unit = mode === 'naive' ? 1 : batchSize;
      for (let start = 0; start < messages.length && isRunning(); start += unit) {
        const slice = messages.slice(start, start + unit);
        const rows = slice.map((message) => ({
          lineage: `${batch.topic}/${batch.partition}/${message.offset}`,
          value: JSON.parse(message.value?.toString() ?? '{}') as { n: number; amount: number },
        }));
        await client.query(insertSql(table), columns(rows));
        const last = slice[slice.length - 1];
        if (!last) continue;
        await consumer.commitOffsets([{ topic: batch.topic, partition: batch.partition, offset: (BigInt(last.offset) + 1n).toString() }]);
        resolveOffset(last.offset);
      }
  }
  return async () => {
    await consumer.disconnect();
    await client.end();
  };
}

async function runSink(table: string, groupId: string, topic: string, batchSize: number, first: () => void): Promise<() => Promise<void>> {
  const handler = defineHandler<{ n: number; amount: number }, never>({
    async handleBatch(records, ctx) {
      first();
      if (!ctx.db) throw new Error('no sink');
      await ctx.db.query(insertSql(table), columns(records.map((record) => ({ lineage: `${record.topic}/${record.partition}/${record.offset}`, value: record.value }))));
      return records.map(() => undefined);
    },
  });
  const worker = createWorker({
    brokers: broker.brokers,
    groupId,
    logger: createLogger({ level: 'error' }),
    lagRefreshMs: 0,
    commit: { batchSize },
    pipelines: [
      definePipeline({ name: 'sink', input: topic, handler, errors: { onError: 'dead-letter' }, deadLetterTopic: `sinkbench-${run}-dlt`, sink: { postgres: { url: postgres.url, offsetsTable: `offsets_${run}` } } }),
    ],
  });
  await worker.start();
  return async () => {
    await worker.stop();
  };
}

function report(): void {
  const rate = (mode: Mode, batchSize: number) => cells.find((cell) => cell.mode === mode && cell.batchSize === batchSize)?.rowsPerSecond;
  const naive = rate('naive', 1) ?? Number.NaN;
  const lines = [
    `# PostgreSQL sink: rows per second (${new Date().toISOString().slice(0, 10)}, one run)`,
    '',
    `Machine: ${broker.machine.cores} cores (${broker.machine.cpuModel}), Node ${broker.machine.node}; one local broker, one local PostgreSQL; ${partitions} partitions;`,
    `${records} records per batched cell, ${small} per per-record cell. Shared machine: absolute rates are noisy, the ratios are what this measures.`,
    '',
    `Naive loop (INSERT then commit the Kafka offset, per record): **${naive} rows/s**.`,
    '',
    '| batch | at-least-once batched (b) rows/s | exactly-once sink rows/s | sink ÷ (b) | sink ÷ naive (a) |',
    '| ---: | ---: | ---: | ---: | ---: |',
    ...batchSizes.map((batchSize) => {
      const alo = rate('alo', batchSize) ?? Number.NaN;
      const sink = rate('sink', batchSize) ?? Number.NaN;
      return `| ${batchSize} | ${alo} | ${sink} | ${(sink / alo).toFixed(2)} | ${(sink / naive).toFixed(1)} |`;
    }),
    '',
    'Targets (issue 14): sink ≥ 0.9 × (b) at batch 500, ≥ 50 × (a).',
  ];
  const stamp = new Date().toISOString().slice(0, 10);
  writeFileSync(join(options.out, `sink-${stamp}.json`), `${JSON.stringify({ date: new Date().toISOString(), machine: broker.machine, partitions, records, small, cells }, null, 2)}\n`);
  writeFileSync(join(options.out, `sink-${stamp}.md`), `${lines.join('\n')}\n`);
  console.log(lines.join('\n'));
}
