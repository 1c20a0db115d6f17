import type { Batch, Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import type { CommitUnit, PartitionCommitter, TopicPartition } from '../commit/index.js';
import { DEFAULTS } from '../config/defaults.js';
import { HandlerContractError, isNonRetryable, ProducerFencedError } from '../errors/index.js';
import { fetchedOffsetOf } from '../kafka/batch.js';
import type { WorkerStats } from '../observability/stats.js';
import type { ResolvedPipeline } from '../pipeline/definition.js';
import { type HandlerContext, type InputRecord, normaliseResult } from '../pipeline/records.js';
import { backoffDelay } from '../routing/backoff.js';
import { deadLetterMessage } from '../routing/dead-letter.js';
import { decodeRecord, failedRecordOf, OutputCollector } from './record-collector.js';

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
  private consecutiveFailures = 0;
  private lock: Promise<unknown> = Promise.resolve();
  private commitTimer: NodeJS.Timeout | undefined;
  private resumeTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;

  constructor(private readonly deps: PartitionTaskDeps) {
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
    await this.deps.committer.open();
    this.expectedStart = await this.deps.readCommittedOffset();
    this.committedNext = this.expectedStart;
    this.state = 'running';
    this.log.debug({ committedOffset: this.expectedStart }, 'partition task opened');
  }

  handleBatch(payload: EachBatchPayload): Promise<void> {
    return this.exclusive(() => this.process(payload));
  }

  /** Commits whatever is pending (rebalance, drain, commit timer). */
  flush(): Promise<void> {
    return this.exclusive(() => this.commitPending());
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
    for (let start = 0; start < batch.messages.length; start += size) {
      if (!payload.isRunning() || payload.isStale() || this.state !== 'running') return;
      const records = batch.messages.slice(start, start + size);
      const last = records[records.length - 1] as KafkaMessage;
      const nextOffset = nextOffsetAfter(batch, last, start + size >= batch.messages.length);
      await committer.acknowledgeOnReceipt(nextOffset);
      const collector = await this.handle(records, payload.heartbeat);
      const unit: CommitUnit = { outputs: collector.topicMessages(), nextOffset, records: records.length };
      await committer.write(unit);
      payload.resolveOffset(last.offset);
      this.pendingIn += records.length;
      this.pendingOut += collector.count;
      this.consecutiveFailures = 0;
      const pendingFor = committer.pendingForMs();
      if (pendingFor === undefined) this.markCommitted(nextOffset, false);
      else if (pendingFor >= pipeline.commit.commitIntervalMs) await this.commitPending();
    }
  }

  /** Runs the handler on one unit; non-retryable record failures become dead-letter copies. */
  private async handle(messages: KafkaMessage[], heartbeat: () => Promise<void>): Promise<OutputCollector> {
    const { pipeline } = this.deps;
    const { topic, partition } = this.deps.partition;
    const collector = new OutputCollector(pipeline);
    const inputs: Array<{ record: InputRecord; message: KafkaMessage }> = [];
    for (const message of messages) {
      try {
        inputs.push({ record: decodeRecord(pipeline, topic, partition, message), message });
      } catch (error) {
        if (!isNonRetryable(error)) throw error;
        this.deadLetter(collector, message, error, 'decode-failed');
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
            if (!isNonRetryable(error)) throw error;
            this.deadLetter(collector, message, error, 'non-retryable');
          }
        }
      } else {
        const records = inputs.map((input) => input.record);
        const results = await handler.handleBatch(records, context);
        if (!Array.isArray(results) || results.length !== records.length) {
          throw new HandlerContractError(
            `batch handler of pipeline '${pipeline.name}' returned ${Array.isArray(results) ? results.length : typeof results} results for ${records.length} records; it must return one per record`,
          );
        }
        records.forEach((record, index) => {
          collector.addOutputs(record, normaliseResult(results[index]));
        });
      }
    } finally {
      clearInterval(beat);
    }
    return collector;
  }

  private deadLetter(collector: OutputCollector, message: KafkaMessage, error: unknown, reason: string): void {
    const { topic, partition } = this.deps.partition;
    const dlt = this.deps.pipeline.deadLetterTopicFor(topic);
    collector.addDeadLetter(dlt, deadLetterMessage(failedRecordOf(topic, partition, message), error, reason));
    this.deps.stats.deadLettered++;
    this.log.warn({ offset: message.offset, err: error, deadLetterTopic: dlt, reason }, 'record sent to the dead-letter topic');
  }

  private async commitPending(): Promise<void> {
    if (this.state !== 'running') return;
    this.clearCommitTimer();
    try {
      const result = await this.deps.committer.commit();
      if (result) {
        this.deps.stats.transactionsCommitted++;
        this.markCommitted(result.nextOffset, true);
      }
    } catch (error) {
      await this.onFailure(error, this.committedNext);
    }
  }

  private markCommitted(nextOffset: string, transactional: boolean): void {
    this.committedNext = nextOffset;
    this.deps.stats.recordsIn += this.pendingIn;
    this.deps.stats.recordsOut += this.pendingOut;
    if (!transactional) this.deps.stats.offsetCommits++;
    this.pendingIn = 0;
    this.pendingOut = 0;
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
    this.pendingIn = 0;
    this.pendingOut = 0;
    this.deps.stats.handlerFailures++;
    this.consecutiveFailures++;
    const rewindTo = this.committedNext ?? fallbackOffset;
    const delayMs = backoffDelay(DEFAULTS.retryBackoff, this.consecutiveFailures);
    this.log.error(
      { err: error, offset: rewindTo, attempt: this.consecutiveFailures, retryInMs: delayMs },
      'processing failed; rolled back to the last commit and will retry',
    );
    if (rewindTo !== null) this.seek(rewindTo);
    this.pauseFor(delayMs);
  }

  private async onFenced(error: ProducerFencedError): Promise<void> {
    this.state = 'fenced';
    this.clearTimers();
    this.deps.stats.fenced++;
    this.pendingIn = 0;
    this.pendingOut = 0;
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

/** The offset to commit after `last`: past trailing control records when it ends the batch. */
function nextOffsetAfter(batch: Batch, last: KafkaMessage, endsBatch: boolean): string {
  const through = endsBatch ? batch.lastOffset() : last.offset;
  return (BigInt(through) + 1n).toString();
}
