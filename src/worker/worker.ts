import type { Admin, Kafka, KafkaConfig } from 'kafkajs';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import { hostname } from 'node:os';
import { DEFAULTS, defaultInstanceId } from '../config/defaults.js';
import { bufferCollectionMiB, fetchSizing, type FetchSizing, memoryBudgetProblem, oldGenerationGrowthPercent, youngGenerationMiB } from '../config/memory-budget.js';
import { type BrokerGroupLimits, type GroupTimers, groupTimerProblems } from '../config/timers.js';

/** KafkaJS's ConfigResourceTypes.BROKER (its enums are not visible as ESM named exports). */
const BROKER_RESOURCE = 4;
import { type CommitSettings, DEFAULT_SETTINGS } from '../config/schema.js';
import { BrokerUnreachableError, ConfigError, KafkaSecurityError } from '../errors/index.js';
import { describeConnectionFailure } from '../security/index.js';
import { createKafka } from '../kafka/client.js';
import { boundOldGenerationGrowth, boundYoungGeneration, collectBuffersAbove } from '../util/v8-heap.js';
import { createLogger } from '../observability/logger.js';
import { WorkerMetrics } from '../observability/metrics.js';
import { emptyStats, type WorkerStats } from '../observability/stats.js';
import { consumedTopicsOf, type PipelineDefinition, type ResolvedPipeline, resolvePipeline, topicsOf } from '../pipeline/definition.js';
import { HandlerWatch } from './handler-watch.js';
import type { Slots } from './lanes.js';
import { PipelineRunner } from './pipeline-runner.js';

export interface WorkerOptions {
  readonly brokers: readonly string[];
  readonly pipelines: readonly PipelineDefinition[];
  readonly clientId?: string;
  /** Prefix of the pipelines' consumer groups: `<groupId>.<pipeline>`. */
  readonly groupId?: string;
  /** Defaults for every pipeline; a pipeline's own `commit` wins. */
  readonly commit?: Partial<CommitSettings>;
  readonly partitionsConcurrently?: number;
  /** Handler calls in flight in the whole worker, across partitions and pipelines; default DEFAULTS.maxInFlight. */
  readonly maxInFlight?: number;
  readonly sessionTimeoutMs?: number;
  readonly heartbeatIntervalMs?: number;
  readonly rebalanceTimeoutMs?: number;
  readonly drainTimeoutMs?: number;
  /** How soon partitions added to an input are consumed; default DEFAULTS.metadataMaxAgeMs. */
  readonly metadataMaxAgeMs?: number;
  /**
   * The memory the worker may take, in MiB: sizes its consumers' fetches (config/memory-budget.ts)
   * by the partitions each pipeline consumes; default DEFAULTS.memoryBudgetMb.
   */
  readonly memoryBudgetMb?: number;
  /**
   * This worker's stable name: its transactional producers are `<group>.<instanceId>`, so a
   * restart under the same name aborts the transaction its predecessor left open. Must be
   * unique among live workers. Default: `<hostname>-<pid>`.
   */
  readonly instanceId?: string;
  /** How often consumer lag is read for the metrics; 0 turns it off. */
  readonly lagRefreshMs?: number;
  readonly logger?: Logger;
  /** Extra KafkaJS client settings (ssl, sasl, connection timeouts). */
  readonly kafka?: Omit<KafkaConfig, 'brokers' | 'clientId' | 'logCreator' | 'logLevel'>;
}

export type WorkerState = 'created' | 'starting' | 'running' | 'draining' | 'stopped' | 'failed';

export interface StopResult {
  /** True when everything in flight was committed before the deadline. */
  readonly clean: boolean;
  readonly durationMs: number;
}

/**
 * A txstream worker: runs its pipelines until stopped. Lifecycle:
 * created → starting → running → draining → stopped (or failed).
 */
export class Worker {
  private state: WorkerState = 'created';
  private readonly kafka: Kafka;
  private admin: Admin | undefined;
  /** Releases this worker's limit on the ArrayBuffers waiting for a major collection (boundHeap). */
  private releaseBufferLimit: (() => void) | undefined;
  private runners: PipelineRunner[] = [];
  private readonly abort = new AbortController();
  private readonly statsByPipeline = new Map<string, WorkerStats>();
  /** Prometheus metrics of this worker (its own registry); serve them with startOpsServer. */
  readonly metrics: WorkerMetrics;
  private readonly fatalListeners: Array<(error: Error) => void> = [];
  readonly logger: Logger;
  readonly pipelines: readonly ResolvedPipeline[];
  private readonly handlerWatch = new HandlerWatch();
  /** Handler calls in flight in this worker, across its partitions and pipelines. */
  private readonly workerSlots: Slots;
  /** The start under way (or done), so a stop that arrives during it can wait for it. */
  private starting: Promise<void> | undefined;

  constructor(private readonly options: WorkerOptions) {
    if (options.brokers.length === 0) throw new ConfigError('at least one broker is required (brokers)');
    if (options.pipelines.length === 0) throw new ConfigError('no pipeline to run (pipelines)');
    const timers = groupTimerProblems(this.timersOf(options));
    if (timers.length > 0) throw new ConfigError(timers.join('; '));
    const budget = memoryBudgetProblem(this.memoryBudgetMb);
    if (budget) throw new ConfigError(budget);
    this.logger = options.logger ?? createLogger();
    const commit = { ...DEFAULT_SETTINGS.commit, ...options.commit };
    this.pipelines = options.pipelines.map((pipeline) => resolvePipeline(pipeline, { commit, groupId: options.groupId }));
    const names = this.pipelines.map((pipeline) => pipeline.name);
    const duplicate = names.find((name, index) => names.indexOf(name) !== index);
    if (duplicate) throw new ConfigError(`pipeline name '${duplicate}' is used twice; names must be unique`);
    for (const pipeline of this.pipelines) this.statsByPipeline.set(pipeline.name, emptyStats());
    const maxInFlight = options.maxInFlight ?? DEFAULTS.maxInFlight;
    if (!Number.isInteger(maxInFlight) || maxInFlight < 1) throw new ConfigError(`maxInFlight ${String(maxInFlight)} is out of range; accepted: a whole number from 1`);
    const workerLimit = pLimit(maxInFlight);
    this.workerSlots = (fn) => workerLimit(fn);
    this.metrics = new WorkerMetrics(() => this.statsByPipeline);
    this.kafka = createKafka({
      brokers: options.brokers,
      clientId: options.clientId ?? DEFAULT_SETTINGS.clientId,
      logger: this.logger,
      kafka: options.kafka,
    });
  }

  get status(): WorkerState {
    return this.state;
  }

  /**
   * Ready: running (not starting, not draining), every pipeline joined its group, every assigned
   * partition open (its producer initialised, its offset read stable), none stuck on a batch. What /readyz answers.
   */
  get ready(): boolean {
    return this.notReadyReason() === undefined;
  }

  /** Why the worker is not ready (the first reason), or undefined when it is. */
  notReadyReason(): string | undefined {
    if (this.state !== 'running' && this.state !== 'starting') return `worker is ${this.state}`;
    for (const runner of this.runners) {
      const reason = runner.notReadyReason();
      // While starting, the pipeline being started says what it waits for (its database, say).
      if (reason) return this.state === 'starting' ? `worker is starting: ${reason}` : reason;
    }
    return this.state === 'starting' ? 'worker is starting' : undefined;
  }

  /**
   * Liveness: false while a handler call that passed its timeout has still not settled.
   * (The ops server's /healthz also watches the event loop.)
   */
  health(): { healthy: boolean; problems: string[] } {
    const problems = this.handlerWatch
      .pending()
      .map(({ records, since }) => `handler on ${records} passed its timeout ${Date.now() - since} ms ago and has not settled`);
    return { healthy: problems.length === 0, problems };
  }

  /** Counters summed over the pipelines. */
  stats(): Readonly<WorkerStats> {
    const total = emptyStats();
    for (const stats of this.statsByPipeline.values()) {
      for (const key of Object.keys(total) as Array<keyof WorkerStats>) {
        if (key === 'transactionsAbortedBy') {
          for (const [cause, count] of Object.entries(stats.transactionsAbortedBy)) total.transactionsAbortedBy[cause] = (total.transactionsAbortedBy[cause] ?? 0) + count;
        } else total[key] += stats[key];
      }
    }
    return total;
  }

  /** Counters of one pipeline. */
  pipelineStats(name: string): Readonly<WorkerStats> | undefined {
    const stats = this.statsByPipeline.get(name);
    return stats ? { ...stats } : undefined;
  }

  /** Called when a consumer cannot recover; the CLI exits non-zero. */
  onFatal(listener: (error: Error) => void): void {
    this.fatalListeners.push(listener);
  }

  start(): Promise<void> {
    if (this.state !== 'created') return Promise.reject(new Error(`worker cannot start from state '${this.state}'`));
    this.state = 'starting';
    this.starting = this.startPipelines();
    return this.starting;
  }

  private async startPipelines(): Promise<void> {
    try {
      this.admin = this.kafka.admin();
      await this.admin.connect().catch((error: unknown) => {
        const failure = describeConnectionFailure(error, { brokers: this.options.brokers, sasl: this.options.kafka?.sasl });
        throw failure.kind === 'unreachable'
          ? new BrokerUnreachableError(this.options.brokers, { cause: error })
          : new KafkaSecurityError(failure.message, failure.kind, { cause: error });
      });
      await this.checkTopicsExist(this.admin);
      await this.checkBrokerGroupLimits(this.admin);
      const fetches = await this.fetchSizes(this.admin, this.boundHeap());
      const group = {
        sessionTimeoutMs: this.options.sessionTimeoutMs ?? DEFAULTS.sessionTimeoutMs,
        heartbeatIntervalMs: this.options.heartbeatIntervalMs ?? DEFAULTS.heartbeatIntervalMs,
        rebalanceTimeoutMs: this.options.rebalanceTimeoutMs ?? DEFAULTS.rebalanceTimeoutMs,
        partitionsConcurrently: this.options.partitionsConcurrently ?? DEFAULTS.partitionsConcurrently,
        metadataMaxAgeMs: this.options.metadataMaxAgeMs ?? DEFAULTS.metadataMaxAgeMs,
      };
      for (const [index, pipeline] of this.pipelines.entries()) {
        // Stopped meanwhile: start nothing more (what started is drained by the stop).
        if (this.state !== 'starting') break;
        const runner = new PipelineRunner({
          pipeline,
          kafka: this.kafka,
          admin: this.admin,
          group: { ...group, fetch: fetches[index] as FetchSizing },
          stats: this.statsByPipeline.get(pipeline.name) ?? emptyStats(),
          metrics: this.metrics,
          lagRefreshMs: this.options.lagRefreshMs ?? DEFAULTS.lagRefreshMs,
          logger: this.logger,
          signal: this.abort.signal,
          onFatal: (error) => this.fail(error),
          handlerWatch: this.handlerWatch,
          workerSlots: this.workerSlots,
          instanceId: this.options.instanceId ?? defaultInstanceId(hostname(), process.pid),
        });
        this.runners.push(runner);
        await runner.start();
      }
      // A stop that came during the start has already moved the state on.
      if (this.state === 'starting') this.state = 'running';
    } catch (error) {
      this.state = 'failed';
      await this.release();
      throw error;
    }
  }

  /**
   * Graceful drain: stop fetching, finish and commit in-flight work, leave the
   * groups. Past the deadline, open transactions are aborted and `clean` is false.
   */
  async stop(deadlineMs = this.options.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs): Promise<StopResult> {
    const started = Date.now();
    if (this.state === 'stopped') return { clean: true, durationMs: 0 };
    this.state = 'draining';
    this.abort.abort();
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), deadlineMs);
    });
    // Stopped during its start (an orchestrator replacing a container that just started): let the
    // start settle first, so every consumer it creates is drained rather than left connecting.
    if (this.starting) await Promise.race([this.starting.catch(() => {}), deadline]);
    const drained = Promise.all(this.runners.map((runner) => runner.drain())).then(() => 'drained' as const);
    const outcome = await Promise.race([drained, deadline]);
    clearTimeout(timer);
    if (outcome === 'timeout') {
      this.logger.error({ deadlineMs }, 'drain deadline passed; aborting open transactions');
      // A task still inside a handler holds its lock: aborting waits for it only so long.
      let graceTimer: NodeJS.Timeout | undefined;
      const grace = new Promise<void>((resolve) => {
        graceTimer = setTimeout(resolve, DEFAULTS.drainAbortGraceMs);
      });
      await Promise.race([Promise.allSettled(this.runners.map((runner) => runner.abort())), grace]);
      clearTimeout(graceTimer);
    }
    await this.release();
    this.state = 'stopped';
    const result = { clean: outcome === 'drained', durationMs: Date.now() - started };
    this.logger.info({ ...result, stats: this.stats() }, 'worker stopped');
    return result;
  }

  private timersOf(options: WorkerOptions): GroupTimers {
    return {
      sessionTimeoutMs: options.sessionTimeoutMs ?? DEFAULTS.sessionTimeoutMs,
      heartbeatIntervalMs: options.heartbeatIntervalMs ?? DEFAULTS.heartbeatIntervalMs,
      rebalanceTimeoutMs: options.rebalanceTimeoutMs ?? DEFAULTS.rebalanceTimeoutMs,
      drainTimeoutMs: options.drainTimeoutMs ?? DEFAULTS.drainTimeoutMs,
    };
  }

  /**
   * The broker refuses a session timeout outside its group limits only at JoinGroup, where
   * KafkaJS retries it; read the limits first and refuse to start with the accepted range.
   */
  private async checkBrokerGroupLimits(admin: Admin): Promise<void> {
    let limits: BrokerGroupLimits;
    try {
      const { brokers } = await admin.describeCluster();
      const [broker] = brokers;
      if (!broker) return;
      const { resources } = await admin.describeConfigs({
        includeSynonyms: false,
        resources: [{ type: BROKER_RESOURCE, name: String(broker.nodeId), configNames: ['group.min.session.timeout.ms', 'group.max.session.timeout.ms'] }],
      });
      const value = (name: string) => Number(resources[0]?.configEntries.find((entry) => entry.configName === name)?.configValue);
      limits = { minSessionTimeoutMs: value('group.min.session.timeout.ms'), maxSessionTimeoutMs: value('group.max.session.timeout.ms') };
      if (!Number.isFinite(limits.minSessionTimeoutMs) || !Number.isFinite(limits.maxSessionTimeoutMs)) return;
    } catch (error) {
      // Reading broker configs may be denied by ACLs; JoinGroup will still say no.
      this.logger.debug({ err: error }, 'could not read the broker group limits');
      return;
    }
    const problems = groupTimerProblems(this.timersOf(this.options), limits);
    if (problems.length > 0) throw new ConfigError(problems.join('; '));
  }

  private get memoryBudgetMb(): number {
    return this.options.memoryBudgetMb ?? DEFAULTS.memoryBudgetMb;
  }

  /**
   * Bounds V8's young generation, below the default budget its old generation's growth, and up to
   * a budget a little above the default the ArrayBuffers waiting for a major collection (released
   * when the worker stops), by the memory budget (process-wide: the smallest wins); returns the bounds.
   */
  private boundHeap(): { youngGenerationMiB: number; oldGenerationGrowthPercent: number | 'V8'; buffersCollectedAboveMiB: number | 'V8' } {
    const young = youngGenerationMiB(this.memoryBudgetMb);
    const oldGrowth = oldGenerationGrowthPercent(this.memoryBudgetMb);
    const buffers = bufferCollectionMiB(this.memoryBudgetMb);
    boundYoungGeneration(young);
    if (oldGrowth !== undefined) boundOldGenerationGrowth(oldGrowth);
    if (buffers !== undefined) this.releaseBufferLimit ??= collectBuffersAbove(buffers);
    return { youngGenerationMiB: young, oldGenerationGrowthPercent: oldGrowth ?? 'V8', buffersCollectedAboveMiB: buffers ?? 'V8' };
  }

  /**
   * Each pipeline's fetch limits from the memory budget and the partitions it consumes (inputs and
   * retry tiers), as the topics have them at the start: a worker that owns only some of them
   * fetches less than the budget allows, never more. Partitions added later are fetched within
   * the same response limit. Logged in one line with the heap bounds (`heap`).
   */
  private async fetchSizes(admin: Admin, heap: object): Promise<FetchSizing[]> {
    const consumed = this.pipelines.map((pipeline) => consumedTopicsOf(pipeline));
    const { topics: metadata } = await admin.fetchTopicMetadata({ topics: [...new Set(consumed.flat())] });
    const partitionsOf = new Map(metadata.map(({ name, partitions }) => [name, partitions.length]));
    const partitions = consumed.map((topics) => topics.reduce((sum, topic) => sum + (partitionsOf.get(topic) ?? 1), 0));
    const sizes = fetchSizing(this.memoryBudgetMb, partitions);
    this.logger.info(
      { memoryBudgetMb: this.memoryBudgetMb, ...heap, fetch: Object.fromEntries(this.pipelines.map((pipeline, index) => [pipeline.name, { partitions: partitions[index], ...sizes[index] }])) },
      'fetch sizes from the memory budget',
    );
    return sizes;
  }

  private async checkTopicsExist(admin: Admin): Promise<void> {
    const existing = new Set(await admin.listTopics());
    const missing = this.pipelines.flatMap((pipeline) =>
      topicsOf(pipeline)
        .filter((topic) => !existing.has(topic))
        .map((topic) => `${topic} (pipeline '${pipeline.name}')`),
    );
    if (missing.length > 0) {
      throw new ConfigError(`topics do not exist: ${missing.join(', ')}. Create them first; txstream never auto-creates topics.`);
    }
  }

  private fail(error: Error): void {
    if (this.state === 'failed' || this.state === 'stopped') return;
    this.state = 'failed';
    for (const listener of this.fatalListeners) listener(error);
  }

  private async release(): Promise<void> {
    this.releaseBufferLimit?.();
    this.releaseBufferLimit = undefined;
    await this.admin?.disconnect().catch(() => {});
    this.admin = undefined;
  }
}

export function createWorker(options: WorkerOptions): Worker {
  return new Worker(options);
}
