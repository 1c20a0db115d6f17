/**
 * End-to-end latency under an open model: kcat sends at a constant arrival rate, each value stamped
 * with its intended send time, and a read_committed reader timestamps each output as it arrives.
 * Used by the partitions sweep and the concurrency bench.
 */
import type { Producer } from 'kafkajs';
import { type Generator, readStamp } from './generators.js';
import { startKcatReader } from './kcat-reader.js';
import { findKcat, produceOpenModelKcat } from './kcat-sender.js';
import { type BrokerEnv, type OpenModelResult, produceOpenModel, sleep, startReader } from './kafka-env.js';
import { cpuMsPer1k, percentile } from './metrics.js';
import { scheduleOf } from './schedule.js';
import { round } from './worker-cells.js';

/** What one open-model latency run measured. */
export interface LatencyRun {
  readonly rate: number;
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  /**
   * The output record's own timestamp after the intended send time, p50: txstream stamps an output
   * when it writes it, so this is how long a record took to be written (the rest of p50 is the wait
   * for its commit, the commit and the reader); Kafka Streams passes its input's timestamp on, so
   * for it this is only the sender's own delay.
   */
  readonly stampedP50: number;
  readonly samples: number;
  readonly late: number;
  readonly allSeen: boolean;
  readonly sender: 'kcat' | 'KafkaJS';
  readonly reader: 'kcat' | 'KafkaJS';
  readonly primedInMs: number;
  readonly settled: boolean;
  /**
   * The contender's CPU (every thread of its process) per 1,000 records sent on schedule, warm-up
   * included, from the schedule's start until its outputs were read: the cost of a record at this
   * offered load, where a fetch carries a few records of many partitions (at saturation, many of few).
   */
  readonly cpuMsPer1k?: number;
}

/** A latency run's log line (`offered`: at a fixed offered load, rather than a fraction of saturation). */
export function describeLatencyRun(latency: LatencyRun & { readonly audit: string }, offered?: 'offered'): string {
  return (
    `             e2e latency @ ${latency.rate} rec/s${offered ? ' offered' : ''}: p50 ${latency.p50} ms, p95 ${latency.p95} ms, p99 ${latency.p99} ms, output stamped at p50 ${latency.stampedP50} ms${latency.cpuMsPer1k === undefined ? '' : `, ${latency.cpuMsPer1k} CPU ms/1,000`} (${latency.samples} samples` +
    `, ${latency.sender} sender, ${latency.reader} reader${latency.late > 0 ? `, late ${latency.late}×` : ''}${latency.allSeen ? '' : ', NOT all outputs seen'}` +
    `${latency.settled ? `, warm-up kept up after ${latency.primedInMs} ms` : `, NOT keeping up after ${latency.primedInMs} ms of warm-up`}), audit ${latency.audit}`
  );
}

/** A latency run's warm-up bursts (at the offered rate, until one is all visible within this of its end), and how long they may take in all. */
export const PRIME_MS = 1_000;
const PRIME_TIMEOUT_MS = 120_000;

/**
 * Sends at `rate` for `durationMs` (open model) and measures send → visible to read_committed,
 * once the contender keeps up with warm-up bursts at that rate (`primedInMs`: how long that took;
 * `settled`: false when it never did within PRIME_TIMEOUT_MS, and was measured all the same).
 */
export async function openModelLatency(
  env: BrokerEnv,
  options: { input: string; output: string; rate: number; durationMs: number; warmupMs: number; generator: Generator; poisonInOutput: boolean; cpuMs?: () => number | undefined },
): Promise<LatencyRun> {
  const format = options.generator.options.format;
  const kcat = await findKcat();
  const latencies: number[] = [];
  const stamped: number[] = [];
  let countFrom = Number.POSITIVE_INFINITY;
  const onValue = (value: Buffer | null, receivedAt: number, timestamp: number) => {
    const stamp = readStamp(value, format);
    if (!stamp || stamp.sentAt < countFrom) return;
    latencies.push(receivedAt - stamp.sentAt);
    stamped.push(timestamp - stamp.sentAt);
  };
  // kcat reads when it can (JSON values are lines); otherwise a KafkaJS consumer in this process.
  const readerKind = kcat && format === 'json' ? 'kcat' : 'KafkaJS';
  const reader =
    kcat && readerKind === 'kcat'
      ? await startKcatReader(kcat, env.brokers, options.output, onValue)
      : await startReader(env.kafka, [options.output], (_topic, _partition, message, receivedAt) => onValue(message.value, receivedAt, Number(message.timestamp)));
  // Without kcat the sender is a KafkaJS producer in this process (it falls behind sooner).
  const producer = kcat ? undefined : env.kafka.producer({ allowAutoTopicCreation: false });
  await producer?.connect();
  const send = (durationMs: number) => {
    const schedule = scheduleOf({ executor: 'constant-arrival-rate', rate: options.rate, timeUnit: '1s', duration: durationMs });
    return kcat ? produceOpenModelKcat(kcat, env.brokers, options.input, schedule, options.generator) : produceOpenModel(producer as Producer, options.input, schedule, options.generator);
  };
  const outputsOf = (sent: OpenModelResult) => sent.sent - (options.poisonInOutput ? 0 : sent.poison);
  try {
    // The contender has just joined on fresh topics, and what a worker meets once at its start is
    // not the latency of its records: the broker may still be creating the topics' partitions (at
    // 96 partitions it went on for a second after the topics were reported created), the group
    // rejoins as they appear, and the first transactions waited up to 1.4 s each for their markers.
    // Sent straight away, the schedule's first seconds queued behind that start for 5-11 s,
    // whatever the contender (Kafka Streams as txstream), and the measure was of the start. So
    // first bursts of a second at the offered rate, not counted, until one is all visible within a
    // second of its end (a k6 run's setup): then the counted records meet a pipeline that keeps up.
    // A contender that never keeps up is measured after PRIME_TIMEOUT_MS all the same, and said so.
    const primeStarted = Date.now();
    let primed = 0;
    let settled = false;
    while (!settled && Date.now() - primeStarted < PRIME_TIMEOUT_MS) {
      primed += outputsOf(await send(PRIME_MS));
      const sentAt = Date.now();
      while (reader.received() < primed && Date.now() - primeStarted < PRIME_TIMEOUT_MS) await sleep(20);
      settled = reader.received() >= primed && Date.now() - sentAt <= PRIME_MS;
    }
    const primedInMs = Date.now() - primeStarted;
    countFrom = Date.now() + options.warmupMs;
    const cpuFrom = options.cpuMs?.();
    const produced = await send(options.warmupMs + options.durationMs);
    const expected = primed + outputsOf(produced);
    const deadline = Date.now() + 30_000;
    while (reader.received() < expected && Date.now() < deadline) await sleep(20);
    const cpuTo = options.cpuMs?.();
    const cpu = cpuFrom !== undefined && cpuTo !== undefined ? cpuMsPer1k(cpuTo - cpuFrom, produced.sent) : undefined;
    const sorted = [...latencies].sort((a, b) => a - b);
    const p = (q: number) => round(percentile(sorted, q), 1);
    const stampedP50 = round(percentile([...stamped].sort((a, b) => a - b), 50), 1);
    return { rate: options.rate, p50: p(50), p95: p(95), p99: p(99), stampedP50, samples: sorted.length, late: produced.late, allSeen: reader.received() >= expected, sender: kcat ? 'kcat' : 'KafkaJS', reader: readerKind, primedInMs, settled, ...(cpu === undefined ? {} : { cpuMsPer1k: cpu }) };
  } finally {
    await producer?.disconnect();
    await reader.stop();
  }
}
