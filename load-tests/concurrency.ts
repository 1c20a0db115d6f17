/**
 * Concurrency inside a partition, measured. An echo handler behind a fixed wait (`--delay-ms`,
 * 10: a stand-in for a lookup or an HTTP call), 12 partitions, 1,000 keys, transactional, one
 * worker in a process of its own, every contender reading the same backlog with its own group:
 *
 * - sequential: today's default, one record at a time per partition (`ordering: partition`);
 * - key@N:      `concurrency: { ordering: key, maxInFlight: N }` for each `--max-in-flight`;
 * - pc@N:       the same echo under Confluent Parallel Consumer (a JVM of its own), KEY ordering,
 *               maxConcurrency min(N × partitions, the worker cap) (as many as key@N), its transactional commit mode (`--no-parallel-consumer`: none).
 *
 * The rate counts records committed by the group (its committed offsets), after a warm-up; the CPU
 * is the worker process's (every thread) over the same window. Every run is audited exactly-once.
 * With `--latency-duration` above 0, end-to-end latency of key@64 (or the first key@N) at half of
 * its saturation, open model. `npm run load:concurrency -- --help`; results in
 * load-tests/results/concurrency-<date>[-label].{json,md}.
 */
import { writeFileSync } from 'node:fs';
import { cpus, loadavg } from 'node:os';
import { join } from 'node:path';
import { Command } from 'commander';
import type { Admin } from 'kafkajs';
import { DEFAULTS } from '../src/config/defaults.js';
import { spawnWorker } from './lib/child-worker.js';
import { measureCommittedRate } from './lib/committed-rate.js';
import { createGenerator } from './lib/generators.js';
import { auditGroup, type BrokerEnv, createTopics, deleteTopics, type GroupAudit, openBroker, produceBacklog, sleep } from './lib/kafka-env.js';
import { PARALLEL_CONSUMER_MODE, PARALLEL_CONSUMER_VERSION, prepareParallelConsumer, startParallelConsumer } from './lib/parallel-consumer-baseline.js';
import { auditParallelConsumerGroup, pcCommittedTotal } from './lib/parallel-consumer-offsets.js';
import { openModelLatency } from './lib/open-model-latency.js';
import { processCpuMs } from './lib/proc-stats.js';
import { parseDuration } from './lib/schedule.js';
import { createRunTopics, round, type RunTopics, topicsFor, type WorkerSetup } from './lib/worker-cells.js';

const program = new Command('concurrency-benchmark')
  .option('--max-in-flight <list>', 'maxInFlight values of ordering key', '16,64,256')
  .option('--delay-ms <n>', "the handler's wait per record", '10')
  .option('--partitions <n>', 'input partitions', '12')
  .option('--keys <n>', 'distinct keys', '1000')
  .option('--backlog <n>', 'records produced once for every contender', '300000')
  .option('--warmup <duration>', 'not counted after the first commit', '3s')
  .option('--cap <duration>', 'measuring window', '8s')
  .option('--rounds <n>', 'rounds (contenders in reverse order every other round); medians reported', '1')
  .option('--latency-duration <duration>', 'latency run of key@64 at half its saturation (0: none)', '0')
  .option('--no-parallel-consumer', 'without the Confluent Parallel Consumer contenders pc@N')
  .option('--label <name>', 'suffix of the results files')
  .option('--broker-name <name>', 'local broker (started if not running)', 'bench')
  .option('--broker-port <port>', 'its port', '29092');

interface Run {
  readonly contender: string;
  readonly round: number;
  readonly recordsPerSecond: number;
  readonly seconds: number;
  readonly cpuMsPer1kRecords: number;
  readonly cpuCores: number;
  readonly audit: string;
  readonly exactlyOnce: boolean;
  /** What went wrong on stopping it, when something did. */
  readonly stop?: string;
}

/** What `measure` needs of a contender's process: the txstream worker child or the Parallel Consumer JVM. */
interface Measured {
  readonly pid: number;
  readonly groupId: string;
  /** Records its group has committed (default: the sum of its committed offsets). */
  readonly count?: (admin: Admin, groupId: string, topic: string) => Promise<number>;
  alive(): boolean;
  /** Resolves to a complaint when the stop was not clean. */
  stop(): Promise<string | undefined>;
  /** The exactly-once audit of its group, once stopped. */
  audit(): Promise<GroupAudit>;
}

async function main(): Promise<number> {
  const options = program.parse().opts<Record<string, string>>();
  // A boolean, not a string: commander sets it false for --no-parallel-consumer.
  const withParallelConsumer = (options.parallelConsumer as unknown) !== false;
  const maxInFlight = (options.maxInFlight as string).split(',').map(Number);
  const delayMs = Number(options.delayMs);
  const partitions = Number(options.partitions);
  const backlog = Number(options.backlog);
  const rounds = Number(options.rounds);
  const capMs = parseDuration(options.cap as string);
  const warmupMs = parseDuration(options.warmup as string);
  const latencyDurationMs = parseDuration(options.latencyDuration as string);
  const command = `npm run load:concurrency -- ${process.argv.slice(2).join(' ')}`.trim();
  const env = await openBroker(console.log, { name: options.brokerName, port: Number(options.brokerPort) });
  const run = `conc-${Date.now().toString(36)}`;
  const input = `${run}.in`;
  const created: string[] = [input];
  const loads: number[] = [loadavg()[0] as number];
  const runs: Run[] = [];
  // Parallel Consumer's maxConcurrency bounds the whole process, txstream's maxInFlight each partition
  // (under the worker's cap): pc@N gets as many threads as key@N can have calls in flight.
  const pcConcurrency = (n: number) => Math.min(n * partitions, DEFAULTS.maxInFlight);
  // pc@N right after key@N: the pair runs back to back, under the same load of the machine.
  const contenders = ['sequential', ...maxInFlight.flatMap((n) => [`key@${n}`, ...(withParallelConsumer ? [`pc@${n}`] : [])])];
  const kafkaVersion = /^\d+\.\d+\.\d+/.exec(env.brokerVersion)?.[0] ?? '3.9.2';
  let classpath = '';
  const setupOf = (contender: string): WorkerSetup => ({
    strategy: 'transactional',
    batchSize: DEFAULTS.batchSize,
    workers: 1,
    handlerDelayMs: delayMs,
    ...(contender === 'sequential' ? {} : { concurrency: { ordering: 'key', maxInFlight: Number(contender.slice(4)) } }),
  });
  let latency: Awaited<ReturnType<typeof openModelLatency>> & { contender: string; audit: string } = undefined as never;
  try {
    // Before the backlog: a missing jar or a javac error fails the run before it costs anything.
    if (withParallelConsumer) classpath = prepareParallelConsumer(kafkaVersion);
    await createTopics(env.kafka, [{ topic: input, partitions }]);
    const produced = await produceBacklog(env.kafka, input, backlog, createGenerator({ keys: Number(options.keys), recordBytes: 256 }), { chunk: 2000 });
    console.log(`backlog: ${backlog} records (${options.keys} keys) to ${input} (${partitions} partitions) in ${produced.seconds.toFixed(1)} s`);
    for (let roundIndex = 0; roundIndex < rounds; roundIndex++) {
      for (const contender of roundIndex % 2 === 0 ? contenders : [...contenders].reverse()) {
        const result = await measure(env, { run, input, partitions, contender, roundIndex, backlog, capMs, warmupMs, created }, (topics, prefix) =>
          contender.startsWith('pc@') ? startPc(env, { classpath, topics, groupId: prefix, maxConcurrency: pcConcurrency(Number(contender.slice(3))), delayMs }) : startTxstream(env, setupOf(contender), topics, prefix),
        );
        runs.push(result);
        loads.push(loadavg()[0] as number);
        console.log(`[r${roundIndex + 1}] ${contender.padEnd(10)} ${result.recordsPerSecond} rec/s over ${result.seconds} s, ${result.cpuMsPer1kRecords} CPU ms per 1,000 records (${result.cpuCores} cores), audit ${result.audit}${result.stop ? `; ${result.stop}` : ''}`);
      }
    }
    if (latencyDurationMs > 0) {
      const contender = contenders.includes('key@64') ? 'key@64' : `key@${maxInFlight[0]}`;
      const saturation = median(runs.filter((r) => r.contender === contender).map((r) => r.recordsPerSecond));
      latency = await latencyOf(env, { run, partitions, contender, setup: setupOf(contender), rate: Math.max(10, Math.round(saturation / 2)), durationMs: latencyDurationMs, keys: Number(options.keys), created });
      console.log(`latency of ${contender} at ${latency.rate} rec/s (half of ${saturation}): p50 ${latency.p50} ms, p99 ${latency.p99} ms, ${latency.samples} samples, audit ${latency.audit}`);
    }
  } finally {
    await deleteTopics(env.kafka, created).catch(() => {});
    await env.close();
  }
  const stem = `concurrency-${new Date().toISOString().slice(0, 10)}${options.label ? `-${options.label}` : ''}`;
  const dir = join(import.meta.dirname, 'results');
  const summary = contenders.map((contender) => {
    const own = runs.filter((r) => r.contender === contender);
    return { contender, recordsPerSecond: median(own.map((r) => r.recordsPerSecond)), cpuMsPer1kRecords: median(own.map((r) => r.cpuMsPer1kRecords)), exactlyOnce: own.every((r) => r.exactlyOnce) };
  });
  const sequential = summary[0]?.recordsPerSecond ?? 0;
  // Per round, then the median: both of a pair ran back to back, so a round's ratio shares its load.
  const versus = withParallelConsumer
    ? maxInFlight.map((n) => {
        const ratios = runs.flatMap((r) => {
          const pc = runs.find((p) => p.contender === `pc@${n}` && p.round === r.round);
          return r.contender === `key@${n}` && pc && pc.recordsPerSecond > 0 ? [r.recordsPerSecond / pc.recordsPerSecond] : [];
        });
        const cpuRatios = runs.flatMap((r) => {
          const pc = runs.find((p) => p.contender === `pc@${n}` && p.round === r.round);
          return r.contender === `key@${n}` && pc && r.cpuMsPer1kRecords > 0 ? [pc.cpuMsPer1kRecords / r.cpuMsPer1kRecords] : [];
        });
        return { maxInFlight: n, rateRatio: ratios.length > 0 ? round(median(ratios), 2) : undefined, cpuRatio: cpuRatios.length > 0 ? round(median(cpuRatios), 2) : undefined };
      })
    : [];
  const pcLine = `pc@N is Confluent Parallel Consumer ${PARALLEL_CONSUMER_VERSION} (Kafka clients ${kafkaVersion}) in a JVM of its own, pollAndProduce with ${PARALLEL_CONSUMER_MODE}, maxConcurrency min(N × ${partitions}, ${DEFAULTS.maxInFlight}) (the calls key@N can have in flight), consumer read_committed without auto commit, a transactional producer (acks all, idempotent), the wait a Thread.sleep on its pool of that many threads, the same key and value bytes forwarded with the lineage header. It commits records out of offset order: its rate and its audit count what its group committed, below its committed offsets and, past them, what their metadata lists as done (in the same transactions as the outputs; a restart skips them); its CPU is the JVM's (/proc), over the same window as txstream's. Its maxConcurrency bounds the whole process, txstream's maxInFlight each partition (under the worker's cap of ${DEFAULTS.maxInFlight} calls): the pair has the same concurrency in all.`;
  const lines = [
    `# Concurrency inside a partition, ${new Date().toISOString().slice(0, 10)}${options.label ? ` (${options.label})` : ''}`,
    '',
    `\`${command}\`: a handler waiting ${delayMs} ms per record, ${partitions} partitions, ${options.keys} keys, transactional, batch ${DEFAULTS.batchSize}, one worker (partitionsConcurrently ${DEFAULTS.partitionsConcurrently}, worker cap ${DEFAULTS.maxInFlight} calls), Kafka ${env.brokerVersion}, ${cpus().length} cores; load average ${loads.map((l) => l.toFixed(1)).join(' → ')}. Medians of ${rounds} round(s); every run audited exactly-once (read_committed, by lineage).`,
    '',
    '| contender | rec/s | × sequential | CPU ms per 1,000 records | exactly-once |',
    '|---|---|---|---|---|',
    ...summary.map((s) => `| ${s.contender} | ${s.recordsPerSecond.toLocaleString('en-US')} | ${sequential > 0 ? round(s.recordsPerSecond / sequential, 1) : '–'} | ${s.cpuMsPer1kRecords} | ${s.exactlyOnce ? '✓' : '✗'} |`),
    '',
    ...(withParallelConsumer
      ? [
          pcLine,
          '',
          '| N | txstream key@N ÷ pc@N, rec/s | pc@N ÷ txstream key@N, CPU ms per 1,000 records |',
          '|---|---|---|',
          ...versus.map((v) => `| ${v.maxInFlight} | ${v.rateRatio ?? '–'} | ${v.cpuRatio ?? '–'} |`),
          '',
          'Ratios are medians of per-round ratios (a pair runs back to back in a round).',
          '',
        ]
      : []),
    'Every run:',
    '',
    ...runs.map((r) => `- round ${r.round + 1}, ${r.contender}: ${r.recordsPerSecond} rec/s over ${r.seconds} s, ${r.cpuMsPer1kRecords} CPU ms per 1,000 records (${r.cpuCores} cores), audit ${r.audit}${r.stop ? `; ${r.stop}` : ''}`),
    ...(latency ? ['', `Latency of ${latency.contender} at ${latency.rate} rec/s (half its saturation), ${latencyDurationMs / 1000} s, ${latency.sender} sender: p50 ${latency.p50} ms, p95 ${latency.p95} ms, p99 ${latency.p99} ms (${latency.samples} samples, ${latency.late} sent late; all outputs seen: ${latency.allSeen}); audit ${latency.audit}.`] : []),
    '',
  ];
  writeFileSync(join(dir, `${stem}.md`), lines.join('\n'));
  writeFileSync(join(dir, `${stem}.json`), `${JSON.stringify({ command, delayMs, partitions, keys: Number(options.keys), rounds, loads, summary, ...(withParallelConsumer ? { parallelConsumer: { version: PARALLEL_CONSUMER_VERSION, kafkaClients: kafkaVersion, mode: PARALLEL_CONSUMER_MODE, versus } } : {}), runs, latency }, null, 2)}\n`);
  console.log(lines.join('\n'));
  console.log(`written: ${join(dir, `${stem}.md`)}, ${join(dir, `${stem}.json`)}`);
  return runs.every((r) => r.exactlyOnce) && (!latency || latency.audit.startsWith('✓')) ? 0 : 1;
}

async function measure(
  env: BrokerEnv,
  o: { run: string; input: string; partitions: number; contender: string; roundIndex: number; backlog: number; capMs: number; warmupMs: number; created: string[] },
  start: (topics: RunTopics, prefix: string) => Promise<Measured>,
): Promise<Run> {
  const prefix = `${o.run}.r${o.roundIndex}.${o.contender.replace('@', '')}`;
  const topics = topicsFor(prefix, o.input);
  await createRunTopics(env, topics, o.partitions, false);
  o.created.push(topics.output, topics.deadLetter);
  const child = await start(topics, prefix);
  const cpu: Array<{ at: number; ms: number }> = [];
  try {
    const rate = await measureCommittedRate(env.kafka, {
      groupId: child.groupId,
      topic: topics.input,
      target: o.backlog,
      capMs: o.capMs,
      warmupMs: o.warmupMs,
      ...(child.count ? { count: child.count } : {}),
      during: () => {
        const ms = processCpuMs(child.pid);
        if (ms === undefined || !child.alive()) throw new Error(`the ${o.contender} process exited during the run`);
        cpu.push({ at: performance.now(), ms });
      },
    });
    // The rate's window is the last `seconds` of the run: the CPU over the same stretch.
    const last = cpu[cpu.length - 1];
    const first = last ? cpu.find((sample) => sample.at >= last.at - rate.seconds * 1000 - 1) : undefined;
    const cpuMs = last && first ? last.ms - first.ms : 0;
    const stop = await child.stop();
    const audit = await child.audit();
    return {
      contender: o.contender,
      round: o.roundIndex,
      recordsPerSecond: rate.recordsPerSecond,
      seconds: rate.seconds,
      cpuMsPer1kRecords: rate.records > 0 ? round((cpuMs / rate.records) * 1000, 1) : 0,
      cpuCores: rate.seconds > 0 ? round(cpuMs / 1000 / rate.seconds, 2) : 0,
      audit: audit.exactlyOnce
        ? `✓ ${audit.committed} inputs, 0 missing, 0 duplicated`
        : `✗ ${audit.missing} missing, ${audit.duplicates} duplicated, ${audit.unexpected} outputs of no committed input, of ${audit.committed}`,
      exactlyOnce: audit.exactlyOnce,
      ...(stop ? { stop } : {}),
    };
  } finally {
    if (child.alive()) await child.stop();
  }
}

async function startTxstream(env: BrokerEnv, setup: WorkerSetup, topics: RunTopics, prefix: string): Promise<Measured> {
  const child = await spawnWorker({ brokers: env.brokers, setup, topics, groupPrefix: prefix });
  return {
    pid: child.pid,
    groupId: child.groupId,
    alive: () => child.alive(),
    stop: async () => ((await child.stop()) ? undefined : 'the worker did not stop cleanly'),
    audit: () => auditGroup(env.kafka, { groupId: child.groupId, input: topics.input, outputs: [topics.output], deadLetter: topics.deadLetter, timeoutMs: 120_000 }),
  };
}

/**
 * The Parallel Consumer JVM, once it has partitions. Its progress and its audit read the records
 * it committed as done past its committed offsets too (its offset metadata); it has no dead-letter
 * topic (nothing here fails).
 */
async function startPc(env: BrokerEnv, o: { classpath: string; topics: RunTopics; groupId: string; maxConcurrency: number; delayMs: number }): Promise<Measured> {
  // The JVM closes itself after this long even if this process never stops it.
  const pc = startParallelConsumer({ classpath: o.classpath, brokers: env.brokers, groupId: o.groupId, input: o.topics.input, output: o.topics.output, maxConcurrency: o.maxConcurrency, delayMs: o.delayMs, maxSeconds: 600 });
  try {
    await pc.running();
  } catch (error) {
    await pc.stop(5_000);
    throw error;
  }
  return {
    pid: pc.pid,
    groupId: pc.groupId,
    count: pcCommittedTotal,
    alive: () => pc.alive(),
    stop: async () => {
      const stopped = await pc.stop();
      return stopped.clean ? undefined : `Parallel Consumer did not stop cleanly: ${stopped.output.trim().split('\n').slice(-3).join(' | ').slice(0, 600)}`;
    },
    audit: () => auditParallelConsumerGroup(env.kafka, { groupId: pc.groupId, input: o.topics.input, output: o.topics.output, timeoutMs: 120_000 }),
  };
}

async function latencyOf(
  env: BrokerEnv,
  o: { run: string; partitions: number; contender: string; setup: WorkerSetup; rate: number; durationMs: number; keys: number; created: string[] },
) {
  const prefix = `${o.run}.lat`;
  const topics = topicsFor(prefix, `${prefix}.in`);
  await createRunTopics(env, topics, o.partitions, true);
  o.created.push(topics.input, topics.output, topics.deadLetter);
  const child = await spawnWorker({ brokers: env.brokers, setup: o.setup, topics, groupPrefix: prefix });
  try {
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline && !(await child.totals()).ready) await sleep(50);
    const result = await openModelLatency(env, { input: topics.input, output: topics.output, rate: o.rate, durationMs: o.durationMs, warmupMs: 2000, generator: createGenerator({ keys: o.keys, recordBytes: 256, seed: 7 }), poisonInOutput: false });
    await child.stop();
    const audit = await auditGroup(env.kafka, { groupId: child.groupId, input: topics.input, outputs: [topics.output], deadLetter: topics.deadLetter, timeoutMs: 120_000 });
    return { ...result, contender: o.contender, audit: audit.exactlyOnce ? `✓ ${audit.committed} inputs` : `✗ ${audit.missing} missing, ${audit.duplicates} duplicated` };
  } finally {
    if (child.alive()) await child.stop();
  }
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted.length === 0 ? 0 : (sorted[Math.floor((sorted.length - 1) / 2)] as number);
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`load:concurrency: ${(error as Error).message}`);
    process.exit(1);
  },
);
