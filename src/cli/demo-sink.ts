import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import pg from 'pg';
import { redactUrl, withPostgresUrl } from '../config/postgres-sink.js';
import { REPO_ROOT } from '../local-kafka/cluster.js';
import { LocalPostgres } from '../local-postgres/postgres.js';
import { createLogger } from '../observability/logger.js';
import { buildKafkaSecurity } from '../security/index.js';
import { applyTopics } from '../topics/cluster.js';
import { loadTopicsRun } from '../topics/run.js';
import { createWorker } from '../worker/worker.js';
import { commandKafka, connectAdmin } from './connect.js';
import { localBrokers, sampleOrder } from './demo-shared.js';
import { EXIT } from './run.js';

const EXAMPLE_DIR = join(REPO_ROOT, 'examples', 'postgres-sink');

/**
 * `npm run demo -- --sink postgres`: the example sink pipeline (examples/postgres-sink) on the
 * local broker and the local PostgreSQL (both started when needed, both left running), over
 * sample orders; then what the database holds, counted by SQL.
 */
export async function runSinkDemo(options: { readonly records: number }): Promise<number> {
  const brokers = process.env.KAFKA_BROKERS?.split(',') ?? (await localBrokers());
  const url = process.env.TXSTREAM_POSTGRES_URL || (await localPostgresUrl());
  const { settings, pipelines, project } = await loadTopicsRun({ dir: EXAMPLE_DIR, env: { ...process.env, KAFKA_BROKERS: brokers.join(',') } });
  const database = new pg.Client({ connectionString: url });
  await database.connect();
  try {
    await database.query(readFileSync(join(EXAMPLE_DIR, 'schema.sql'), 'utf8'));
    const logger = createLogger({ level: process.env.TXSTREAM_LOG_LEVEL ?? 'error' });
    const security = buildKafkaSecurity(settings.security, { baseDir: process.cwd() });
    const worker = createWorker({ ...settings, brokers, pipelines: withPostgresUrl(pipelines, url), logger, kafka: security });
    const kafka = commandKafka({ ...settings, brokers, clientId: 'txstream-demo' }, process.cwd(), 'setup');
    const admin = await connectAdmin(kafka, { ...settings, brokers });
    try {
      await applyTopics(admin, project.topics, { scope: project.topics.map((topic) => topic.name) });
    } finally {
      await admin.disconnect();
    }
    const run = randomUUID().slice(0, 8);
    const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
    await producer.connect();
    const orders = Array.from({ length: options.records }, (_, index) => sampleOrder(run, index));
    for (let start = 0; start < orders.length; start += 1000) await producer.send({ topic: 'orders', acks: -1, messages: orders.slice(start, start + 1000) });
    await producer.disconnect();
    console.log(`produced ${orders.length} orders (run ${run}) to ${brokers.join(',')}; database ${redactUrl(url)}`);

    const started = Date.now();
    await worker.start();
    // Done when every order of this run is a row (orders of earlier runs may still sit in the topic).
    const saved = async () => Number((await database.query<{ n: string }>(`SELECT count(*)::text AS n FROM orders WHERE order_id LIKE $1`, [`${run}-%`])).rows[0]?.n ?? 0);
    while ((await saved()) < options.records && Date.now() - started < 120_000) await new Promise((resolve) => setTimeout(resolve, 200));
    const elapsed = (Date.now() - started) / 1000;
    const result = await worker.stop();
    const stats = worker.stats();
    const rows = await saved();
    const { rows: offsets } = await database.query<{ partition: number; next_offset: string; owner_epoch: string }>(
      `SELECT partition, next_offset::text, owner_epoch::text FROM txstream_offsets WHERE group_id = $1 AND topic = 'orders' ORDER BY partition`,
      [worker.pipelines[0]?.groupId],
    );
    console.log(
      [
        `pipeline orders-to-postgres (PostgreSQL sink, exactly-once): orders → table orders`,
        `  orders of this run saved: ${rows} of ${options.records}`,
        `  records in:    ${stats.recordsIn}`,
        `  dead-lettered: ${stats.deadLettered}`,
        `  transactions:  ${stats.transactionsCommitted} committed in the database, ${stats.transactionsAborted} rolled back`,
        `  offsets table: ${offsets.map((row) => `orders[${row.partition}] next ${row.next_offset} (epoch ${row.owner_epoch})`).join(', ')}`,
        `  time:          ${elapsed.toFixed(1)} s (${Math.round(rows / elapsed)} rows/s on this machine)`,
      ].join('\n'),
    );
    return rows === options.records && result.clean ? EXIT.ok : EXIT.failed;
  } finally {
    await database.end();
  }
}

async function localPostgresUrl(): Promise<string> {
  const { postgres, alreadyRunning } = await LocalPostgres.start({ name: 'dev' });
  console.log(`${alreadyRunning ? 'using the running' : 'started a'} local PostgreSQL at 127.0.0.1:${postgres.port} (stop it with npm run postgres:down)`);
  return postgres.url;
}
