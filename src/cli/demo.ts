import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { REPO_ROOT } from '../local-kafka/cluster.js';
import { createLogger } from '../observability/logger.js';
import { applyTopics } from '../topics/cluster.js';
import { loadTopicsRun } from '../topics/run.js';
import { buildKafkaSecurity } from '../security/index.js';
import { createWorker } from '../worker/worker.js';
import { commandKafka, connectAdmin } from './connect.js';
import { localBrokers, sampleOrder } from './demo-shared.js';
import { EXIT } from './run.js';

export interface DemoOptions {
  readonly records: number;
  /** `postgres`: the example sink pipeline into a local PostgreSQL instead (src/cli/demo-sink.ts). */
  readonly sink?: 'postgres';
}

/**
 * The main job on an embedded default: a local broker (unless KAFKA_BROKERS is
 * set), the demo topics, sample orders, and the demo pipeline run until it has
 * committed every order it was given.
 */
export async function runDemo(options: DemoOptions): Promise<number> {
  if (options.sink === 'postgres') return (await import('./demo-sink.js')).runSinkDemo(options);
  const brokers = process.env.KAFKA_BROKERS?.split(',') ?? (await localBrokers());
  // The demo runs what `txstream run` runs by default: the pipelines of topics/, with
  // the topics those files declare applied first (as `txstream topics apply` would).
  const { settings, pipelines, project } = await loadTopicsRun({
    dir: join(REPO_ROOT, 'topics'),
    env: { ...process.env, KAFKA_BROKERS: brokers.join(',') },
  });
  const logger = createLogger({ level: process.env.TXSTREAM_LOG_LEVEL ?? 'error' });
  // The security settings of `txstream run` (env, or the topics files), for a cluster of your own.
  const security = buildKafkaSecurity(settings.security, { baseDir: process.cwd() });
  const worker = createWorker({ ...settings, brokers, pipelines, logger, kafka: security });
  const kafka = commandKafka({ ...settings, brokers, clientId: 'txstream-demo' }, process.cwd(), 'setup');

  const admin = await connectAdmin(kafka, { ...settings, brokers });
  try {
    const applied = await applyTopics(admin, project.topics, { scope: project.topics.map((topic) => topic.name) });
    if (applied.created.length > 0) console.log(`created topics: ${applied.created.join(', ')}`);
  } finally {
    await admin.disconnect();
  }

  const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
  await producer.connect();
  const run = randomUUID().slice(0, 8);
  const orders = Array.from({ length: options.records }, (_, i) => sampleOrder(run, i));
  for (let start = 0; start < orders.length; start += 1000) {
    await producer.send({ topic: 'orders', acks: -1, messages: orders.slice(start, start + 1000) });
  }
  await producer.disconnect();
  console.log(`produced ${orders.length} orders (run ${run}) to ${brokers.join(',')}`);

  const started = Date.now();
  await worker.start();
  while (worker.stats().recordsIn < options.records) {
    if (Date.now() - started > 120_000) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  const elapsed = (Date.now() - started) / 1000;
  const result = await worker.stop();
  const stats = worker.stats();
  console.log(
    [
      `pipeline orders-enricher (transactional, exactly-once): orders → orders.enriched`,
      `  records in:    ${stats.recordsIn}`,
      `  records out:   ${stats.recordsOut}`,
      `  dead-lettered: ${stats.deadLettered}`,
      `  transactions:  ${stats.transactionsCommitted} committed, ${stats.transactionsAborted} aborted`,
      `  time:          ${elapsed.toFixed(1)} s (${Math.round(stats.recordsIn / elapsed)} records/s on this machine)`,
    ].join('\n'),
  );
  return stats.recordsIn >= options.records && result.clean ? EXIT.ok : EXIT.failed;
}
