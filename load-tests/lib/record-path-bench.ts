/**
 * The record path's stages in one process, without a broker: CPU per record of each, in
 * nanoseconds, for the txstream worker's code and the KafkaJS code it runs (patched), on the same
 * records. Run compiled (record-path.ts compiles it with tsc, as the measured worker is), in a
 * process of its own. argv[2]: a JSON RecordPathConfig; prints one JSON RecordPathResult.
 *
 * What it cannot show: the broker, the network, garbage collection's share under a real fetch
 * loop, and the event loop's idle time. The partitions sweep measures those; this measures the
 * per-record code itself, steadily enough to see a change of a few percent (the sweep's CPU per
 * record moves ±20 % from run to run on 2 shared cores).
 */
import { createRequire } from 'node:module';
import { GCProfiler, getHeapStatistics } from 'node:v8';
import type { KafkaMessage, Message } from 'kafkajs';
import pino from 'pino';
import { requestsOf } from '../../src/commit/request-size.js';
import { noneConsumedBefore, unscopedHandlerCall, type TopicMessages } from '../../src/commit/strategy.js';
import { DEFAULT_SETTINGS } from '../../src/config/schema.js';
import { TopicCatalog } from '../../src/kafka/topic-catalog.js';
import { WorkerMetrics } from '../../src/observability/metrics.js';
import { resolvePipeline } from '../../src/pipeline/definition.js';
import { defineHandler } from '../../src/pipeline/records.js';
import { emptyStats } from '../../src/observability/stats.js';
import { noneRouted } from '../../src/worker/failure-router.js';
import { PendingUnits } from '../../src/worker/pending-units.js';
import { UnitProcessor } from '../../src/worker/unit-processor.js';
import { WriteRefusals } from '../../src/worker/write-refusals.js';

export interface RecordPathConfig {
  readonly records: number;
  readonly recordBytes: number;
  readonly rounds: number;
}

export interface StageResult {
  readonly stage: string;
  readonly what: string;
  /** Nanoseconds of CPU per record: the median and the lowest of `rounds` timed rounds. */
  readonly nsPerRecord: number;
  /** Of the median round, the part spent in the kernel (page faults of fresh buffers, mostly). */
  readonly systemNsPerRecord: number;
  readonly lowestNsPerRecord: number;
  /** Bytes allocated on V8's heap per record (Buffers' contents, outside the heap, are not counted). */
  readonly heapBytesPerRecord: number;
}

export interface RecordPathResult {
  readonly node: string;
  readonly stages: StageResult[];
}

const require = createRequire(import.meta.url);
const { RecordBatch } = require('kafkajs/src/protocol/recordBatch/v0') as { RecordBatch: (options: object) => Promise<{ buffer: Buffer }> };
const decodeRecordBatch = require('kafkajs/src/protocol/recordBatch/v0/decoder') as (decoder: unknown) => Promise<{ records: KafkaMessage[] }>;
const Decoder = require('kafkajs/src/protocol/decoder') as new (buffer: Buffer) => unknown;
type EncodedRequest = { readonly buffer: Buffer };
type RequestEncode = (options?: { headroom?: number }) => Promise<EncodedRequest>;
const produceRequest = require('kafkajs/src/protocol/requests/produce/v3/request') as (options: object) => { encode: RequestEncode };
const encodeRequest = require('kafkajs/src/protocol/request') as (options: { correlationId: number; clientId: string; request: { apiKey: number; apiVersion: number; encode: RequestEncode } }) => Promise<EncodedRequest>;

/** Partitions one produce request writes: at 96 input partitions a request carried dozens of batches of a few records each. */
const REQUEST_PARTITIONS = 24;

/** The outputs as a producer groups them for one request: spread over REQUEST_PARTITIONS partitions. */
function requestTopicData(outputs: readonly Message[]) {
  const partitions = Array.from({ length: REQUEST_PARTITIONS }, (_, partition) => ({ partition, firstSequence: 0, messages: outputs.filter((_, index) => index % REQUEST_PARTITIONS === partition) }));
  return [{ topic: OUTPUT, partitions }];
}

/** The produce request a transactional producer sends for them (request header included). */
function encodeProduceRequest(topicData: ReturnType<typeof requestTopicData>): Promise<EncodedRequest> {
  const request = produceRequest({ acks: -1, timeout: 30_000, transactionalId: 'bench', producerId: 1, producerEpoch: 0, topicData });
  return encodeRequest({ correlationId: 1, clientId: 'bench', request: { apiKey: 0, apiVersion: 3, encode: request.encode } });
}

const config = JSON.parse(process.argv[2] ?? '{}') as RecordPathConfig;
const INPUT = 'bench-in';
const OUTPUT = 'bench-out';
const logger = pino({ level: 'silent' });
const echo = defineHandler<unknown, unknown>({ handle: (record) => ({ value: record.value }) });
// One set of metrics for every stage, as a worker has: each WorkerMetrics starts Node's default
// collectors (a GC observer, an event-loop monitor), which would otherwise run several times over.
const metrics = new WorkerMetrics(() => new Map()).forPipeline('echo', 'transactional');

/** What the harness's echo pipeline consumes: keys, 1 KB JSON objects, no headers. */
function fetchedRecords(count: number, recordBytes: number): Message[] {
  const filler = 'x'.repeat(Math.max(0, recordBytes - 60));
  return Array.from({ length: count }, (_, index) => ({
    key: Buffer.from(`key-${index % 1000}`),
    value: Buffer.from(JSON.stringify({ id: index, at: 1_700_000_000_000 + index, filler })),
    timestamp: String(1_700_000_000_000 + index),
  }));
}

async function encodeBatch(messages: readonly Message[]): Promise<Buffer> {
  const firstTimestamp = Number(messages[0]?.timestamp ?? 0);
  const batch = await RecordBatch({
    messages,
    timestampOf: (message: Message) => Number(message.timestamp),
    firstTimestamp,
    maxTimestamp: firstTimestamp + messages.length,
    lastOffsetDelta: messages.length - 1,
    transactional: true,
  });
  return batch.buffer;
}

async function decodeBatch(buffer: Buffer): Promise<KafkaMessage[]> {
  return (await decodeRecordBatch(new Decoder(buffer))).records;
}

function unitProcessor(serde: 'bytes' | 'json'): UnitProcessor {
  const pipeline = resolvePipeline(
    { name: 'echo', input: INPUT, output: OUTPUT, handler: echo, serde: { input: serde, output: serde } },
    { commit: DEFAULT_SETTINGS.commit },
  );
  // The catalog as a worker holds it once it has read its topics (nothing is read again here).
  const admin = {
    fetchTopicMetadata: async ({ topics = [] }: { topics?: string[] }) => ({ topics: topics.map((name) => ({ name, partitions: Array.from({ length: 12 }, (_, partitionId) => ({ partitionId })) })) }),
    describeConfigs: async ({ resources }: { resources: Array<{ name: string }> }) => ({
      resources: resources.map(({ name }) => ({ resourceName: name, configEntries: [{ configName: 'max.message.bytes', configValue: '1048588' }] })),
    }),
  };
  return new UnitProcessor({
    pipeline,
    partition: { topic: INPUT, partition: 3 },
    input: INPUT,
    tier: 0,
    catalog: new TopicCatalog(admin as never, logger),
    committer: { runHandlerCall: unscopedHandlerCall, consumedBefore: noneConsumedBefore },
    refusals: new WriteRefusals(INPUT, logger),
    logger,
    signal: new AbortController().signal,
    metrics,
  });
}

/** Runs `step` (one unit of `records` records) until warm, then times `rounds` rounds of enough units for ~0.2 s each. */
async function measure(stage: string, what: string, records: number, step: () => unknown): Promise<StageResult> {
  const run = async (times: number) => {
    for (let index = 0; index < times; index++) {
      const result = step();
      if (result instanceof Promise) await result;
    }
  };
  const warmStarted = process.cpuUsage();
  await run(200);
  const warm = process.cpuUsage(warmStarted);
  const perStepUs = Math.max(1, (warm.user + warm.system) / 200);
  const steps = Math.max(10, Math.round(200_000 / perStepUs));
  const rounds: Array<{ total: number; system: number }> = [];
  for (let round = 0; round < config.rounds; round++) {
    const started = process.cpuUsage();
    await run(steps);
    const used = process.cpuUsage(started);
    rounds.push({ total: ((used.user + used.system) * 1000) / (steps * records), system: (used.system * 1000) / (steps * records) });
  }
  rounds.sort((a, b) => a.total - b.total);
  const median = rounds[Math.floor(rounds.length / 2)] as { total: number; system: number };
  const allocated = await heapAllocated(() => run(steps));
  return {
    stage,
    what,
    nsPerRecord: median.total,
    systemNsPerRecord: median.system,
    lowestNsPerRecord: (rounds[0] as { total: number }).total,
    heapBytesPerRecord: allocated / (steps * records),
  };
}

/**
 * Bytes allocated on V8's heap while `work` runs: what each collection found in use before it ran,
 * less what the one before it left (and the heap at the start and the end), from V8's GC profiler.
 * The garbage a stage makes is what its share of collection costs grows with.
 */
async function heapAllocated(work: () => Promise<void>): Promise<number> {
  const profiler = new GCProfiler();
  const used = () => getHeapStatistics().used_heap_size;
  const start = used();
  profiler.start();
  await work();
  const end = used();
  const { statistics } = profiler.stop();
  let allocated = 0;
  let after = start;
  for (const gc of statistics) {
    allocated += Math.max(0, gc.beforeGC.heapStatistics.usedHeapSize - after);
    after = gc.afterGC.heapStatistics.usedHeapSize;
  }
  return allocated + Math.max(0, end - after);
}

async function main(): Promise<RecordPathResult> {
  const { records, recordBytes } = config;
  const produced = fetchedRecords(records, recordBytes);
  const fetchedBatch = await encodeBatch(produced);
  const fetched = await decodeBatch(fetchedBatch);
  const stages: StageResult[] = [];
  stages.push(await measure('fetch decode', "KafkaJS decodes a fetched record batch into messages (patched; no CRC check, as KafkaJS)", records, () => decodeBatch(fetchedBatch)));
  for (const serde of ['bytes', 'json'] as const) {
    const processor = unitProcessor(serde);
    const heartbeat = async () => {};
    const interrupt = new AbortController().signal;
    stages.push(
      await measure(`unit, ${serde}`, `txstream handles a unit: decode (${serde}), the echo handler, output checks, the output buffer`, records, () =>
        processor.process(fetched, heartbeat, interrupt),
      ),
    );
  }
  const unit = await unitProcessor('bytes').process(fetched, async () => {}, new AbortController().signal);
  const units = [{ outputs: unit.outputs as readonly TopicMessages[] }];
  stages.push(await measure('requests', 'txstream merges the units written together and splits them into produce requests', records, () => requestsOf(units)));
  const topicData = requestTopicData((unit.outputs[0]?.messages ?? []) as Message[]);
  stages.push(
    await measure('produce request', `KafkaJS encodes the outputs' produce request, over ${REQUEST_PARTITIONS} partitions (patched: batches in a reused scratch, one copy into the request, native CRC32C)`, records, () =>
      encodeProduceRequest(topicData),
    ),
  );
  const stats = emptyStats();
  const timestamps = fetched.map((message) => Number(message.timestamp));
  stages.push(
    await measure('commit bookkeeping', "txstream's pending units and end-to-end latency histogram when a commit covers a unit", records, () => {
      const pending = new PendingUnits();
      pending.add({ nextOffset: BigInt(records), records, outputs: records, routed: noneRouted(), timestamps });
      metrics.committed(undefined, pending.commitThrough(String(records), stats));
    }),
  );
  return { node: process.version, stages };
}

main().then(
  (result) => {
    process.stdout.write(`${JSON.stringify(result)}\n`);
  },
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
