/**
 * Throughput of each commit strategy, measured in one run on one broker:
 * 1 KB JSON records pre-produced to one input topic, one in-process worker per
 * strategy (its own consumer group and output topic), batch size 500.
 * Rates are taken between the first commit and the last, so group joins do not count.
 *
 *   npm run load:strategies [-- --records 20000 --batch 500 --partitions 3]
 *
 * KAFKA_BROKERS points it at a cluster; otherwise the local broker is started.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { Kafka, logLevel } from 'kafkajs';
import { auditLineage } from '../src/audit/lineage-audit.js';
import type { CommitStrategyName } from '../src/config/defaults.js';
import { createWorker, defineHandler, definePipeline, LINEAGE_HEADER } from '../src/index.js';
import { clusterDir, LocalKafkaCluster } from '../src/local-kafka/cluster.js';
import { layoutFromBasePort } from '../src/local-kafka/layout.js';
import { createLogger } from '../src/observability/logger.js';
import { readTopics } from '../test/support/kafka.js';

const { values } = parseArgs({
  options: {
    records: { type: 'string', default: '60000' },
    rounds: { type: 'string', default: '2' },
    'per-message-records': { type: 'string', default: '3000' },
    batch: { type: 'string', default: '500' },
    partitions: { type: 'string', default: '3' },
    'commit-interval': { type: 'string', default: '100' },
    strategies: { type: 'string', default: 'transactional,batch,per-message,auto' },
  },
});
const records = Number(values.records);
const rounds = Number(values.rounds);
const perMessageRecords = Number(values['per-message-records']);
const batchSize = Number(values.batch);
const partitions = Number(values.partitions);

const brokers = process.env.KAFKA_BROKERS?.split(',') ?? (await localBroker());
const kafka = new Kafka({ brokers, clientId: 'txstream-load', logLevel: logLevel.NOTHING });
const run = Date.now().toString(36);
const input = `load-${run}`;
const strategies = values.strategies.split(',') as CommitStrategyName[];
const commitIntervalMs = Number(values['commit-interval']);

const admin = kafka.admin();
await admin.connect();
await admin.createTopics({
  waitForLeaders: true,
  topics: [input, `${input}.dlt`, ...strategies.flatMap((s) => Array.from({ length: rounds }, (_, round) => `${input}.${s}.${round}`))].map(
    (topic) => ({ topic, numPartitions: partitions }),
  ),
});
await admin.disconnect();

const producer = kafka.producer({ idempotent: true, maxInFlightRequests: 1 });
await producer.connect();
const padding = 'x'.repeat(900);
for (let start = 0; start < records; start += 1000) {
  const messages = Array.from({ length: Math.min(1000, records - start) }, (_, i) => ({
    key: `key-${(start + i) % 1000}`,
    value: JSON.stringify({ n: start + i, at: Date.now(), padding }),
  }));
  await producer.send({ topic: input, acks: -1, messages });
}
await producer.disconnect();
console.log(`produced ${records} records of ~1 KB to ${input} (${partitions} partitions) at ${brokers.join(',')}`);

const echo = defineHandler<unknown, unknown>({ handle: (record) => ({ value: record.value }) });
interface Row {
  strategy: CommitStrategyName;
  round: number;
  records: number;
  recordsPerSecond: number;
  transactions: number;
  offsetCommits: number;
  duplicatesInOutput: number;
}
const results: Row[] = [];
// Strategies alternate over rounds, so a slow moment of the shared machine does not land on one of them.
for (let round = 0; round < rounds; round++)
  for (const strategy of strategies) {
    const target = strategy === 'per-message' ? perMessageRecords : records;
    const worker = createWorker({
      brokers,
      groupId: `load-${run}-${strategy}-${round}`,
      logger: createLogger({ level: 'error', pretty: false }),
      commit: { strategy, batchSize, commitIntervalMs },
      pipelines: [definePipeline({ name: 'echo', input, output: `${input}.${strategy}.${round}`, handler: echo })],
    });
    await worker.start();
    while (worker.stats().recordsIn === 0) await new Promise((resolve) => setTimeout(resolve, 5));
    const firstAt = Date.now();
    const firstCount = worker.stats().recordsIn;
    while (worker.stats().recordsIn < target) await new Promise((resolve) => setTimeout(resolve, 5));
    const seconds = (Date.now() - firstAt) / 1000;
    const stats = worker.stats();
    await worker.stop();
    const rate = (stats.recordsIn - firstCount) / seconds;
    const outputs = await readTopics(brokers, [`${input}.${strategy}.${round}`], {
      until: (r) => r.length >= stats.recordsIn,
      quietMs: 1500,
      timeoutMs: 120_000,
    });
    const audit = auditLineage(
      outputs.map((r) => {
        const [, partition, offset] = (r.headers[LINEAGE_HEADER] ?? '').split('/');
        return { topic: input, partition: Number(partition), offset: offset ?? '' };
      }),
      outputs.map((r) => r.headers[LINEAGE_HEADER]),
    );
    const row: Row = {
      strategy,
      round,
      records: stats.recordsIn,
      recordsPerSecond: Math.round(rate),
      transactions: stats.transactionsCommitted,
      offsetCommits: stats.offsetCommits,
      duplicatesInOutput: audit.duplicates,
    };
    console.log(JSON.stringify(row));
    results.push(row);
  }

/** The median over rounds of one strategy's rate. */
const rateOf = (name: CommitStrategyName) => {
  const rates = results
    .filter((row) => row.strategy === name)
    .map((row) => row.recordsPerSecond)
    .sort((a, b) => a - b);
  return rates.length === 0
    ? Number.NaN
    : ((rates[Math.floor((rates.length - 1) / 2)] as number) + (rates[Math.ceil((rates.length - 1) / 2)] as number)) / 2;
};
const medians = Object.fromEntries(strategies.map((name) => [name, Math.round(rateOf(name))]));
const ratio = rateOf('transactional') / rateOf('batch');
const machine = `${(await import('node:os')).cpus().length} cores, ${Math.round((await import('node:os')).totalmem() / 2 ** 30)} GiB`;
const summary = {
  run,
  brokers,
  machine,
  recordBytes: 1024,
  batchSize,
  commitIntervalMs,
  partitions,
  rounds,
  medians,
  results,
  transactionalOverBatch: Number(ratio.toFixed(2)),
};
const file = join(import.meta.dirname, 'results', `strategy-throughput-${new Date().toISOString().slice(0, 10)}.json`);
writeFileSync(file, `${JSON.stringify(summary, null, 2)}\n`);
console.log(`transactional / batch = ${ratio.toFixed(2)} (target ≥ 0.8); written to ${file}`);
process.exit(0);

async function localBroker(): Promise<string[]> {
  const { cluster } = await LocalKafkaCluster.start({ name: 'dev', layout: layoutFromBasePort(clusterDir('dev'), 1, 9092) });
  return cluster.brokers;
}
