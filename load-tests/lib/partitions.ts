/**
 * The partitions sweep (issue 13): one input topic of 12, 96 and 384 partitions, and on each
 * txstream transactional, txstream at-least-once `batch`, a Kafka Streams EOS-v2 pass-through,
 * the naive transaction-per-message loop and the broker ceiling, in the same rounds on the same
 * broker. txstream and Kafka Streams each run with JSON values decoded and re-encoded and with
 * values copied as bytes, so each is compared with a partner doing the same work (PAIRS).
 *
 * Every contender's throughput is the same measure: records committed by its input group
 * (committed offsets, polled), from its first commit to the whole backlog or the time cap.
 * The txstream worker runs as a child process and the Streams baseline as its own JVM, so their
 * broker connections and peak RSS are read from /proc for that process alone.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { loopMs, loopMsRange } from './machine-speed.js';
import { join } from 'node:path';
import { naiveTransactionPerMessage, brokerCeiling } from './baselines.js';
import { spawnWorker } from './child-worker.js';
import { measureCommittedRate, type CommittedRate } from './committed-rate.js';
import { createGenerator, type WorkloadOptions } from './generators.js';
import { auditGroup, type BrokerEnv, createTopics, deleteTopics, type GroupAudit, produceBacklog, sleep } from './kafka-env.js';
import { cpuMsPer1k, median } from './metrics.js';
import { describeWhereabouts, locateInputs } from './missing-forensics.js';
import { latencyRunOrder } from './latency-order.js';
import { describeLatencyRun, openModelLatency, PRIME_MS } from './open-model-latency.js';
import { describeRequestTrace, type RequestTrace } from './request-trace.js';
import { ceilingBelowContenders, checkTargets, type Contender, type LatencyPoint, mark, PAIRS, type PartitionCell } from './partition-targets.js';
import { parseEndpoint, ProcessWatch, processCpuMs } from './proc-stats.js';
import { prepareStreamsBaseline, startStreams } from './streams-baseline.js';
import { createRunTopics, round, topicsFor, type WorkerSetup } from './worker-cells.js';

export interface PartitionsOptions {
  readonly partitions: readonly number[];
  readonly rounds: number;
  /** Pre-produced records per input topic; every contender reads it from the start with its own group. */
  readonly backlog: number;
  /** Not measured after the first commit: a fresh JVM (Kafka Streams) or Node process runs cold at first. */
  readonly warmupMs: number;
  /** Measured window per saturation run, after the warm-up. */
  readonly capMs: number;
  readonly batchSize: number;
  readonly commitIntervalMs: number;
  readonly latencyFraction: number;
  readonly latencyDurationMs: number;
  /**
   * Sent before the measured latency window, not counted: a fresh worker's first second (cold
   * JIT, its first transaction over new output partitions) measured 465 ms p50 where the
   * seconds after it measured 90–125 ms, at a tenth of saturation.
   */
  readonly latencyWarmupMs: number;
  /**
   * Fixed offered loads (records/s) of the open-model latency runs, at every partition count, for
   * every txstream transactional and Kafka Streams contender; when set, they replace the run at
   * latencyFraction of saturation (on 2 shared cores, half of a saturation measured minutes
   * earlier is not the same load for two contenders).
   */
  readonly latencyRates: readonly number[];
  readonly workload: WorkloadOptions;
  /** The naive loop runs only up to this many partitions (beyond, it is hopeless and only costs time). */
  readonly naive: { readonly capMs: number; readonly maxPartitions: number };
  /** ProducerPerformance + ConsumerPerformance runs per round and partition count; the best run is the round's ceiling. */
  readonly ceiling: { readonly records: number; readonly runsPerRound: number };
  readonly contenders: readonly Contender[];
  readonly label?: string;
  readonly resultsDir: string;
  readonly keepTopics: boolean;
  /** Node flags of the worker process (e.g. a heap limit). */
  readonly workerNodeOptions?: readonly string[];
  /** Run the worker from the TypeScript sources (tsx) instead of compiled JavaScript. */
  readonly workerFromSource?: boolean;
  /** Trace what each txstream worker waited on (request-trace.ts): logged after its run, kept in the JSON results. */
  readonly traceRequests?: boolean;
  /** The worker's memoryBudgetMb (default: txstream's). */
  readonly workerMemoryBudgetMb?: number;
  readonly log: (line: string) => void;
}

/** The defaults of `npm run load -- partitions`, in one place. */
export const PARTITIONS_DEFAULTS: Omit<PartitionsOptions, 'resultsDir' | 'keepTopics' | 'log' | 'label'> = {
  partitions: [12, 96, 384],
  rounds: 3,
  // Warm-up plus window (11 s) of the fastest contender on a quiet 2-core machine (~35k rec/s) fits in it.
  backlog: 400_000,
  warmupMs: 5_000,
  capMs: 6_000,
  batchSize: 500,
  commitIntervalMs: 100,
  latencyFraction: 0.5,
  latencyDurationMs: 6_000,
  latencyWarmupMs: 2_000,
  latencyRates: [],
  workload: { recordBytes: 1024, keys: 1000, keyDistribution: 'uniform', poisonRatio: 0.001, format: 'json' },
  naive: { capMs: 4_000, maxPartitions: 96 },
  ceiling: { records: 300_000, runsPerRound: 2 },
  contenders: ['transactional', 'transactional-bytes', 'batch', 'streams', 'streams-json', 'naive', 'ceiling'],
};

const LATENCY_CONTENDERS: readonly Contender[] = ['transactional', 'transactional-bytes', 'batch', 'streams', 'streams-json'];
/** The contenders measured at the fixed offered loads: the two sides of the pairs, and at-least-once as the floor under them. */
const FIXED_LATENCY_CONTENDERS: readonly Contender[] = ['transactional', 'transactional-bytes', 'batch', 'streams', 'streams-json'];
/** Contenders whose values pass through undecoded, poison included (txstream's serde 'json' dead-letters poison; Jackson forwards it unchanged). */
const POISON_IN_OUTPUT: readonly Contender[] = ['transactional-bytes', 'streams', 'streams-json'];
/** A throughput measured over less than this (the backlog ran out) is reported, not counted. */
const MIN_WINDOW_SECONDS = 2;

interface RoundResult {
  readonly rate: CommittedRate;
  readonly connections?: number;
  readonly peakRssMiB?: number;
  readonly audit?: GroupAudit;
  readonly stoppedCleanly?: boolean;
  readonly detail?: string;
  /** txstream: transactions the worker aborted during the run, by cause (CONCURRENT_TRANSACTIONS, …). */
  readonly abortsByCause?: Readonly<Record<string, number>>;
  /** The process's CPU time (worker or JVM) per 1,000 records committed in the measured window. */
  readonly cpuMsPer1k?: number;
  /** The same over the process's whole run (start-up, JIT warm-up and group join included) per record it committed. */
  readonly wholeRunCpuMsPer1k?: number;
  /** The process's CPU time over the window ÷ the window: cores it kept busy. */
  readonly coresBusy?: number;
  /** txstream with --trace-requests: what its worker waited on over the run. */
  readonly trace?: RequestTrace;
  /** The machine's 1-minute load average when this run started: on shared cores it moves a JVM's CPU per record more than a Node process's. */
  readonly loadAverage?: number;
  /** How long the machine-speed loop took just before this run, in ms (machine-speed.ts): a host that starves the cores shows here, not in the load. */
  readonly loopMs?: number;
}

/** CPU ms per 1,000 records and cores busy over a measured window, when its CPU was sampled. */
function windowCpu(rate: CommittedRate): { cpuMsPer1k?: number; coresBusy?: number } {
  if (rate.cpuMs === undefined || rate.records <= 0 || rate.seconds <= 0) return {};
  return { cpuMsPer1k: cpuMsPer1k(rate.cpuMs, rate.records), coresBusy: round(rate.cpuMs / 1000 / rate.seconds, 2) };
}

interface Raw {
  rounds: Array<number | undefined>;
  results: Array<RoundResult | undefined>;
  latency?: PartitionCell['latency'] & { readonly allSeen: boolean; readonly late: number; readonly sender: string; readonly audit?: string };
  fixedLatency?: Array<LatencyPoint & { readonly allSeen: boolean; readonly late: number; readonly sender: string; readonly audit?: string; readonly primedInMs: number; readonly settled: boolean }>;
}

const medianOf = (values: ReadonlyArray<number | undefined>, digits = 1) => {
  const present = values.filter((v): v is number => v !== undefined);
  return present.length > 0 ? round(median(present), digits) : undefined;
};

/** Aborts by cause summed over rounds; undefined when no round counted them (not txstream). */
function sumCauses(rounds: ReadonlyArray<Readonly<Record<string, number>> | undefined>): Record<string, number> | undefined {
  const counted = rounds.filter((r): r is Readonly<Record<string, number>> => r !== undefined);
  if (counted.length === 0) return undefined;
  const sum: Record<string, number> = {};
  for (const round of counted) for (const [cause, count] of Object.entries(round)) sum[cause] = (sum[cause] ?? 0) + count;
  return sum;
}

const describeCauses = (causes: Readonly<Record<string, number>> | undefined) => {
  if (causes === undefined) return '';
  const entries = Object.entries(causes);
  return entries.length === 0 ? '0' : entries.map(([cause, count]) => `${count} ${cause}`).join(', ');
};

/** missing/duplicated/unexpected of the committed inputs; for a failed audit, which ones (so a report can be followed up). */
const describeAudit = (audit: GroupAudit | undefined) => {
  if (!audit) return '';
  const counts = `${audit.exactlyOnce ? '✓' : '✗'} ${audit.missing}/${audit.duplicates}/${audit.unexpected} of ${audit.committed}`;
  const { missing, duplicated } = audit.examples;
  const examples = [missing.length > 0 ? `missing ${missing.join(', ')}` : '', duplicated.length > 0 ? `duplicated ${duplicated.join(', ')}` : ''].filter(Boolean);
  return examples.length > 0 ? `${counts} (${examples.join('; ')})` : counts;
};

export async function runPartitionsSweep(env: BrokerEnv, options: PartitionsOptions): Promise<{ json: Record<string, unknown>; files: string[]; failures: string[] }> {
  const log = options.log;
  const startedAt = new Date();
  const loadAtStart = loadavg()[0] ?? 0;
  const speedAtStart = loopMsRange();
  const run = `load-${startedAt.getTime().toString(36)}`;
  const endpoints = env.brokers.map(parseEndpoint);
  const created = new Set<string>();
  const failures: string[] = [];
  const notes: string[] = [];
  const drop = async (...topics: string[]) => {
    if (options.keepTopics) return;
    topics.forEach((topic) => created.delete(topic));
    await deleteTopics(env.kafka, topics);
  };
  const create = async (topics: Array<{ topic: string; partitions: number }>) => {
    await createTopics(env.kafka, topics);
    topics.forEach(({ topic }) => created.add(topic));
  };
  const generator = createGenerator(options.workload);
  const format = generator.options.format;
  const kafkaVersion = /^\d+\.\d+\.\d+/.exec(env.brokerVersion)?.[0] ?? '3.9.2';
  // Both Kafka Streams contenders run the same baseline (its values argument tells bytes from JSON).
  const classpath = options.contenders.includes('streams') || options.contenders.includes('streams-json') ? prepareStreamsBaseline(kafkaVersion) : '';
  const raw = new Map<string, Raw>();
  const rawOf = (contender: Contender, partitions: number) => {
    const key = `${contender}|${partitions}`;
    let entry = raw.get(key);
    if (!entry) raw.set(key, (entry = { rounds: Array.from({ length: options.rounds }, () => undefined), results: Array.from({ length: options.rounds }, () => undefined) }));
    return entry;
  };
  const inputOf = (partitions: number) => `${run}.p${partitions}.in`;
  /** The latency of the measuring path alone (sender, broker, reader), by partition count: see measurePath. */
  const measuringPath: Record<number, LatencyPoint[]> = {};

  /**
   * Builds and writes the report from the rounds finished so far: after every round, so a run
   * stopped early (or interrupted) still leaves its finished rounds on disk.
   */
  const writeReport = (roundsDone: number, final: boolean) => {
    const cells: PartitionCell[] = [];
    const cellDetails: Array<Record<string, unknown>> = [];
    for (const partitions of options.partitions)
      for (const contender of options.contenders) {
        const entry = raw.get(`${contender}|${partitions}`);
        if (!entry) continue;
        const measured = entry.rounds.filter((rate): rate is number => rate !== undefined);
        const results = entry.results.filter((result): result is RoundResult => result !== undefined);
        const connections = results.map((r) => r.connections).filter((c): c is number => c !== undefined);
        const rss = results.map((r) => r.peakRssMiB).filter((c): c is number => c !== undefined);
        const cell: PartitionCell = {
          contender,
          partitions,
          roundsRecordsPerSecond: entry.rounds,
          recordsPerSecond: measured.length > 0 ? Math.round(median(measured)) : undefined,
          connections: connections.length > 0 ? Math.max(...connections) : undefined,
          peakRssMiB: rss.length > 0 ? Math.max(...rss) : undefined,
          abortsByCause: sumCauses(results.map((r) => r.abortsByCause)),
          cpuMsPer1k: medianOf(results.map((r) => r.cpuMsPer1k)),
          roundsCpuMsPer1k: entry.results.map((r) => r?.cpuMsPer1k),
          coresBusy: medianOf(results.map((r) => r.coresBusy), 2),
          roundsLoadAverage: entry.results.map((r) => r?.loadAverage),
          roundsLoopMs: entry.results.map((r) => r?.loopMs),
          fixedLatency: entry.fixedLatency?.map(({ rate, p50, p95, p99, stampedP50, samples, late, primedInMs, settled, cpuMsPer1k }) => ({ rate, p50, p95, p99, stampedP50, samples, late, primedInMs, settled, cpuMsPer1k })),
          latency: entry.latency
            ? { rate: entry.latency.rate, p50: entry.latency.p50, p95: entry.latency.p95, p99: entry.latency.p99, samples: entry.latency.samples, late: entry.latency.late, fraction: options.latencyFraction }
            : undefined,
        };
        cells.push(cell);
        cellDetails.push({
          ...cell,
          wholeRunCpuMsPer1k: medianOf(results.map((r) => r.wholeRunCpuMsPer1k)),
          fixedLatencyRuns: entry.fixedLatency,
          audits: results.map((r) => describeAudit(r.audit)).filter(Boolean),
          stoppedCleanly: results.map((r) => r.stoppedCleanly).filter((s) => s !== undefined),
          details: results.map((r) => r.detail).filter(Boolean),
          latencyRun: entry.latency,
        });
      }

    const targets = checkTargets(cells, env.brokers.length);
    const ceilingProblems = ceilingBelowContenders(cells);
    const reportNotes = [...notes];
    if (ceilingProblems.length > 0) reportNotes.push(`The broker ceiling measured below a contender (a measuring error of the ceiling, not a real limit): ${ceilingProblems.join('; ')}.`);
    if (options.contenders.includes('naive') && options.partitions.some((p) => p > options.naive.maxPartitions))
      reportNotes.push(`The naive loop (one transaction per message) was skipped above ${options.naive.maxPartitions} partitions: it commits a few hundred records per second at best whatever the partition count, so it only costs time there.`);
    reportNotes.push(
      `Throughput of every contender: records committed by its input group, from its committed offsets polled every 100 ms, from ${options.warmupMs / 1000} s after its first commit (a warm-up: group join, start-up and a cold JIT do not count) to the whole backlog or the time cap. Medians over rounds; ratios are medians of per-round ratios.`,
      `txstream runs one worker in a child Node process (one KafkaJS client; ${options.workerFromSource ? 'the TypeScript sources under tsx' : 'compiled by tsc, as users run it'}), the Kafka Streams baseline one JVM (one stream thread); connections are their established TCP connections to the broker ports (the most seen, sampled every 250 ms from /proc/<pid>/net/tcp{,6} and /proc/<pid>/fd), peak RSS is VmHWM of /proc/<pid>/status.`,
      'Like-for-like pairs: txstream transactional with serde \'bytes\' against Kafka Streams copying bytes (the bytes pair), and txstream transactional with serde \'json\' (JSON.parse, JSON.stringify) against Kafka Streams parsing and re-serialising each value with Jackson (ObjectMapper readTree, writeValueAsBytes; the JSON pair). The verdicts against Kafka Streams use only these pairs. Both Kafka Streams baselines add the lineage header, so they are audited like txstream. Poison records (1 in 1,000) pass through both Kafka Streams baselines and txstream bytes, and go to txstream JSON\'s dead-letter topic.',
      'CPU ms per 1,000 records: the process\'s CPU time (user + system, every thread, /proc/<pid>/stat; the txstream worker\'s Node process, the Kafka Streams JVM) over the measured window ÷ the records committed in it (median of rounds; pair ratios are medians of per-round ratios). Cores busy: that CPU time ÷ the window\'s length. "Whole run" divides the CPU of the process\'s whole life (start-up, JIT warm-up and group join included) by the records it committed. The harness, kcat and the broker are not counted.',
      `Latency: an open-model constant arrival rate ${
        options.latencyRates.length > 0
          ? `at fixed offered loads of ${options.latencyRates.map((r) => r.toLocaleString('en-US')).join(' and ')} records/s, the same for both sides of each pair, in round 1 after each partition count's throughput runs (fresh topics for each run; every contender at the first load in the round's order, then in reverse at the next, the first order flipped at the next partition count, so neither side of a pair always runs first)`
          : `at ${options.latencyFraction === 0.5 ? 'half' : options.latencyFraction} of that contender's saturation in round 1 (its own fresh topics)`
      }, ${options.latencyDurationMs / 1000} s measured, each value stamped with its intended send time (first bursts of ${PRIME_MS / 1000} s at the offered rate, sent before the schedule until one burst is all visible within ${PRIME_MS / 1000} s of its end, so a contender's start on fresh topics is not counted; then the records sent in the schedule's first ${options.latencyWarmupMs / 1000} s are a warm-up, not counted either) and sent by kcat (librdkafka, fed by the harness at the scheduled times; a KafkaJS producer in the harness when kcat is missing); a read_committed reader timestamps each output as it arrives (kcat, its values read line by line by the harness, for JSON values; a KafkaJS consumer in the harness otherwise).`,
      `The broker ceiling: ProducerPerformance (batch.size=256KB, linger.ms=5, acks=all, ${options.ceiling.records} records of ${generator.options.recordBytes} B) then ConsumerPerformance (fetch rate) on a topic of the same partition count; the lower of the two, best of ${options.ceiling.runsPerRound} runs per round, median over rounds.`,
    );
    const finishedAt = new Date();
    const loadAtEnd = loadavg()[0] ?? 0;
    const speedAtEnd = loopMsRange();
    if (!final) reportNotes.unshift(`Partial report: ${roundsDone} of ${options.rounds} round(s) finished when it was written.`);
    reportNotes.unshift(
      `Load average (1 min) ${loadAtStart.toFixed(1)} at the start and ${loadAtEnd.toFixed(1)} at the end, on ${env.machine.cores} cores shared with the broker and other work: compare only ratios from this run. ` +
        `Machine speed (a fixed single-thread loop, load-tests/lib/machine-speed.ts; ~50 ms on an unloaded core of these machines at their fastest): ${speedAtStart.fastest}–${speedAtStart.slowest} ms at the start, ${speedAtEnd.fastest}–${speedAtEnd.slowest} ms at the end, and before each run in its log line and the JSON (\`loopMs\`). A slow or unsteady loop at low load is a host starving the cores: every process's CPU time per record then rises with it.`,
    );
    const settings = {
      partitions: options.partitions,
      rounds: options.rounds,
      roundsFinished: roundsDone,
      backlog: options.backlog,
      warmupSeconds: options.warmupMs / 1000,
      capSeconds: options.capMs / 1000,
      batchSize: options.batchSize,
      commitIntervalMs: options.commitIntervalMs,
      recordBytes: generator.options.recordBytes,
      format,
      poisonRatio: generator.options.poisonRatio,
      latencyFraction: options.latencyRates.length > 0 ? 'none (fixed rates)' : options.latencyFraction,
      latencyRates: options.latencyRates.length > 0 ? options.latencyRates : 'none',
      latencySeconds: options.latencyDurationMs / 1000,
      latencyWarmupSeconds: options.latencyWarmupMs / 1000,
      naiveMaxPartitions: options.naive.maxPartitions,
      ceilingRecords: options.ceiling.records,
      ceilingRunsPerRound: options.ceiling.runsPerRound,
      workerNodeOptions: options.workerNodeOptions?.join(' ') || 'none',
      workerMemoryBudgetMb: options.workerMemoryBudgetMb ?? 'default',
      workerRuns: options.workerFromSource ? 'TypeScript sources under tsx' : 'compiled JavaScript (tsc)',
    };
    const durationSeconds = Math.round((finishedAt.getTime() - startedAt.getTime()) / 1000);
    const json = {
      kind: 'txstream-load-partitions',
      run,
      label: options.label,
      startedAt: startedAt.toISOString(),
      finishedAt: finishedAt.toISOString(),
      durationSeconds,
      complete: final,
      machine: { ...env.machine, loadAverage1m: { start: round(loadAtStart, 2), end: round(loadAtEnd, 2) }, loopMs: { start: speedAtStart, end: speedAtEnd } },
      broker: { brokers: env.brokers, version: env.brokerVersion },
      settings,
      targets,
      cells: cellDetails,
      measuringPath,
      failures,
      notes: reportNotes,
    };
    mkdirSync(options.resultsDir, { recursive: true });
    // Named by the start, so the reports written after each round replace each other.
    const stem = `partitions-${startedAt.toISOString().slice(0, 10)}${options.label ? `-${options.label}` : ''}`;
    const files = [join(options.resultsDir, `${stem}.json`), join(options.resultsDir, `${stem}.md`), join(options.resultsDir, `${stem}.svg`)];
    writeFileSync(files[0] as string, `${JSON.stringify(json, null, 2)}\n`);
    const latencyRuns = new Map([...raw].flatMap(([key, entry]) => (entry.latency ? [[key, entry.latency] as const] : [])));
    const wholeRun = new Map(cellDetails.map((d) => [`${String(d.contender)}|${String(d.partitions)}`, d.wholeRunCpuMsPer1k as number | undefined]));
    writeFileSync(files[1] as string, partitionsMarkdown({ ...json, cells, targets, latencyRuns, wholeRun, chart: `${stem}.svg` }));
    writeFileSync(files[2] as string, partitionsSvg(cells, `${env.machine.cores} cores, Kafka ${env.brokerVersion}, ${finishedAt.toISOString().slice(0, 10)}${options.label ? `, ${options.label}` : ''}`));
    return { json, files };
  };

  try {
    for (const partitions of options.partitions) {
      await create([{ topic: inputOf(partitions), partitions }]);
      // A send of 500 records over 384 partitions is about one record per partition batch, which makes
      // KafkaJS produce ~1,000 records/s; ~10 records per partition per send keeps batches worth sending.
      const chunk = Math.min(5_000, Math.max(500, partitions * 10));
      const produced = await produceBacklog(env.kafka, inputOf(partitions), options.backlog, generator, { chunk });
      log(`backlog: ${options.backlog} records of ~${generator.options.recordBytes} B to ${inputOf(partitions)} (${partitions} partitions) in ${produced.seconds.toFixed(1)} s`);
    }

    /** transactional-bytes is transactional with serde 'bytes': the same worker, no JSON decoding or encoding. */
    const workerSetupOf = (contender: 'transactional' | 'transactional-bytes' | 'batch'): WorkerSetup => ({
      strategy: contender === 'batch' ? 'batch' : 'transactional',
      batchSize: options.batchSize,
      workers: 1,
      commitIntervalMs: options.commitIntervalMs,
      format,
      memoryBudgetMb: options.workerMemoryBudgetMb,
      ...(contender === 'transactional-bytes' ? { jsonSerde: 'bytes' as const } : {}),
    });
    const txstream = async (contender: 'transactional' | 'transactional-bytes' | 'batch', partitions: number, roundIndex: number): Promise<RoundResult> => {
      const prefix = `${run}.r${roundIndex}.p${partitions}.${contender}`;
      const topics = topicsFor(prefix, inputOf(partitions));
      await createRunTopics(env, topics, partitions, false);
      created.add(topics.output);
      created.add(topics.deadLetter);
      const setup = workerSetupOf(contender);
      const child = await spawnWorker({ brokers: env.brokers, setup, topics, groupPrefix: prefix, nodeOptions: options.workerNodeOptions, fromSource: options.workerFromSource, traceRequests: options.traceRequests });
      const watch = new ProcessWatch(child.pid, endpoints);
      try {
        const rate = await measureCommittedRate(env.kafka, {
          groupId: child.groupId,
          topic: topics.input,
          target: options.backlog,
          capMs: options.capMs,
          warmupMs: options.warmupMs,
          during: () => {
            if (!child.alive()) throw new Error('the worker process exited during the run');
          },
          cpuMs: () => processCpuMs(child.pid),
        });
        const proc = watch.stop();
        const { totals, trace } = await child.totals();
        const cpuMs = processCpuMs(child.pid);
        const wholeRunCpuMsPer1k = totals ? cpuMsPer1k(cpuMs, totals.recordsIn) : undefined;
        const stoppedCleanly = await child.stop();
        const audit = await auditGroup(env.kafka, { groupId: child.groupId, input: topics.input, outputs: [topics.output], deadLetter: topics.deadLetter, timeoutMs: 60_000 });
        // An input reported missing is a loss only if it is nowhere: look it up with an independent reader.
        let detail: string | undefined;
        if (audit.missing > 0) {
          const whereabouts = await locateInputs(env.brokers, [topics.output, topics.deadLetter], audit.examples.missing);
          detail = `missing inputs, read again whole by kcat after the run: ${describeWhereabouts(whereabouts)}`;
          log(`round ${roundIndex + 1}, ${partitions} partitions, ${contender}: ${detail}`);
        }
        return { rate, connections: proc.maxConnections, peakRssMiB: proc.peakRssMiB, audit, stoppedCleanly, abortsByCause: totals?.abortedBy, ...windowCpu(rate), wholeRunCpuMsPer1k, ...(detail ? { detail } : {}), ...(trace ? { trace } : {}) };
      } finally {
        watch.stop();
        if (child.alive()) await child.stop();
        await drop(topics.output, topics.deadLetter);
      }
    };

    const streams = async (contender: 'streams' | 'streams-json', partitions: number, roundIndex: number): Promise<RoundResult> => {
      const applicationId = `${run}.r${roundIndex}.p${partitions}.${contender}`;
      const output = `${applicationId}.out`;
      await create([{ topic: output, partitions }]);
      // The JVM closes itself after this long even if this process never stops it.
      const process = startStreams({ classpath, brokers: env.brokers, applicationId, input: inputOf(partitions), output, maxSeconds: 600, values: contender === 'streams-json' ? 'json' : 'bytes' });
      const watch = new ProcessWatch(process.pid, endpoints);
      try {
        const rate = await measureCommittedRate(env.kafka, {
          groupId: applicationId,
          topic: inputOf(partitions),
          target: options.backlog,
          capMs: options.capMs,
          warmupMs: options.warmupMs,
          during: () => {
            if (!process.alive()) throw new Error('the Kafka Streams JVM exited during the run');
          },
          cpuMs: () => processCpuMs(process.pid),
        });
        const proc = watch.stop();
        const cpuMs = processCpuMs(process.pid);
        const stopped = await process.stop();
        const audit = await auditGroup(env.kafka, { groupId: applicationId, input: inputOf(partitions), outputs: [output], timeoutMs: 60_000 });
        const wholeRunCpuMsPer1k = cpuMsPer1k(cpuMs, audit.committed);
        return { rate, connections: proc.maxConnections, peakRssMiB: proc.peakRssMiB, audit, stoppedCleanly: stopped.clean, ...windowCpu(rate), wholeRunCpuMsPer1k };
      } finally {
        watch.stop();
        if (process.alive()) await process.stop();
        await drop(output);
      }
    };

    const naive = async (partitions: number, roundIndex: number): Promise<RoundResult> => {
      const groupId = `${run}.r${roundIndex}.p${partitions}.naive`;
      const output = `${groupId}.out`;
      await create([{ topic: output, partitions }]);
      try {
        const result = await naiveTransactionPerMessage(env.kafka, { input: inputOf(partitions), output, groupId, target: options.backlog, capMs: options.naive.capMs, measureCommitted: true, warmupMs: options.warmupMs });
        return { rate: { records: result.records, seconds: result.seconds, recordsPerSecond: result.recordsPerSecond }, audit: result.audit };
      } finally {
        await drop(output);
      }
    };

    const ceiling = async (partitions: number, roundIndex: number): Promise<RoundResult> => {
      const runs: Array<{ rate: number; detail: string }> = [];
      for (let attempt = 0; attempt < options.ceiling.runsPerRound; attempt++) {
        const topic = `${run}.r${roundIndex}.p${partitions}.ceiling${attempt}`;
        created.add(topic);
        try {
          const result = await brokerCeiling(env, { topic, partitions, records: options.ceiling.records, recordBytes: generator.options.recordBytes, tunedOnly: true });
          runs.push({
            rate: Math.min(result.producer.recordsPerSecond, result.consumer.recordsPerSecond),
            detail: `produce ${result.producer.recordsPerSecond}, fetch ${result.consumer.recordsPerSecond}`,
          });
        } finally {
          await drop(topic);
        }
      }
      // A run that fetched or produced nothing did not measure the broker (ConsumerPerformance gave up
      // waiting, for instance): it is shown but never taken as a ceiling.
      const valid = runs.filter((r) => r.rate > 0);
      if (valid.length === 0) throw new Error(`no valid ceiling run (${runs.map((r) => r.detail).join('; ')})`);
      // A ceiling is what the broker can do: the best run; slower runs met someone else's load.
      const best = Math.max(...valid.map((r) => r.rate));
      return { rate: { records: options.ceiling.records, seconds: 0, recordsPerSecond: best }, detail: runs.map((r) => r.detail).join('; ') };
    };

    const latencyRun = async (contender: Contender, partitions: number, rate: number, seed: number) => {
      const prefix = `${run}.p${partitions}.${contender}.lat${rate}`;
      const topics = topicsFor(prefix, `${prefix}.in`);
      await createRunTopics(env, topics, partitions, true);
      [topics.input, topics.output, topics.deadLetter].forEach((topic) => created.add(topic));
      let stopProcess: () => Promise<unknown>;
      let stopping: Promise<unknown> | undefined;
      // Stopped before the audit, and again (a no-op then) on the way out of a failure.
      const stop = () => (stopping ??= stopProcess());
      let audit: () => Promise<GroupAudit>;
      let readTrace: () => Promise<RequestTrace | undefined> = () => Promise.resolve(undefined);
      /** The contender's process, whose CPU the run counts. */
      let pid: number;
      if (contender === 'streams' || contender === 'streams-json') {
        const process = startStreams({ classpath, brokers: env.brokers, applicationId: prefix, input: topics.input, output: topics.output, maxSeconds: 600, values: contender === 'streams-json' ? 'json' : 'bytes' });
        pid = process.pid;
        stopProcess = () => process.stop();
        audit = () => auditGroup(env.kafka, { groupId: prefix, input: topics.input, outputs: [topics.output], timeoutMs: 60_000 });
        await process.running().catch(async (error: unknown) => {
          await stop();
          throw error;
        });
      } else {
        const setup = workerSetupOf(contender as 'transactional' | 'transactional-bytes' | 'batch');
        const child = await spawnWorker({ brokers: env.brokers, setup, topics, groupPrefix: prefix, nodeOptions: options.workerNodeOptions, fromSource: options.workerFromSource, traceRequests: options.traceRequests });
        pid = child.pid;
        stopProcess = () => child.stop();
        readTrace = async () => (await child.totals()).trace;
        audit = () => auditGroup(env.kafka, { groupId: child.groupId, input: topics.input, outputs: [topics.output], deadLetter: topics.deadLetter, timeoutMs: 60_000 });
        const deadline = Date.now() + 120_000;
        while (Date.now() < deadline && !(await child.totals()).ready) await sleep(50);
      }
      try {
        // Poison passes through the Streams baselines and txstream bytes but goes to txstream JSON's dead-letter topic.
        const result = await openModelLatency(env, { input: topics.input, output: topics.output, rate, durationMs: options.latencyDurationMs, warmupMs: options.latencyWarmupMs, generator: createGenerator({ ...options.workload, seed }), poisonInOutput: POISON_IN_OUTPUT.includes(contender), cpuMs: () => processCpuMs(pid) });
        const trace = await readTrace();
        await stop();
        const checked = await audit();
        return { ...result, audit: describeAudit(checked), exactlyOnce: checked.exactlyOnce, ...(trace ? { trace } : {}) };
      } finally {
        await stop();
        await drop(topics.input, topics.output, topics.deadLetter);
      }
    };

    /**
     * The measuring path alone, once per partition count and offered load: kcat into a fresh topic
     * and the same read_committed reader on it, no contender between. Every latency above includes
     * it (2026-12-06e, with a KafkaJS reader in the harness: p50 23 / p99 70 ms at 96 partitions and 5,000 records/s, 6 / 15 at 12).
     */
    const measurePath = async (partitions: number) => {
      for (const rate of options.latencyRates) {
        const topic = `${run}.p${partitions}.path${rate}`;
        try {
          await create([{ topic, partitions }]);
          const point = await openModelLatency(env, { input: topic, output: topic, rate, durationMs: options.latencyDurationMs, warmupMs: options.latencyWarmupMs, generator: createGenerator({ ...options.workload, seed: seed++ }), poisonInOutput: true });
          (measuringPath[partitions] ??= []).push({ rate, p50: point.p50, p95: point.p95, p99: point.p99, samples: point.samples, late: point.late });
          log(`[p${partitions}] measuring path alone (kcat → topic → reader) @ ${rate} rec/s: p50 ${point.p50} ms, p95 ${point.p95} ms, p99 ${point.p99} ms (${point.samples} samples${point.late > 0 ? `, late ${point.late}×` : ''})`);
        } catch (error) {
          notes.push(`Failed: measuring path alone at ${partitions} partitions, ${rate} rec/s: ${(error as Error).message}`);
        } finally {
          await drop(topic);
        }
      }
    };

    const runContender = (contender: Contender, partitions: number, roundIndex: number): Promise<RoundResult> =>
      contender === 'transactional' || contender === 'transactional-bytes' || contender === 'batch'
        ? txstream(contender, partitions, roundIndex)
        : contender === 'streams' || contender === 'streams-json'
          ? streams(contender, partitions, roundIndex)
          : contender === 'naive'
            ? naive(partitions, roundIndex)
            : ceiling(partitions, roundIndex);

    // A broker started for the sweep is slow for its first minute (its JIT: producing the backlog
    // warmed its produce path only), and alternating orders does not help the very first run: on
    // 2026-12-06e txstream bytes at 12 partitions, first in round 1, ran 52,514 records/s, then
    // 84,460 and 105,421 in rounds 2 and 3 (0.65, 0.75, 1.07 × Kafka Streams). So the first run of
    // round 1 goes once before it, unmeasured and not reported (its topics are dropped like any run's).
    const [firstContender] = options.contenders;
    const [firstPartitions] = options.partitions;
    if (firstContender !== undefined && firstPartitions !== undefined && options.rounds > 0) {
      log(`warm-up run (not counted): ${firstContender} at ${firstPartitions} partitions`);
      await runContender(firstContender, firstPartitions, -1).then(
        // Its audit still counts: an exactly-once failure is one wherever it happens.
        (result) => {
          if ((firstContender === 'transactional' || firstContender === 'transactional-bytes') && result.audit && !result.audit.exactlyOnce)
            failures.push(`warm-up run, ${firstPartitions} partitions, ${firstContender}: audit ${describeAudit(result.audit)}`);
        },
        (error: unknown) => notes.push(`The warm-up run failed (${(error as Error).message}); round 1 ran on a cold broker.`),
      );
    }

    let seed = 1;
    type LatencyRunResult = Awaited<ReturnType<typeof latencyRun>>;
    /**
     * One latency run, logged with its request trace. txstream's outputs that are not exactly-once
     * fail the sweep; a run that could not be measured is a note. Undefined when it failed.
     */
    const loggedLatencyRun = async (contender: Contender, partitions: number, rate: number, what: string, line: (run: LatencyRunResult) => string) => {
      try {
        const latency = await latencyRun(contender, partitions, rate, seed++);
        log(line(latency));
        if (latency.trace) log(describeRequestTrace(latency.trace));
        if ((contender === 'transactional' || contender === 'transactional-bytes') && !latency.exactlyOnce) failures.push(`${partitions} partitions, ${contender} ${what}: audit ${latency.audit}`);
        return latency;
      } catch (error) {
        const message = `${partitions} partitions, ${contender} ${what}: ${(error as Error).message}`;
        notes.push(`Failed: ${message}`);
        log(`✗ ${message}`);
        return undefined;
      }
    };
    for (let roundIndex = 0; roundIndex < options.rounds; roundIndex++) {
      // Orders alternate every round, so neither a partition count nor a contender always goes first.
      const partitionOrder = roundIndex % 2 === 0 ? options.partitions : [...options.partitions].reverse();
      const contenderOrder = roundIndex % 2 === 0 ? options.contenders : [...options.contenders].reverse();
      for (const partitions of partitionOrder) {
        for (const contender of contenderOrder) {
          if (contender === 'naive' && partitions > options.naive.maxPartitions) continue;
          const started = Date.now();
          const loadAtRunStart = round(loadavg()[0] ?? 0, 1);
          const loopAtRunStart = loopMs();
          let result: RoundResult;
          try {
            result = await runContender(contender, partitions, roundIndex);
          } catch (error) {
            const message = `round ${roundIndex + 1}, ${partitions} partitions, ${contender}: ${(error as Error).message}`;
            notes.push(`Failed: ${message}`);
            log(`✗ ${message}`);
            continue;
          }
          const entry = rawOf(contender, partitions);
          result = { ...result, loadAverage: loadAtRunStart, loopMs: loopAtRunStart };
          // A contender that finished the backlog soon after its warm-up was timed over a window too
          // short to mean anything (Kafka Streams once "ran" 3,862 rec/s over 0.41 s): not counted.
          const tooShort = result.rate.seconds > 0 && result.rate.seconds < MIN_WINDOW_SECONDS;
          if (tooShort)
            notes.push(
              `Not counted: round ${roundIndex + 1}, ${partitions} partitions, ${contender}: the backlog ran out ${result.rate.seconds} s into the measuring window (${result.rate.records} records); raise --backlog.`,
            );
          else entry.rounds[roundIndex] = result.rate.recordsPerSecond;
          entry.results[roundIndex] = result;
          if ((contender === 'transactional' || contender === 'transactional-bytes') && result.audit && !result.audit.exactlyOnce)
            failures.push(`round ${roundIndex + 1}, ${partitions} partitions, ${contender}: audit ${describeAudit(result.audit)}`);
          if ((contender === 'streams' || contender === 'streams-json') && result.audit && !result.audit.exactlyOnce)
            notes.push(`Kafka Streams audit not exactly-once in round ${roundIndex + 1} at ${partitions} partitions: ${describeAudit(result.audit)}.`);
          log(
            `[r${roundIndex + 1} p${partitions}] ${contender.padEnd(13)} ${String(result.rate.recordsPerSecond).padStart(6)} rec/s` +
              (result.rate.seconds > 0 ? ` (${result.rate.records} in ${result.rate.seconds} s)` : '') +
              (result.cpuMsPer1k !== undefined ? `, ${result.cpuMsPer1k} CPU ms/1,000, ${result.coresBusy ?? '?'} cores busy` : '') +
              (result.connections !== undefined ? `, ${result.connections} connections, peak RSS ${result.peakRssMiB ?? '?'} MiB` : '') +
              (result.audit ? `, audit ${describeAudit(result.audit)}` : '') +
              (result.detail ? ` [${result.detail}]` : '') +
              ` — ${((Date.now() - started) / 1000).toFixed(0)} s, load ${loadAtRunStart}, loop ${loopAtRunStart} ms`,
          );
          if (result.trace) log(describeRequestTrace(result.trace));
          if (roundIndex === 0 && options.latencyRates.length === 0 && LATENCY_CONTENDERS.includes(contender) && options.latencyDurationMs > 0 && result.rate.recordsPerSecond > 0) {
            const rate = Math.max(5, Math.round(result.rate.recordsPerSecond * options.latencyFraction));
            const latency = await loggedLatencyRun(contender, partitions, rate, 'latency run', (run) => describeLatencyRun(run));
            if (latency) entry.latency = latency;
          }
        }
        if (roundIndex === 0 && options.latencyDurationMs > 0) {
          // At fixed offered loads, after this partition count's throughput runs, in an order where
          // neither side of a pair always goes first on the quieter machine (latency-order.ts).
          const latencyContenders = contenderOrder.filter((contender) => FIXED_LATENCY_CONTENDERS.includes(contender));
          for (const { contender, rate } of latencyRunOrder(latencyContenders, options.latencyRates, partitionOrder.indexOf(partitions))) {
            const latency = await loggedLatencyRun(contender, partitions, rate, `latency run at ${rate} rec/s`, (run) => `[p${partitions}] ${contender} ${describeLatencyRun(run, 'offered').trim()}`);
            if (latency) (rawOf(contender, partitions).fixedLatency ??= []).push(latency);
          }
        }
        // After the contenders, on a broker warmed by them (a freshly started broker's JIT made the path alone 10 × slower).
        if (roundIndex === 0 && options.latencyRates.length > 0 && options.latencyDurationMs > 0) await measurePath(partitions);
      }
      if (roundIndex + 1 < options.rounds) log(`round ${roundIndex + 1} written: ${writeReport(roundIndex + 1, false).files[1]}`);
    }
  } finally {
    if (!options.keepTopics) await deleteTopics(env.kafka, [...created]);
  }

  const { json, files } = writeReport(options.rounds, true);
  return { json, files, failures };
}

const fmt = (value: number | undefined) => (value === undefined || Number.isNaN(value) ? '–' : value.toLocaleString('en-US', { maximumFractionDigits: 2 }));
const NAMES: Record<Contender, string> = {
  transactional: 'txstream transactional, JSON',
  'transactional-bytes': 'txstream transactional, bytes',
  batch: 'txstream batch (at-least-once), JSON',
  streams: 'Kafka Streams EOS-v2, bytes',
  'streams-json': 'Kafka Streams EOS-v2, JSON (Jackson)',
  naive: 'naive txn per message',
  ceiling: 'broker ceiling',
};

/** The like-for-like pairs side by side: records/s, CPU per record and cores busy, and latency at the fixed offered loads. */
function pairsMarkdown(cells: readonly PartitionCell[], partitions: readonly number[], measuringPath: Readonly<Record<number, readonly LatencyPoint[]>> = {}): string[] {
  const cell = (contender: Contender, p: number) => cells.find((c) => c.contender === contender && c.partitions === p);
  const present = PAIRS.filter((pair) => partitions.some((p) => cell(pair.txstream, p) && cell(pair.streams, p)));
  if (present.length === 0) return [];
  const ratio = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined || b === 0 ? '–' : `${fmt(Math.round((a / b) * 100) / 100)}×`);
  const lines = [
    '## Like-for-like pairs (txstream against Kafka Streams EOS-v2 doing the same work per record)',
    '',
    'Ratios are medians of per-round ratios (txstream ÷ Kafka Streams, each round\'s pair from the same round), not ratios of the medians shown.',
    '',
    '| pair | partitions | txstream records/s | Kafka Streams records/s | records/s ratio | txstream CPU ms/1,000 | Kafka Streams CPU ms/1,000 | CPU ratio | cores busy (txstream / Kafka Streams) | per round: records/s ratio, CPU ratio (load average at the txstream run\'s start; machine-speed loop before the txstream / Kafka Streams run, ms) |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
  ];
  for (const pair of present)
    for (const p of partitions) {
      const ours = cell(pair.txstream, p);
      const theirs = cell(pair.streams, p);
      if (!ours || !theirs) continue;
      const perRound = (a: ReadonlyArray<number | undefined> | undefined, b: ReadonlyArray<number | undefined> | undefined) => {
        const rounds: number[] = [];
        for (let r = 0; r < Math.min(a?.length ?? 0, b?.length ?? 0); r++) {
          const x = a?.[r];
          const y = b?.[r];
          if (x !== undefined && y !== undefined && y > 0) rounds.push(x / y);
        }
        return rounds.length === 0 ? undefined : median(rounds);
      };
      const at = (a: ReadonlyArray<number | undefined> | undefined, b: ReadonlyArray<number | undefined> | undefined, r: number) => {
        const x = a?.[r];
        const y = b?.[r];
        return x === undefined || y === undefined || y === 0 ? '–' : fmt(Math.round((x / y) * 100) / 100);
      };
      const rounds = ours.roundsRecordsPerSecond.map(
        (_, r) => `${at(ours.roundsRecordsPerSecond, theirs.roundsRecordsPerSecond, r)}, ${at(ours.roundsCpuMsPer1k, theirs.roundsCpuMsPer1k, r)} (${fmt(ours.roundsLoadAverage?.[r])}; ${fmt(ours.roundsLoopMs?.[r])} / ${fmt(theirs.roundsLoopMs?.[r])})`,
      );
      lines.push(
        `| ${pair.name} | ${p} | ${fmt(ours.recordsPerSecond)} | ${fmt(theirs.recordsPerSecond)} | ${ratio(perRound(ours.roundsRecordsPerSecond, theirs.roundsRecordsPerSecond), 1)} | ${fmt(ours.cpuMsPer1k)} | ${fmt(theirs.cpuMsPer1k)} | ${ratio(perRound(ours.roundsCpuMsPer1k, theirs.roundsCpuMsPer1k), 1)} | ${fmt(ours.coresBusy)} / ${fmt(theirs.coresBusy)} | ${rounds.join('; ')} |`,
      );
    }
  const latencyRows: string[] = [];
  for (const pair of present)
    for (const p of partitions)
      for (const point of cell(pair.txstream, p)?.fixedLatency ?? []) {
        const partner = cell(pair.streams, p)?.fixedLatency?.find((q) => q.rate === point.rate);
        const floor = cell('batch', p)?.fixedLatency?.find((q) => q.rate === point.rate);
        const path = measuringPath[p]?.find((q) => q.rate === point.rate);
        const late = [
          point.late ? `txstream sender late ${point.late}×` : '',
          partner?.late ? `Kafka Streams sender late ${partner.late}×` : '',
          floor?.late ? `at-least-once sender late ${floor.late}×` : '',
          point.settled === false ? 'txstream not keeping up in its warm-up' : '',
          partner?.settled === false ? 'Kafka Streams not keeping up in its warm-up' : '',
        ]
          .filter(Boolean)
          .join(', ');
        latencyRows.push(
          `| ${pair.name} | ${p} | ${fmt(point.rate)} | ${fmt(point.p50)} / ${fmt(point.p99)}${point.stampedP50 === undefined ? '' : ` (written ${fmt(point.stampedP50)})`} | ${partner ? `${fmt(partner.p50)} / ${fmt(partner.p99)}` : '–'} | ${floor ? `${fmt(floor.p50)} / ${fmt(floor.p99)}` : '–'} | ${path ? `${fmt(path.p50)} / ${fmt(path.p99)}` : '–'} | ${fmt(point.cpuMsPer1k)} / ${fmt(partner?.cpuMsPer1k)} | ${fmt(point.samples)} / ${fmt(partner?.samples)} | ${late} |`,
        );
      }
  if (latencyRows.length > 0)
    lines.push(
      '',
      'End-to-end latency at fixed offered loads (open model, kcat sender, kcat reader for JSON values, round 1, fresh topics):',
      '',
      'The at-least-once column is txstream with the `batch` strategy (JSON, no transaction: its outputs are visible once written), when it ran: about what the sender, the broker, the reader and the worker take without a commit interval (at many partitions its own offset commits, one per fetch, load the broker: no lower bound there). The measuring-path column is the sender, the broker and the reader alone (kcat into a fresh topic of that partition count, the same reader on it, no contender): part of every latency in its row.',
      '',
      '| pair | partitions | offered records/s | txstream p50 / p99 ms (written: p50 of its outputs\' timestamps after the send) | Kafka Streams p50 / p99 ms | at-least-once p50 / p99 ms | measuring path alone p50 / p99 ms | CPU ms per 1,000 records at this load (txstream / Kafka Streams) | samples (txstream / Kafka Streams) | caveats |',
      '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |',
      ...latencyRows,
    );
  lines.push('');
  return lines;
}

function partitionsMarkdown(input: {
  label?: string;
  measuringPath?: Readonly<Record<number, readonly LatencyPoint[]>>;
  finishedAt: string;
  durationSeconds: number;
  machine: BrokerEnv['machine'];
  broker: { brokers: string[]; version: string };
  settings: Record<string, unknown>;
  cells: readonly PartitionCell[];
  targets: ReturnType<typeof checkTargets>;
  latencyRuns: ReadonlyMap<string, { readonly late: number; readonly allSeen: boolean }>;
  wholeRun: ReadonlyMap<string, number | undefined>;
  failures: string[];
  notes: string[];
  chart: string;
}): string {
  const { machine, broker } = input;
  const partitions = [...new Set(input.cells.map((c) => c.partitions))].sort((a, b) => a - b);
  const contenders = [...new Set(input.cells.map((c) => c.contender))];
  const cell = (contender: Contender, p: number) => input.cells.find((c) => c.contender === contender && c.partitions === p);
  const lines = [
    `# txstream partitions sweep${input.label ? ` (${input.label})` : ''}`,
    '',
    `${input.finishedAt.replace(/\.\d+Z$/, 'Z')}, took ${Math.round(input.durationSeconds / 60)} min. Machine: ${machine.cores} cores (${machine.cpuModel}), ${machine.memoryGiB} GiB, Node ${machine.node}. ` +
      `Broker: Apache Kafka ${broker.version} at ${broker.brokers.join(',')} (${broker.brokers.length} broker${broker.brokers.length === 1 ? '' : 's'}, same machine).`,
    '',
    `Settings: ${Object.entries(input.settings).map(([key, value]) => `${key}=${Array.isArray(value) ? value.join('/') : String(value)}`).join(', ')}.`,
    '',
    '## Targets (issues 13 and 22)',
    '',
    '| target | measured | |',
    '| --- | ---: | :---: |',
    ...input.targets.map((row) => `| ${row.target} | ${row.measured} | ${mark(row.ok)} |`),
    '',
    ...pairsMarkdown(input.cells, partitions, input.measuringPath),
    '## Throughput (committed records/s, median over rounds; CPU ms per 1,000 records beside it)',
    '',
    `| contender | ${partitions.map((p) => `${p} partitions`).join(' | ')} |`,
    `| --- | ${partitions.map(() => '---:').join(' | ')} |`,
    ...contenders.map(
      (contender) =>
        `| ${NAMES[contender]} | ${partitions
          .map((p) => {
            const c = cell(contender, p);
            if (c?.recordsPerSecond === undefined) return '–';
            const cpu = c.cpuMsPer1k === undefined ? '' : `, ${fmt(c.cpuMsPer1k)} CPU ms/1,000`;
            return `${fmt(c.recordsPerSecond)} (${c.roundsRecordsPerSecond.map((r) => fmt(r)).join(', ')})${cpu}`;
          })
          .join(' | ')} |`,
    ),
    '',
    '## Per process',
    '',
    'Latency caveats: "sender late" counts arrivals the open-model producer sent more than 50 ms after their time (the harness itself was short of CPU; the lateness counts as latency); "not all seen" means some outputs were not visible within 30 s of the last send, so the percentiles leave out the slowest.',
    '',
    '| contender | partitions | connections to brokers (most seen) | peak RSS MiB | CPU ms per 1,000 records (measured window, median of rounds) | cores busy (window) | CPU ms per 1,000 records (whole run) | transactions aborted (all rounds, by cause) | latency @ rec/s | p50 ms | p95 ms | p99 ms | latency caveats |',
    '| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: | ---: | --- |',
    ...input.cells
      .filter((c) => c.connections !== undefined || c.latency !== undefined)
      .map((c) => {
        const run = input.latencyRuns.get(`${c.contender}|${c.partitions}`);
        const caveats = run ? [run.late > 0 ? `sender late ${run.late}×` : '', run.allSeen ? '' : 'not all seen'].filter(Boolean).join(', ') : '';
        return `| ${NAMES[c.contender]} | ${c.partitions} | ${fmt(c.connections)} | ${fmt(c.peakRssMiB)} | ${fmt(c.cpuMsPer1k)} | ${fmt(c.coresBusy)} | ${fmt(input.wholeRun.get(`${c.contender}|${c.partitions}`))} | ${describeCauses(c.abortsByCause)} | ${fmt(c.latency?.rate)} | ${fmt(c.latency?.p50)} | ${fmt(c.latency?.p95)} | ${fmt(c.latency?.p99)} | ${caveats} |`;
      }),
    '',
    `![throughput against partitions](${input.chart})`,
  ];
  if (input.failures.length > 0) lines.push('', '## Failures', '', ...input.failures.map((f) => `- ✗ ${f}`));
  lines.push('', '## Notes', '', ...input.notes.map((note) => `- ${note}`), '', 'Audits (missing/duplicated/unexpected of committed) per round are in the JSON beside this file.');
  return `${lines.join('\n')}\n`;
}

const COLORS: Record<Contender, string> = {
  transactional: '#1f77b4',
  'transactional-bytes': '#17becf',
  batch: '#2ca02c',
  streams: '#d62728',
  'streams-json': '#9467bd',
  naive: '#ff7f0e',
  ceiling: '#777',
};

/** Throughput against partitions (log x), one line per contender. */
export function partitionsSvg(cells: readonly PartitionCell[], caption: string): string {
  const width = 820;
  const height = 480;
  const margin = { left: 80, right: 240, top: 40, bottom: 60 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const partitions = [...new Set(cells.map((c) => c.partitions))].sort((a, b) => a - b);
  const maxY = Math.max(1, ...cells.map((c) => c.recordsPerSecond ?? 0)) * 1.08;
  const minX = Math.log10(partitions[0] ?? 1);
  const span = Math.log10(partitions[partitions.length - 1] ?? 10) - minX || 1;
  const x = (p: number) => margin.left + ((Math.log10(p) - minX) / span) * plotW;
  const y = (v: number) => margin.top + plotH - (v / maxY) * plotH;
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="sans-serif" font-size="12">`,
    '<rect width="100%" height="100%" fill="white"/>',
    `<text x="${margin.left}" y="22" font-size="15" font-weight="bold">Committed records/s against input partitions</text>`,
    `<text x="${margin.left}" y="${height - 12}" fill="#555">${caption.replace(/&/g, '&amp;').replace(/</g, '&lt;')}</text>`,
    `<rect x="${margin.left}" y="${margin.top}" width="${plotW}" height="${plotH}" fill="none" stroke="#888"/>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const v = (maxY / 5) * i;
    out.push(`<line x1="${margin.left}" x2="${margin.left + plotW}" y1="${y(v).toFixed(1)}" y2="${y(v).toFixed(1)}" stroke="#eee"/>`);
    out.push(`<text x="${margin.left - 8}" y="${(y(v) + 4).toFixed(1)}" text-anchor="end">${Math.round(v).toLocaleString('en-US')}</text>`);
  }
  for (const p of partitions) out.push(`<text x="${x(p).toFixed(1)}" y="${margin.top + plotH + 18}" text-anchor="middle">${p}</text>`);
  out.push(`<text x="${margin.left + plotW / 2}" y="${margin.top + plotH + 38}" text-anchor="middle">partitions of the input topic (log scale)</text>`);
  let legendY = margin.top + 10;
  for (const contender of Object.keys(COLORS) as Contender[]) {
    const points = cells.filter((c) => c.contender === contender && c.recordsPerSecond !== undefined).sort((a, b) => a.partitions - b.partitions);
    if (points.length === 0) continue;
    const color = COLORS[contender];
    const dash = contender === 'ceiling' ? '8 4' : '';
    out.push(`<polyline fill="none" stroke="${color}" stroke-width="2" stroke-dasharray="${dash}" points="${points.map((c) => `${x(c.partitions).toFixed(1)},${y(c.recordsPerSecond ?? 0).toFixed(1)}`).join(' ')}"/>`);
    for (const c of points) out.push(`<circle cx="${x(c.partitions).toFixed(1)}" cy="${y(c.recordsPerSecond ?? 0).toFixed(1)}" r="3" fill="${color}"><title>${NAMES[contender]} @ ${c.partitions}: ${c.recordsPerSecond} rec/s</title></circle>`);
    out.push(`<line x1="${width - margin.right + 16}" x2="${width - margin.right + 46}" y1="${legendY}" y2="${legendY}" stroke="${color}" stroke-width="2" stroke-dasharray="${dash}"/>`);
    out.push(`<text x="${width - margin.right + 52}" y="${legendY + 4}">${NAMES[contender]}</text>`);
    legendY += 18;
  }
  out.push('</svg>');
  return `${out.join('\n')}\n`;
}
