import type { Admin, Consumer, Kafka } from 'kafkajs';
import type { Logger } from 'pino';
import { type CommitStrategy, type GroupMembership, type StrategyContext, type TopicPartition, transactionalIdFor } from '../commit/index.js';
import { DEFAULTS } from '../config/defaults.js';
import type { FetchSizing } from '../config/memory-budget.js';
import { GroupProgress } from '../kafka/group-progress.js';
import { StableOffsetReader } from '../kafka/stable-offsets.js';
import { readLag } from '../observability/group-status.js';
import type { TaskMetrics, WorkerMetrics } from '../observability/metrics.js';
import type { WorkerStats } from '../observability/stats.js';
import { consumedTopicsOf, type ResolvedPipeline } from '../pipeline/definition.js';
import { TopicCatalog } from '../kafka/topic-catalog.js';
import { createCommitStrategy } from './commit-strategies.js';
import type { HandlerWatch } from './handler-watch.js';
import type { Slots } from './lanes.js';
import { PartitionTask } from './partition-task.js';
import { TaskManager } from './task-manager.js';

export interface GroupSettings {
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly partitionsConcurrently: number;
  /** This pipeline's share of the worker's memory budget (config/memory-budget.ts). */
  readonly fetch: FetchSizing;
  /** KafkaJS re-reads metadata this often and rejoins when an input has new partitions. */
  readonly metadataMaxAgeMs: number;
}

export interface PipelineRunnerDeps {
  readonly pipeline: ResolvedPipeline;
  readonly kafka: Kafka;
  readonly admin: Admin;
  readonly group: GroupSettings;
  readonly stats: WorkerStats;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  readonly onFatal: (error: Error) => void;
  readonly metrics: WorkerMetrics;
  /** How often consumer lag is read for the metrics (0: never). */
  readonly lagRefreshMs: number;
  readonly handlerWatch?: HandlerWatch;
  /** Names this worker's transactional producer: `<groupId>.<instanceId>`. */
  readonly instanceId: string;
  /** The worker-wide cap on handler calls in flight, shared by every pipeline. */
  readonly workerSlots?: Slots;
}

/**
 * One pipeline's consumer group membership (Kafka Streams' StreamThread): a
 * KafkaJS consumer, a commit strategy, and the tasks of the assigned partitions.
 */
export class PipelineRunner {
  private readonly consumer: Consumer;
  private readonly strategy: CommitStrategy;
  private readonly tasks: TaskManager;
  private readonly log: Logger;
  private readonly taskMetrics: TaskMetrics;
  private readonly catalog: TopicCatalog;
  private readonly offsets: StableOffsetReader;
  /** How far the group has come on other partitions (the retry tiers a partition holds keys behind). */
  private readonly progress: GroupProgress;
  /** The group generation this member is in (KIP-447: sent with the transaction's offsets). */
  private membership: GroupMembership | undefined;
  private joined = false;
  /** When the group started rebalancing, until every partition of the next generation is open. */
  private rebalanceStarted: number | undefined;
  /** Between the group's rebalance signal and the next join: partitions are moving, not ready. */
  private rebalancing = false;
  /** When the batch in flight on each partition started, to tell a stuck partition from a busy one. */
  private readonly inFlightSince = new Map<string, number>();
  private lagTimer: NodeJS.Timeout | undefined;

  constructor(private readonly deps: PipelineRunnerDeps) {
    const { pipeline, kafka, group } = deps;
    this.log = deps.logger.child({ pipeline: pipeline.name, groupId: pipeline.groupId });
    this.consumer = kafka.consumer({
      groupId: pipeline.groupId,
      sessionTimeout: group.sessionTimeoutMs,
      heartbeatInterval: group.heartbeatIntervalMs,
      rebalanceTimeout: group.rebalanceTimeoutMs,
      maxBytes: group.fetch.maxBytes,
      maxBytesPerPartition: group.fetch.maxBytesPerPartition,
      metadataMaxAge: group.metadataMaxAgeMs,
      maxWaitTimeInMs: pipeline.commit.lingerMs,
      readUncommitted: false,
      allowAutoTopicCreation: false,
    });
    const strategyContext: StrategyContext = {
      kafka,
      groupId: pipeline.groupId,
      transactionalId: transactionalIdFor(pipeline.groupId, deps.instanceId),
      transactionTimeoutMs: pipeline.commit.transactionTimeoutMs,
      concurrentTransactionsTimeoutMs: pipeline.commit.concurrentTransactionsTimeoutMs,
      commitIntervalMs: pipeline.commit.commitIntervalMs,
      membership: () => this.membership,
      onTransactionEnded: (result, durationMs, cause = 'other') => {
        if (result === 'aborted') {
          deps.stats.transactionsAborted++;
          deps.stats.transactionsAbortedBy[cause] = (deps.stats.transactionsAbortedBy[cause] ?? 0) + 1;
          this.log.info({ cause }, 'transaction aborted');
          return;
        }
        deps.stats.transactionsCommitted++;
        this.taskMetrics.commitCycle(durationMs / 1000);
      },
      onOffsetsCommitted: (durationMs) => {
        deps.stats.offsetCommits++;
        this.taskMetrics.commitCycle(durationMs / 1000);
      },
      commitOffsets: (offsets) => this.consumer.commitOffsets(offsets),
      readCommittedOffset: (partition) => this.offsets.read(partition),
      signal: deps.signal,
      logger: this.log,
    };
    this.strategy = createCommitStrategy(pipeline, strategyContext, deps.metrics.registry);
    this.catalog = new TopicCatalog(deps.admin, this.log);
    // A pending transaction holding a partition's offsets ends within the transaction timeout
    // (committed, aborted by its producer, or aborted by the coordinator): wait a little longer.
    this.offsets = new StableOffsetReader(deps.admin, pipeline.groupId, { timeoutMs: pipeline.commit.transactionTimeoutMs + 5_000 });
    // Shared by the worker's partitions for half a check interval: one request per tier per check.
    this.progress = new GroupProgress(deps.admin, pipeline.groupId, DEFAULTS.holdCheckIntervalMs / 2);
    this.taskMetrics = deps.metrics.forPipeline(pipeline.name, this.strategy.name);
    this.tasks = new TaskManager({
      createTask: (partition, isCurrent) => this.createTask(partition, isCurrent),
      resume: (partitions) => this.consumer.resume(groupByTopic(partitions)),
      stats: deps.stats,
      logger: this.log,
      fencedRetryMs: group.sessionTimeoutMs,
      onAllOpen: () => this.onAllOpen(),
    });
  }

  get hasJoined(): boolean {
    return this.joined;
  }

  /**
   * Why this pipeline is not ready, or undefined when it is: it has joined its group, every
   * assigned partition is open (the producer initialised, its offset read stable) and no
   * batch has been in flight longer than a transaction may stay open.
   */
  notReadyReason(now = Date.now()): string | undefined {
    const name = this.deps.pipeline.name;
    const waiting = this.strategy.notReadyReason?.();
    if (waiting) return `${name}: ${waiting}`;
    if (!this.joined) return `${name}: not joined`;
    if (this.rebalancing) return `${name}: rebalancing`;
    const unopened = this.tasks.unopened();
    if (unopened.length > 0) return `${name}: ${unopened.length} partition(s) not open: ${unopened.slice(0, 5).join(', ')}`;
    const limit = this.deps.pipeline.commit.transactionTimeoutMs;
    const stuck = [...this.inFlightSince].filter(([, since]) => now - since > limit).map(([partition]) => partition);
    if (stuck.length > 0) return `${name}: batch in flight for over ${limit} ms on ${stuck.join(', ')}`;
    return undefined;
  }

  async start(): Promise<void> {
    const { events } = this.consumer;
    this.consumer.on(events.GROUP_JOIN, ({ payload }) => {
      this.membership = { generationId: payload.generationId, memberId: payload.memberId, groupInstanceId: null };
      this.joined = true;
      this.rebalancing = false;
      this.tasks.onAssignment(payload.memberAssignment);
      const assigned = Object.values(payload.memberAssignment).reduce((sum, partitions) => sum + partitions.length, 0);
      this.deps.metrics.assignedPartitions.set({ pipeline: this.deps.pipeline.name }, assigned);
    });
    this.consumer.on(events.REBALANCING, () => {
      this.rebalancing = true;
      this.rebalanceStarted ??= Date.now();
      this.log.info('group is rebalancing; committing pending work before the rejoin');
    });
    this.consumer.on(events.CRASH, ({ payload }) => {
      this.log.error({ err: payload.error, restart: payload.restart }, 'consumer crashed');
      if (!payload.restart) this.deps.onFatal(payload.error);
    });
    await this.strategy.start?.();
    await this.consumer.connect();
    await this.consumer.subscribe({ topics: consumedTopicsOf(this.deps.pipeline), fromBeginning: true });
    await this.consumer.run({
      autoCommit: false,
      eachBatchAutoResolve: false,
      // Batches of aborted records or markers alone come too, so the committed offset moves past them.
      eachBatchFiltered: true,
      // The next fetch goes out while this one's batches are handled (our KafkaJS patch 019): the
      // round trip overlaps the handling. A batch fetched ahead is handed over only if it starts at
      // the partition's next offset, so a rollback's seek or a retry tier's pause drops it.
      prefetch: true,
      partitionsConsumedConcurrently: this.partitionsAtOnce(),
      // Every partition is revoked at the rejoin (KafkaJS's eager protocol): commit while this
      // generation is still valid, or the coordinator refuses the offsets and the work is redone.
      onPartitionsRevoked: async () => {
        const started = Date.now();
        await this.strategy.flush();
        await this.tasks.flushAll();
        this.log.info({ durationMs: Date.now() - started }, 'pending work committed before the rejoin');
      },
      eachBatch: async (payload) => {
        const partition = `${payload.batch.topic}|${payload.batch.partition}`;
        this.inFlightSince.set(partition, Date.now());
        try {
          const task = await this.tasks.taskFor({ topic: payload.batch.topic, partition: payload.batch.partition });
          if (task) await task.handleBatch(payload);
        } finally {
          this.inFlightSince.delete(partition);
        }
      },
    });
    this.log.info(
      { inputs: this.deps.pipeline.inputs, strategy: this.strategy.name, guarantee: this.strategy.guarantee },
      'pipeline started',
    );
    if (this.deps.lagRefreshMs > 0) {
      this.lagTimer = setInterval(() => {
        this.refreshLag().catch((error: unknown) => this.log.debug({ err: error }, 'lag refresh failed'));
      }, this.deps.lagRefreshMs);
      this.lagTimer.unref();
    }
  }

  /** Stop fetching, let in-flight batches finish, commit, then leave the group. */
  async drain(): Promise<void> {
    this.consumer.pause(consumedTopicsOf(this.deps.pipeline).map((topic) => ({ topic })));
    await this.tasks.closeAll('commit');
    await this.shutdown();
  }

  /** Past the drain deadline: abort open transactions and leave. */
  async abort(): Promise<void> {
    await this.tasks.closeAll('abort');
    await this.shutdown();
  }

  /** Lag of every consumed partition: high watermark minus the group's committed offset. */
  async refreshLag(): Promise<void> {
    const { admin, pipeline, metrics } = this.deps;
    for (const { topic, partition, lag } of await readLag(admin, pipeline.groupId, consumedTopicsOf(pipeline))) {
      metrics.consumerLag.set({ pipeline: pipeline.name, topic, partition: String(partition) }, lag);
    }
  }

  private async shutdown(): Promise<void> {
    clearInterval(this.lagTimer);
    this.joined = false;
    await Promise.allSettled([this.consumer.disconnect(), this.strategy.close()]);
  }

  /**
   * Partitions whose batches are handled at the same time. Under concurrency inside a partition
   * a batch mostly waits on its handler's I/O, and the calls in flight are bounded by the
   * pipeline's maxInFlight and the worker's cap: every fetched partition is handled at once.
   */
  private partitionsAtOnce(): number {
    const { group, pipeline } = this.deps;
    return pipeline.concurrency.ordering === 'partition' ? group.partitionsConcurrently : Math.max(group.partitionsConcurrently, DEFAULTS.partitionsConcurrentlyUnderConcurrency);
  }

  /** Every partition of the generation is open: the rebalance's pause for this member is over. */
  private onAllOpen(): void {
    const started = this.rebalanceStarted;
    if (started === undefined) return;
    this.rebalanceStarted = undefined;
    const pauseMs = Date.now() - started;
    this.taskMetrics.rebalancePause(pauseMs / 1000);
    this.log.info({ pauseMs }, 'rebalance over: every assigned partition is open');
  }

  private createTask(partition: TopicPartition, isCurrent: () => boolean): PartitionTask {
    const { pipeline } = this.deps;
    return new PartitionTask({
      pipeline,
      partition,
      isCurrent,
      createCommitter: (listener) => this.strategy.forPartition(partition, listener),
      recordsPerUnit: this.strategy.recordsPerUnit ?? pipeline.commit.batchSize,
      consumer: this.consumer,
      stats: this.deps.stats,
      logger: this.log,
      signal: this.deps.signal,
      heartbeatIntervalMs: this.deps.group.heartbeatIntervalMs,
      onFenced: (task) => this.tasks.onFenced(task),
      metrics: this.taskMetrics,
      catalog: this.catalog,
      handlerWatch: this.deps.handlerWatch,
      workerSlots: this.deps.workerSlots,
      progress: this.progress,
      readCommittedEntry: (partition) => this.offsets.readEntry(partition),
    });
  }
}

function groupByTopic(partitions: TopicPartition[]): Array<{ topic: string; partitions: number[] }> {
  const byTopic = new Map<string, number[]>();
  for (const { topic, partition } of partitions) byTopic.set(topic, [...(byTopic.get(topic) ?? []), partition]);
  return [...byTopic].map(([topic, list]) => ({ topic, partitions: list }));
}
