import type { Batch, Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import type { CommitUnit, PartitionCommitter, TopicPartition } from '../commit/index.js';
import { DEFAULTS } from '../config/defaults.js';
import { HandlerContractError, ProducerFencedError } from '../errors/index.js';
import { fetchedOffsetOf } from '../kafka/batch.js';
import type { TaskMetrics } from '../observability/metrics.js';
import type { WorkerStats } from '../observability/stats.js';
import type { ResolvedPipeline } from '../pipeline/definition.js';
import { type BatchHandlerFn, type HandlerContext, type HandlerResult, type InputRecord, normaliseResult } from '../pipeline/records.js';
import { backoffDelay } from '../routing/backoff.js';
import { decide } from '../routing/decide.js';
import { isPreparableSerde } from '../serde/registry.js';
import { dueAtOf, failureCopy, originOf } from '../routing/failure-copy.js';
import { encodeLineage } from '../routing/lineage.js';
import { decodeRecord, OutputCollector } from './record-collector.js';

export interface PartitionTaskDeps {
  readonly pipeline: ResolvedPipeline;
  readonly partition: TopicPartition;
  readonly committer: PartitionCommitter;
  /** Records per handler call (1 for per-message). */
  readonly recordsPerUnit: number;
  readonly consumer: Pick<Consumer, 'seek' | 'pause' | 'resume'>;
  /** Reads the group's committed offset for this partition (null when none). */
  readonly readCommittedOffset: () => Promise<string | null>;
  readonly stats: WorkerStats;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  readonly heartbeatIntervalMs: number;
  readonly onFenced: (task: PartitionTask) => void;
  readonly metrics: TaskMetrics;
}

type TaskState = 'created' | 'running' | 'fenced' | 'closed';

/**
 * The life of one input partition on this worker, for one group generation
 * (Kafka Streams' StreamTask): fence, find where to start, then for each
 * fetched batch decode → handle → collect outputs → write → commit.
 *
 * Every operation runs under one lock, so the commit timer, the consumer's
 * batches and rebalance handling never interleave on a partition.
 */
export class PartitionTask {
  private state: TaskState = 'created';
  /** Where the first batch of this generation must start: the committed offset read after fencing. */
  private expectedStart: string | null = null;
  private startChecked = false;
  /** The offset the next uncommitted record starts at; where a failure rewinds to. */
  private committedNext: string | null = null;
  private pendingIn = 0;
  private pendingOut = 0;
  /** Routing outcomes and input timestamps of the uncommitted work: counted once it commits. */
  private pendingRouted = { retried: 0, deadLettered: 0, skipped: 0 };
  private pendingTimestamps: number[] = [];
  private consecutiveFailures = 0;
  /**
   * Set by a failure: before the next batch the committer is re-opened and the committed
   * offset read again. A failed commit may still have committed (its answer was lost), and
   * a failed produce leaves KafkaJS's sequence numbers and transaction state unreliable; a
   * fresh producer fences whatever the old one left, and the broker's offset is the truth.
   */
  private recoverBeforeNext = false;
  private lock: Promise<unknown> = Promise.resolve();
  private commitTimer: NodeJS.Timeout | undefined;
  private resumeTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  /** The pipeline input this partition belongs to, and its retry tier (0: the input itself). */
  private readonly inputTopic: string;
  private readonly tier: number;

  constructor(private readonly deps: PartitionTaskDeps) {
    const source = deps.pipeline.sourceOf(deps.partition.topic);
    this.inputTopic = source?.input ?? deps.partition.topic;
    this.tier = source?.tier ?? 0;
    this.log = deps.logger.child({
      topic: deps.partition.topic,
      partition: deps.partition.partition,
      transactionalId: deps.committer.transactionalId,
    });
  }

  get topicPartition(): TopicPartition {
    return this.deps.partition;
  }

  get isFenced(): boolean {
    return this.state === 'fenced';
  }

  /** Fence first, then read the committed offset: the order that closes the fetch race. */
  async open(): Promise<void> {
    await this.fenceAndFindStart();
    this.state = 'running';
    this.log.debug({ committedOffset: this.expectedStart }, 'partition task opened');
  }

  private async fenceAndFindStart(): Promise<void> {
    await this.deps.committer.open();
    this.expectedStart = await this.deps.readCommittedOffset();
    this.committedNext = this.expectedStart;
    this.startChecked = false;
  }

  /** After a failure: a fresh producer (fencing the failed one's leftovers), then the committed offset. */
  private async recover(): Promise<void> {
    try {
      await this.deps.committer.close();
    } catch (error) {
      this.log.debug({ err: error }, 'closing the failed producer failed; a fresh one fences it');
    }
    await this.fenceAndFindStart();
    this.recoverBeforeNext = false;
    this.log.info({ committedOffset: this.expectedStart }, 'producer re-opened after a failure; resuming from the committed offset');
  }

  handleBatch(payload: EachBatchPayload): Promise<void> {
    return this.exclusive(() => this.process(payload));
  }

  /** Commits whatever is pending (rebalance, drain, commit timer). */
  flush(): Promise<void> {
    return this.exclusive(async () => {
      await this.commitPending();
    });
  }

  close(mode: 'commit' | 'abort'): Promise<void> {
    return this.exclusive(async () => {
      this.clearTimers();
      if (mode === 'commit') await this.commitPending();
      const wasRunning = this.state === 'running';
      this.state = 'closed';
      try {
        if (wasRunning && mode === 'abort' && this.deps.committer.pendingForMs() !== undefined) this.deps.stats.transactionsAborted++;
        await this.deps.committer.close();
      } catch (error) {
        this.log.warn({ err: error }, 'closing the partition producer failed');
      }
    });
  }

  private async process(payload: EachBatchPayload): Promise<void> {
    if (this.state !== 'running') return;
    const { batch } = payload;
    if (this.recoverBeforeNext) {
      try {
        await this.recover();
      } catch (error) {
        return this.onFailure(error, fetchedOffsetOf(batch));
      }
    }
    if (!this.startChecked) {
      this.startChecked = true;
      // KafkaJS read the committed offset on its own, possibly before we fenced the
      // previous owner: a batch that does not start where the fenced state says is stale.
      if (this.expectedStart !== null && fetchedOffsetOf(batch) !== this.expectedStart) {
        this.deps.stats.staleBatchesDropped++;
        this.log.info(
          { fetchedOffset: fetchedOffsetOf(batch), committedOffset: this.expectedStart },
          'first batch is stale; seeking to the committed offset',
        );
        this.seek(this.expectedStart);
        return;
      }
      this.committedNext ??= fetchedOffsetOf(batch);
    }
    try {
      await this.processUnits(payload);
      this.scheduleCommit();
    } catch (error) {
      await this.onFailure(error, fetchedOffsetOf(batch));
    }
  }

  private async processUnits(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    const { committer, pipeline } = this.deps;
    const size = this.deps.recordsPerUnit;
    const { due, waitFor } = this.dueMessages(batch.messages);
    for (let start = 0; start < due.length; start += size) {
      if (!payload.isRunning() || payload.isStale() || this.state !== 'running') return;
      const records = due.slice(start, start + size);
      const last = records[records.length - 1] as KafkaMessage;
      const endsBatch = waitFor === undefined && start + size >= due.length;
      const nextOffset = nextOffsetAfter(batch, last, endsBatch);
      const unitStarted = performance.now();
      await committer.acknowledgeOnReceipt(nextOffset);
      const collector = await this.handle(records, payload.heartbeat);
      const unit: CommitUnit = { outputs: collector.topicMessages(), nextOffset, records: records.length };
      const writeStarted = performance.now();
      await committer.write(unit);
      payload.resolveOffset(last.offset);
      this.deps.metrics.unitProcessed(records.length, (performance.now() - unitStarted) / 1000);
      this.pendingIn += records.length;
      this.pendingOut += collector.count;
      for (const record of records) this.pendingTimestamps.push(Number(record.timestamp));
      this.consecutiveFailures = 0;
      const pendingFor = committer.pendingForMs();
      // The non-transactional strategies committed the offset inside write().
      if (pendingFor === undefined) this.markCommitted(nextOffset, false, (performance.now() - writeStarted) / 1000);
      // A failed commit has rolled the partition back: nothing after it in this batch may be written.
      else if (pendingFor >= pipeline.commit.commitIntervalMs && !(await this.commitPending())) return;
    }
    if (waitFor) {
      // The retry consumer never sleeps in the handler: the partition pauses until its head is due.
      this.seek(waitFor.offset);
      this.pauseFor(waitFor.dueAt - Date.now());
    }
  }

  /** On a retry topic, the records that are due now, and the first one that is not. */
  private dueMessages(messages: KafkaMessage[]): { due: KafkaMessage[]; waitFor?: { offset: string; dueAt: number } } {
    if (this.tier === 0) return { due: messages };
    const now = Date.now();
    const index = messages.findIndex((message) => dueAtOf(message) > now);
    if (index < 0) return { due: messages };
    const head = messages[index] as KafkaMessage;
    return { due: messages.slice(0, index), waitFor: { offset: head.offset, dueAt: dueAtOf(head) } };
  }

  /**
   * Runs the handler on one unit. A record that fails is routed alone by the error
   * policy (retry topic, dead-letter topic, skip); `block` fails the whole unit.
   */
  private async handle(messages: KafkaMessage[], heartbeat: () => Promise<void>): Promise<OutputCollector> {
    const { pipeline } = this.deps;
    const { topic, partition } = this.deps.partition;
    const collector = new OutputCollector(pipeline);
    // Registry serdes fetch the schemas of the unit's ids first, so decode stays synchronous
    // and a registry outage fails the unit (retried) rather than one record (routed).
    if (isPreparableSerde(pipeline.inputSerde)) await pipeline.inputSerde.prepare(messages.map((message) => message.value ?? null));
    const inputs: Input[] = [];
    for (const message of messages) {
      try {
        inputs.push({ record: decodeRecord(pipeline, topic, partition, message), message });
      } catch (error) {
        this.route(collector, message, error);
      }
    }
    if (inputs.length === 0) return collector;

    const context: HandlerContext = { pipeline: pipeline.name, signal: this.deps.signal, heartbeat };
    // Long handlers must not cost the group membership: keep heartbeating while they run.
    const beat = setInterval(() => void heartbeat().catch(() => {}), this.deps.heartbeatIntervalMs);
    try {
      const handler = pipeline.handler;
      if (handler.kind === 'record') {
        for (const { record, message } of inputs) {
          try {
            collector.addOutputs(record, normaliseResult(await handler.handle(record, context)));
          } catch (error) {
            this.route(collector, message, error);
          }
        }
      } else {
        await this.handleIsolating(handler.handleBatch, inputs, collector, context);
      }
    } finally {
      clearInterval(beat);
    }
    return collector;
  }

  /**
   * Calls a batch handler; when it throws, splits the batch in halves until the
   * failing records stand alone, so their neighbours' outputs are still kept.
   * A record is handled again at most log2(batch size) times.
   */
  private async handleIsolating(
    handleBatch: BatchHandlerFn<unknown, unknown>,
    inputs: Input[],
    collector: OutputCollector,
    context: HandlerContext,
  ): Promise<void> {
    let results: readonly HandlerResult[];
    try {
      results = await handleBatch(
        inputs.map((input) => input.record),
        context,
      );
      if (!Array.isArray(results) || results.length !== inputs.length) {
        throw new HandlerContractError(
          `batch handler of pipeline '${this.deps.pipeline.name}' returned ${Array.isArray(results) ? results.length : typeof results} results for ${inputs.length} records; it must return one per record`,
        );
      }
    } catch (error) {
      const [only] = inputs;
      if (inputs.length === 1 && only) return this.route(collector, only.message, error);
      const middle = Math.ceil(inputs.length / 2);
      await this.handleIsolating(handleBatch, inputs.slice(0, middle), collector, context);
      await this.handleIsolating(handleBatch, inputs.slice(middle), collector, context);
      return;
    }
    inputs.forEach((input, index) => {
      try {
        collector.addOutputs(input.record, normaliseResult(results[index]));
      } catch (error) {
        this.route(collector, input.message, error);
      }
    });
  }

  /** Applies the error policy to one failed record. */
  private route(collector: OutputCollector, message: KafkaMessage, error: unknown): void {
    const { topic, partition } = this.deps.partition;
    const { pipeline } = this.deps;
    const origin = originOf(topic, partition, message, this.tier > 0);
    const outcome = decide(pipeline.errorPolicy, error, this.inputTopic, origin.attempt);
    const now = Date.now();
    const fields = { offset: message.offset, attempt: origin.attempt, origin: encodeLineage(origin), err: error };
    switch (outcome.kind) {
      case 'retry':
        collector.addFailureCopy(outcome.topic, failureCopy(message, origin, { error, now, dueAt: now + outcome.delayMs }));
        this.pendingRouted.retried++;
        this.log.info({ ...fields, retryTopic: outcome.topic, retryInMs: outcome.delayMs }, 'record failed; sent to its retry topic');
        return;
      case 'dead-letter': {
        const deadLetterTopic = pipeline.deadLetterTopicFor(this.inputTopic);
        collector.addFailureCopy(deadLetterTopic, failureCopy(message, origin, { error, now, reason: outcome.reason }));
        this.pendingRouted.deadLettered++;
        this.log.warn({ ...fields, deadLetterTopic, reason: outcome.reason }, 'record sent to the dead-letter topic');
        return;
      }
      case 'skip':
        this.pendingRouted.skipped++;
        this.log.warn({ ...fields, reason: outcome.reason }, 'record skipped by the error policy (its data is dropped)');
        return;
      case 'block':
        throw new BlockedRecord(message.offset, error);
    }
  }

  /** Commits pending work; false when the commit failed and the partition was rolled back. */
  private async commitPending(): Promise<boolean> {
    if (this.state !== 'running') return false;
    this.clearCommitTimer();
    try {
      const result = await this.deps.committer.commit();
      if (result) {
        this.deps.stats.transactionsCommitted++;
        this.markCommitted(result.nextOffset, true, result.durationMs / 1000);
      }
      return true;
    } catch (error) {
      await this.onFailure(error, this.committedNext);
      return false;
    }
  }

  private markCommitted(nextOffset: string, transactional: boolean, commitSeconds: number): void {
    const { stats, metrics } = this.deps;
    this.committedNext = nextOffset;
    stats.recordsIn += this.pendingIn;
    stats.recordsOut += this.pendingOut;
    stats.retried += this.pendingRouted.retried;
    stats.deadLettered += this.pendingRouted.deadLettered;
    stats.skipped += this.pendingRouted.skipped;
    if (!transactional) stats.offsetCommits++;
    metrics.committed(commitSeconds, this.pendingTimestamps);
    this.dropPending();
  }

  /** Forgets uncommitted work: committed, or rolled back. */
  private dropPending(): void {
    this.pendingIn = 0;
    this.pendingOut = 0;
    this.pendingRouted = { retried: 0, deadLettered: 0, skipped: 0 };
    this.pendingTimestamps = [];
  }

  /**
   * A failure rolls the partition back to its last commit and retries after a
   * backoff, with the partition paused so other partitions keep flowing.
   * A fenced producer means another member owns the partition now: stop.
   */
  private async onFailure(error: unknown, fallbackOffset: string | null): Promise<void> {
    if (error instanceof ProducerFencedError) return this.onFenced(error);
    const hadPending = this.deps.committer.pendingForMs() !== undefined;
    try {
      await this.deps.committer.abort();
    } catch (abortError) {
      if (abortError instanceof ProducerFencedError) return this.onFenced(abortError);
      this.log.warn({ err: abortError }, 'aborting the transaction failed');
    }
    if (hadPending) this.deps.stats.transactionsAborted++;
    this.recoverBeforeNext = true;
    this.dropPending();
    this.deps.stats.handlerFailures++;
    this.consecutiveFailures++;
    const rewindTo = this.committedNext ?? fallbackOffset;
    // A blocked record waits as its policy says; anything else (a broker or producer
    // failure) with the worker's own backoff.
    const backoff = error instanceof BlockedRecord ? this.deps.pipeline.errorPolicy.backoff : DEFAULTS.retryBackoff;
    const delayMs = backoffDelay(backoff, this.consecutiveFailures);
    const blocked = error instanceof BlockedRecord ? error : undefined;
    this.log.error(
      { err: blocked ? blocked.cause : error, offset: rewindTo, failedOffset: blocked?.offset, attempt: this.consecutiveFailures, retryInMs: delayMs },
      blocked ? 'record failed; blocking the partition and retrying in place' : 'processing failed; rolled back to the last commit and will retry',
    );
    if (rewindTo !== null) this.seek(rewindTo);
    this.pauseFor(delayMs);
  }

  private async onFenced(error: ProducerFencedError): Promise<void> {
    this.state = 'fenced';
    this.clearTimers();
    this.deps.stats.fenced++;
    this.dropPending();
    this.log.warn({ err: error }, 'producer fenced: another member owns this partition now; giving it up');
    this.deps.consumer.pause([{ topic: this.deps.partition.topic, partitions: [this.deps.partition.partition] }]);
    try {
      await this.deps.committer.close();
    } catch {
      // A fenced producer may fail to disconnect cleanly; nothing to keep from it.
    }
    this.deps.onFenced(this);
  }

  private scheduleCommit(): void {
    const pendingFor = this.deps.committer.pendingForMs();
    if (pendingFor === undefined || this.commitTimer || this.state !== 'running') return;
    const delay = Math.max(0, this.deps.pipeline.commit.commitIntervalMs - pendingFor);
    this.commitTimer = setTimeout(() => {
      this.commitTimer = undefined;
      void this.flush();
    }, delay);
  }

  private pauseFor(delayMs: number): void {
    const topics = [{ topic: this.deps.partition.topic, partitions: [this.deps.partition.partition] }];
    this.deps.consumer.pause(topics);
    clearTimeout(this.resumeTimer);
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = undefined;
      if (this.state === 'running' && !this.deps.signal.aborted) this.deps.consumer.resume(topics);
    }, delayMs);
  }

  private seek(offset: string): void {
    this.deps.consumer.seek({ topic: this.deps.partition.topic, partition: this.deps.partition.partition, offset });
  }

  private clearCommitTimer(): void {
    clearTimeout(this.commitTimer);
    this.commitTimer = undefined;
  }

  private clearTimers(): void {
    this.clearCommitTimer();
    clearTimeout(this.resumeTimer);
    this.resumeTimer = undefined;
  }

  private exclusive<T>(operation: () => Promise<T>): Promise<T> {
    const run = this.lock.then(operation, operation);
    this.lock = run.catch(() => {});
    return run;
  }
}

interface Input {
  readonly record: InputRecord;
  readonly message: KafkaMessage;
}

/** A record failed under the `block` policy: the unit rolls back and the partition waits. */
class BlockedRecord extends Error {
  override readonly name = 'BlockedRecord';
  constructor(
    readonly offset: string,
    override readonly cause: unknown,
  ) {
    super(`record at offset ${offset} failed under the block policy`);
  }
}

/** The offset to commit after `last`: past trailing control records when it ends the batch. */
function nextOffsetAfter(batch: Batch, last: KafkaMessage, endsBatch: boolean): string {
  const through = endsBatch ? batch.lastOffset() : last.offset;
  return (BigInt(through) + 1n).toString();
}
