/**
 * The pause a rebalance costs: one worker processes a steady open-model stream, a second joins,
 * later leaves gracefully, and the first is alone again. Reported per event, from the same run:
 * the workers' own txstream_rebalance_pause_seconds (rebalance signal → every partition of the
 * new generation open), and what a read_committed reader saw: the end-to-end latency of the
 * records sent in the seconds around the event, against the steady state before it.
 *
 *   npm run load:rebalance                      # 12 partitions, 2,000 rec/s, ~50 s
 *   npm run load:rebalance -- --partitions 96 --rate 1000
 *
 * KafkaJS rebalances eagerly: every partition is revoked and reassigned at each event.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Command } from 'commander';
import { createWorker, definePipeline, defineHandler, type Worker } from '../src/index.js';
import { createLogger } from '../src/observability/logger.js';
import { createGenerator, readStamp } from './lib/generators.js';
import { createTopics, deleteTopics, openBroker, produceOpenModel, sleep, startReader } from './lib/kafka-env.js';
import { percentile } from './lib/metrics.js';

interface Options {
  partitions: number;
  rate: number;
  out: string;
}

const program = new Command()
  .option('--partitions <n>', 'input partitions', (value) => Number(value), 12)
  .option('--rate <n>', 'records per second, sent on schedule whatever the workers do', (value) => Number(value), 2000)
  .option('--out <dir>', 'where the result files go', 'load-tests/results')
  .parse();
const options = program.opts<Options>();

/** Seconds of the run at which the second worker joins and leaves. */
const JOIN_AT = 15;
const LEAVE_AT = 30;
const DURATION = 45;

const env = await openBroker(console.log, { name: 'rebalance', port: 39092 });
const prefix = `load-rebalance-${Date.now().toString(36)}`;
const input = prefix;
const output = `${prefix}.out`;
const topics = [input, output, `${input}.dlt`, `${input}.retry.1`, `${input}.retry.2`, `${input}.retry.3`];
await createTopics(env.kafka, topics.map((topic, index) => ({ topic, partitions: index < 2 ? options.partitions : 1 })));

const generator = createGenerator({ recordBytes: 1024 });
const seen: Array<{ sentAt: number; visibleAt: number }> = [];
const reader = await startReader(env.kafka, [output], (_topic, _partition, message, receivedAt) => {
  const stamp = readStamp(message.value, 'json');
  if (stamp) seen.push({ sentAt: stamp.sentAt, visibleAt: receivedAt });
});

const pipeline = definePipeline({ name: 'pass', input, output, handler: defineHandler({ handle: (record) => ({ key: record.key, value: record.value }) }) });
const start = async (instanceId: string): Promise<Worker> => {
  const worker = createWorker({
    brokers: env.brokers,
    groupId: prefix,
    instanceId,
    logger: createLogger({ level: 'warn' }),
    sessionTimeoutMs: 10_000,
    heartbeatIntervalMs: 1000,
    pipelines: [pipeline],
  });
  await worker.start();
  return worker;
};

const first = await start('first');
await sleep(3000);
const producer = env.kafka.producer({ idempotent: true });
await producer.connect();
const schedule = Array.from({ length: options.rate * DURATION }, (_, index) => (index * 1000) / options.rate);
const started = Date.now();
const sending = produceOpenModel(producer, input, schedule, generator);
const events: Array<{ event: string; at: number }> = [];

await sleep(JOIN_AT * 1000);
events.push({ event: 'second worker joins', at: Date.now() });
const second = await start('second');
await sleep((LEAVE_AT - JOIN_AT) * 1000);
events.push({ event: 'second worker leaves (graceful drain)', at: Date.now() });
await second.stop();
await sending;
await producer.disconnect();
// Let the last transactions become visible.
await sleep(3000);
await first.stop();
await reader.stop();
await deleteTopics(env.kafka, topics);
await env.close();

const pauses = async (worker: Worker) => {
  const metric = (await worker.metrics.registry.getMetricsAsJSON()).find((entry) => entry.name === 'txstream_rebalance_pause_seconds');
  const values = (metric?.values ?? []) as Array<{ metricName?: string; value: number }>;
  const sum = values.find((value) => value.metricName?.endsWith('_sum'))?.value ?? 0;
  const count = values.find((value) => value.metricName?.endsWith('_count'))?.value ?? 0;
  return { count, meanMs: count > 0 ? Math.round((sum / count) * 1000) : 0 };
};

const latencyOf = (from: number, to: number) => {
  const window = seen.filter((record) => record.sentAt >= from && record.sentAt < to).map((record) => record.visibleAt - record.sentAt).sort((a, b) => a - b);
  return { records: window.length, p50: Math.round(percentile(window, 50)), p99: Math.round(percentile(window, 99)), max: window.at(-1) ?? 0 };
};
const steady = latencyOf(started + 5000, started + JOIN_AT * 1000 - 1000);
const rows = events.map(({ event, at }) => ({ event, ...latencyOf(at - 1000, at + 5000) }));
const result = {
  date: new Date().toISOString(),
  partitions: options.partitions,
  rate: options.rate,
  sent: seen.length,
  machine: env.machine,
  broker: env.brokerVersion,
  steady,
  events: rows,
  workerPauses: { first: await pauses(first), second: await pauses(second) },
};

const lines = [
  `# Rebalance pause, ${options.partitions} partitions, ${options.rate} rec/s (${result.date.slice(0, 10)})`,
  '',
  `One run on ${env.machine.cores} cores (${env.machine.cpuModel}), Kafka ${env.brokerVersion}, Node ${env.machine.node}. Latency: a record's`,
  'intended send time to when a read_committed reader received it; windows of records sent from 1 s before',
  'an event to 5 s after it, against the steady window before the first event.',
  '',
  '| window | records | p50 ms | p99 ms | max ms | p99 / steady p99 |',
  '| --- | --- | --- | --- | --- | --- |',
  `| steady (5 s … ${JOIN_AT - 1} s) | ${steady.records} | ${steady.p50} | ${steady.p99} | ${steady.max} | 1.0 |`,
  ...rows.map((row) => `| ${row.event} | ${row.records} | ${row.p50} | ${row.p99} | ${row.max} | ${(row.p99 / Math.max(1, steady.p99)).toFixed(1)} |`),
  '',
  `Workers' own measure (txstream_rebalance_pause_seconds: rebalance signal → every partition open): first worker ${result.workerPauses.first.count} rebalances, mean ${result.workerPauses.first.meanMs} ms; second worker ${result.workerPauses.second.count}, mean ${result.workerPauses.second.meanMs} ms.`,
];
const base = join(options.out, `rebalance-${options.partitions}p-${result.date.slice(0, 10)}`);
writeFileSync(`${base}.json`, `${JSON.stringify(result, null, 2)}\n`);
writeFileSync(`${base}.md`, `${lines.join('\n')}\n`);
console.log(lines.join('\n'));
console.log(`results: ${base}.json, ${base}.md`);
