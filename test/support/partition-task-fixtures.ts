import type { Batch, EachBatchPayload, KafkaMessage } from 'kafkajs';
import { pino } from 'pino';
import { type CommitListener, type CommitUnit, noneConsumedBefore, type PartitionCommitter, unscopedHandlerCall } from '../../src/commit/index.js';
import { type CommittedEntry, GroupProgress } from '../../src/kafka/group-progress.js';
import { TopicCatalog } from '../../src/kafka/topic-catalog.js';
import type { TopicPartition } from '../../src/kafka/topic-partition.js';
import { NO_TASK_METRICS } from '../../src/observability/metrics.js';
import { emptyStats, type WorkerStats } from '../../src/observability/stats.js';
import type { ResolvedPipeline } from '../../src/pipeline/definition.js';
import { PartitionTask } from '../../src/worker/partition-task.js';

/** Fixtures for partition-task unit tests: a fetched batch of partition in[0], and a task over a scripted committer. */

/** `count` records of in[0] from offset `first`, each a JSON string "r<offset>". */
export function batchFrom(first: number, count: number): Batch {
  const messages = Array.from(
    { length: count },
    (_, i) => ({ offset: String(first + i), key: null, value: Buffer.from(`"r${first + i}"`), timestamp: '0', attributes: 0, headers: {} }) as KafkaMessage,
  );
  return { topic: 'in', partition: 0, messages, fetchedOffset: String(first), lastOffset: () => String(first + count - 1) } as unknown as Batch;
}

export function payloadFor(batch: Batch): EachBatchPayload {
  return { batch, isRunning: () => true, isStale: () => false, heartbeat: async () => {}, resolveOffset: () => {} } as unknown as EachBatchPayload;
}

/** Every written topic exists with one partition and the broker's default size limit. */
function oneBrokerCatalog(): TopicCatalog {
  return new TopicCatalog(
    {
      fetchTopicMetadata: async (request?: { topics?: string[] }) => ({
        topics: (request?.topics ?? []).map((name) => ({ name, partitions: [{ partitionId: 0, leader: 1, replicas: [1], isr: [1], offlineReplicas: [], partitionErrorCode: 0 }] })),
      }),
      describeConfigs: async () => ({ resources: [], throttleTime: 0 }),
    },
    pino({ level: 'silent' }),
  );
}

/** A task of in[0], units of 10 records; `seeks` records where the task moved the consumer. */
export function scriptedTask(options: {
  pipeline: ResolvedPipeline;
  createCommitter: (listener: CommitListener) => PartitionCommitter;
  /** The group's progress on other partitions (default: none committed, every partition empty). */
  progress?: GroupProgress;
  readCommittedEntry?: (partition: TopicPartition) => Promise<CommittedEntry>;
  /** Whether the task is still of the member's generation (default: always). */
  isCurrent?: () => boolean;
}): { task: PartitionTask; seeks: string[]; stats: WorkerStats } {
  const seeks: string[] = [];
  const stats = emptyStats();
  const task = new PartitionTask({
    ...options,
    partition: { topic: 'in', partition: 0 },
    isCurrent: options.isCurrent ?? (() => true),
    recordsPerUnit: 10,
    consumer: { seek: ({ offset }) => void seeks.push(offset), pause: () => {}, resume: () => {} },
    stats,
    logger: pino({ level: 'silent' }),
    signal: new AbortController().signal,
    heartbeatIntervalMs: 1000,
    onFenced: () => {},
    metrics: NO_TASK_METRICS,
    catalog: oneBrokerCatalog(),
    progress: options.progress ?? new GroupProgress({ fetchOffsets: async () => [], fetchTopicOffsets: async () => [] }, 'group', 0),
    readCommittedEntry: options.readCommittedEntry ?? (async () => ({ offset: null, metadata: null })),
  });
  return { task, seeks, stats };
}

/** A committer that commits every unit as it is written, keeping the units for the test to read. */
export class CommittingCommitter implements PartitionCommitter {
  readonly writesAhead = 0;
  readonly consumedBefore = noneConsumedBefore;
  readonly runHandlerCall = unscopedHandlerCall;
  listener!: CommitListener;
  readonly units: CommitUnit[] = [];
  async open(): Promise<void> {}
  async startOffset(): Promise<string | null> {
    return '0';
  }
  async acknowledgeOnReceipt(): Promise<void> {}
  async write(unit: CommitUnit): Promise<void> {
    this.units.push(unit);
    this.listener.committed({ records: unit.records, nextOffset: unit.nextOffset });
  }
  async commit(): Promise<void> {}
  async abort(): Promise<void> {}
  async close(): Promise<void> {}
  /** The value of every output written, in write order. */
  get values(): string[] {
    return this.units.flatMap((unit) => unit.outputs.flatMap(({ messages }) => messages.map((message) => String(message.value))));
  }
  /** Hands itself to the task as its committer. */
  readonly create = (listener: CommitListener): PartitionCommitter => {
    this.listener = listener;
    return this;
  };
}
