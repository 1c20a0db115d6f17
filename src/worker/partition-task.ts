import type { Batch, Consumer, EachBatchPayload } from 'kafkajs';
import type { Logger } from 'pino';
import type { CommitListener, CommitResult, CommitUnit, PartitionCommitter, TopicPartition } from '../commit/index.js';
import { DEFAULTS } from '../config/defaults.js';
import { GenerationFencedError, PartitionOwnerFencedError, ProducerFencedError, TransactionRolledBackError } from '../errors/index.js';
import { fetchedOffsetOf } from '../kafka/batch.js';
import type { CommittedEntry, GroupProgress } from '../kafka/group-progress.js';
import type { TopicCatalog } from '../kafka/topic-catalog.js';
import type { TaskMetrics } from '../observability/metrics.js';
import type { WorkerStats } from '../observability/stats.js';
import type { ResolvedPipeline } from '../pipeline/definition.js';
import { backoffDelay } from '../util/backoff.js';
import { Serial } from '../util/serial.js';
import type { HandlerWatch } from './handler-watch.js';
import type { Slots } from './lanes.js';
import { emptyPendingUnit, type PendingUnit } from './pending-units.js';
import { dueMessages, type Slice, sliceUnits } from './unit-slices.js';
import { BlockedRecord } from './failure-router.js';
import { type ProcessedUnit, UnitProcessor } from './unit-processor.js';
import { RetryHolds } from './retry-holds.js';
import { UnitWrites } from './unit-writes.js';
import { spanOf, WriteRefusals } from './write-refusals.js';

export interface PartitionTaskDeps {
  readonly pipeline: ResolvedPipeline;
  readonly partition: TopicPartition;
  /**
   * False once the member has joined a newer generation: the task's batch in flight stops handing
   * units over and leaves the consumer alone (no seek, pause, resume or resolved offset: the
   * partition may be this member's again, under a new task). Its close still ends what it holds.
   */
  readonly isCurrent: () => boolean;
  /** The strategy's committer for this partition; the task hears of commits and rollbacks as its listener. */
  readonly createCommitter: (listener: CommitListener) => PartitionCommitter;
  /** Records per handler call (1 for per-message). */
  readonly recordsPerUnit: number;
  readonly consumer: Pick<Consumer, 'seek' | 'pause' | 'resume'>;
  readonly stats: WorkerStats;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  readonly heartbeatIntervalMs: number;
  readonly onFenced: (task: PartitionTask) => void;
  readonly metrics: TaskMetrics;
  /** Partition counts and size limits of the topics the pipeline writes, shared by its tasks. */
  readonly catalog: TopicCatalog;
  /** Abandoned handler calls, for liveness. */
  readonly handlerWatch?: HandlerWatch;
  /** The worker-wide cap on handler calls in flight (concurrency inside partitions). */
  readonly workerSlots?: Slots;
  /** How far the group has come on the retry tiers, read under `keyOrderOnRetry: hold`. */
  readonly progress: GroupProgress;
  /** The partition's committed offset with its metadata, read stable (where its holds are restored from). */
  readonly readCommittedEntry: (partition: TopicPartition) => Promise<CommittedEntry>;
}

type TaskState = 'created' | 'running' | 'fenced' | 'closed';

/**
 * The life of one input partition on this worker, for one group generation
 * (Kafka Streams' StreamTask): fence, find where to start, then slice each fetched
 * batch into units, hand each to the UnitProcessor, write its outputs (UnitWrites) and
 * keep the offsets until they commit; a failure rewinds the partition to its last commit.
 *
 * Every operation runs under one lock, so commits, the consumer's batches and
 * rebalance handling never interleave on a partition.
 */
export class PartitionTask implements CommitListener {
  private readonly committer: PartitionCommitter;
  private readonly processor: UnitProcessor;
  private readonly refusals: WriteRefusals;
  /** Keys held behind their retries (`keyOrderOnRetry: hold`), committed with the offsets. */
  private readonly holds: RetryHolds | undefined;
  private state: TaskState = 'created';
  /** Where the first batch of this generation must start: the committed offset read after fencing. */
  private expectedStart: string | null = null;
  private startChecked = false;
  /** The offset the next uncommitted record starts at; where a failure rewinds to. */
  private committedNext: string | null = null;
  private consecutiveFailures = 0;
  /** Rollbacks of this partition's work so far: a batch stops when one happens under it. */
  private rollbacks = 0;
  /** Set while the task handles its own failure: the rollback it causes needs no second rewind. */
  private failing = false;
  /**
   * Set by a failure: before the next batch the committer is re-opened and the committed
   * offset read again. A failed commit may still have committed (its answer was lost), and
   * a failed produce leaves KafkaJS's sequence numbers and transaction state unreliable; a
   * fresh producer fences whatever the old one left, and the broker's offset is the truth.
   */
  private recoverBeforeNext = false;
  private readonly serial = new Serial();
  private resumeTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  /** The retry tier this partition reads (0: the pipeline's input itself). */
  private readonly tier: number;
  /** The partition's unit writes (some may be in flight while the next unit is handled), pending until committed. */
  private readonly writes: UnitWrites;
  /** Ends what handling waits for on its own (a blocked key's retry in place) when a flush or close needs the partition. */
  private interrupt = new AbortController();
  private supersededSaid = false;

  constructor(private readonly deps: PartitionTaskDeps) {
    this.committer = deps.createCommitter(this);
    const source = deps.pipeline.sourceOf(deps.partition.topic);
    const input = source?.input ?? deps.partition.topic;
    this.tier = source?.tier ?? 0;
    this.log = deps.logger.child({ topic: deps.partition.topic, partition: deps.partition.partition, transactionalId: this.committer.transactionalId });
    this.refusals = new WriteRefusals(input, this.log);
    this.writes = new UnitWrites({
      committer: this.committer,
      catalog: deps.catalog,
      refusals: this.refusals,
      serial: this.serial,
      onWritten: () => (this.consecutiveFailures = 0),
      onFailed: (error) => (this.state === 'running' ? this.onFailure(error, this.committedNext) : Promise.resolve()),
    });
    if (RetryHolds.appliesTo(deps.pipeline, this.tier)) {
      this.holds = new RetryHolds({ ...deps, input, tier: this.tier, logger: this.log, checkIntervalMs: DEFAULTS.holdCheckIntervalMs });
    }
    this.processor = new UnitProcessor({ ...deps, input, tier: this.tier, committer: this.committer, refusals: this.refusals, logger: this.log, holds: this.holds });
  }

  get topicPartition(): TopicPartition {
    return this.deps.partition;
  }

  get isFenced(): boolean {
    return this.state === 'fenced';
  }

  /**
   * The committer first (a restarted worker's InitProducerId ends its predecessor's
   * transaction; the sink bumps its owner epoch), then where the partition starts, read
   * stable: never from an offset a pending transaction is about to move.
   */
  async open(): Promise<void> {
    await this.fenceAndFindStart();
    this.state = 'running';
    this.holds?.start(() => void this.serial.run(() => this.commitHolds()));
    this.log.debug({ committedOffset: this.expectedStart }, 'partition task opened');
  }

  private async fenceAndFindStart(): Promise<void> {
    await this.committer.open();
    // Asked together, the two stable reads of one partition share one request (the holds' pipelines commit in Kafka).
    const [start, committed] = await Promise.all([this.committer.startOffset(), this.holds ? this.deps.readCommittedEntry(this.deps.partition) : undefined]);
    this.expectedStart = start;
    this.committedNext = start;
    this.startChecked = false;
    if (this.holds) this.holds.restore(start, committed?.metadata ?? null);
  }

  /**
   * Held keys were released: their end is committed now (with the last offset handed over, and
   * no new work), or an earlier tier waiting on this partition would not see it until the next
   * record arrives here.
   */
  private async commitHolds(): Promise<void> {
    const nextOffset = this.writes.pending.lastOffset() ?? this.committedNext;
    if (this.state !== 'running' || this.recoverBeforeNext || nextOffset === null || !(await this.writes.settle())) return;
    await this.writes.hand(this.withHolds({ outputs: [], nextOffset, records: 0 }), emptyPendingUnit(nextOffset), undefined, true, () => {});
  }

  /** A unit with the holds it commits, when the partition keeps any: every commit of the partition must say them. */
  private withHolds(unit: CommitUnit): CommitUnit {
    return this.holds ? { ...unit, metadata: this.holds.metadataBefore(unit.nextOffset) } : unit;
  }

  /** After a failure: the committer re-opened (a fresh producer fences the failed one's leftovers), then the committed offset. */
  private async recover(): Promise<void> {
    try {
      await this.committer.close();
    } catch (error) {
      this.log.debug({ err: error }, 'closing the failed producer failed; a fresh one fences it');
    }
    await this.fenceAndFindStart();
    this.recoverBeforeNext = false;
    this.log.info({ committedOffset: this.expectedStart }, 'resuming from the committed offset after a rollback');
  }

  handleBatch(payload: EachBatchPayload): Promise<void> {
    // KafkaJS heartbeats between batches only. The member keeps heartbeating for as long as this
    // batch takes: long handlers, but also writes and commits, which wait on the producer all
    // partitions share (a commit cycle retrying against a moving coordinator stalls every one).
    const beat = setInterval(() => void payload.heartbeat().catch(() => {}), this.deps.heartbeatIntervalMs);
    return this.serial.run(() => this.process(payload)).finally(() => clearInterval(beat));
  }

  /** Commits whatever is pending (rebalance, drain, the committer's interval). */
  flush(): Promise<void> {
    this.interruptHandling();
    return this.serial.run(async () => {
      if (await this.writes.settle()) await this.commitPending();
    });
  }

  close(mode: 'commit' | 'abort'): Promise<void> {
    this.interruptHandling();
    this.holds?.stop();
    return this.serial.run(async () => {
      this.clearResumeTimer();
      if (mode === 'commit') {
        if (await this.writes.settle()) await this.commitPending();
      } else await this.writes.land();
      this.state = 'closed';
      try {
        if (mode === 'abort') await this.committer.abort(new Error('the worker is stopping past its drain deadline'));
        await this.committer.close();
      } catch (error) {
        this.log.warn({ err: error }, 'closing the partition producer failed');
      }
    });
  }

  private interruptHandling(): void {
    this.interrupt.abort();
    this.interrupt = new AbortController();
  }

  private async process(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    if (this.state !== 'running' || this.supersededAt(fetchedOffsetOf(batch))) return;
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
        this.log.info({ fetchedOffset: fetchedOffsetOf(batch), committedOffset: this.expectedStart }, 'first batch is stale; seeking to the committed offset');
        this.seek(this.expectedStart);
        return;
      }
      this.committedNext ??= fetchedOffsetOf(batch);
    }
    try {
      await this.processUnits(payload);
    } catch (error) {
      await this.onFailure(error, fetchedOffsetOf(batch));
    }
  }

  private async processUnits(payload: EachBatchPayload): Promise<void> {
    const { batch } = payload;
    // A seek is pending (a rollback, a retry tier's wait): this batch was fetched before it and must not move the offset.
    if (batch.messages.length === 0) return payload.isStale() ? undefined : this.commitPastFiltered(batch);
    const now = Date.now();
    // A retry copy whose headers cannot be trusted is due at once: it is dead-lettered, never pauses the tier.
    const { due, waitFor } = this.tier === 0 ? { due: batch.messages } : dueMessages(batch.messages, now, (message) => this.processor.retryHeadersProblem(message, now) === undefined);
    this.refusals.forgetBefore(this.committedNext);
    const slices = sliceUnits(batch, due, waitFor === undefined, (start) => this.refusals.unitEnd(due, start, this.deps.recordsPerUnit));
    // Under concurrency every unit of the batch is handled at once (their calls share the
    // partition's slots, each key in offset order across units), and still written one by one,
    // in offset order. A unit whose turn does not come is abandoned: its waits are interrupted.
    const overlapping = this.processor.overlapsUnits;
    const handling: Array<Promise<ProcessedUnit> | undefined> = overlapping ? slices.map((slice) => this.handle(slice, payload)) : [];
    try {
      for (const [index, slice] of slices.entries()) {
        if (!payload.isRunning() || payload.isStale() || this.state !== 'running' || this.supersededAt(slice.records[0]?.offset)) return;
        const { records, last, nextOffset } = slice;
        const processed = await (handling[index] ?? this.handle(slice, payload));
        // Its outputs now belong to the write: the batch's later units must not keep them alive
        // (under concurrency every unit of a fetched batch is handled at once).
        handling[index] = undefined;
        const alone = this.refusals.isolating;
        const unit = this.withHolds({
          outputs: processed.outputs,
          nextOffset,
          records: records.length,
          maxRequestBytes: this.deps.catalog.requestLimit(processed.outputs.map((entry) => entry.topic)),
          alone,
        });
        const pending: PendingUnit = {
          nextOffset: BigInt(nextOffset),
          records: records.length,
          outputs: processed.outputCount,
          routed: processed.routed,
          timestamps: records.map((record) => Number(record.timestamp)),
        };
        // The units before this one must be in the transaction, or on their way in behind each
        // other (as many as the committer allows), before this one joins them.
        if (!(await this.writes.room()) || payload.isStale() || this.state !== 'running' || this.supersededAt(records[0]?.offset)) return;
        // What the write keeps of the unit's records is their offsets (spanOf): the records, views
        // into their fetch response, must not live on in the closure until the write ends.
        const { offset: lastOffset } = last;
        const { length: count } = records;
        const { started } = slice;
        const written = await this.writes.hand(unit, pending, spanOf(records), alone, () => {
          this.refusals.written(lastOffset);
          this.deps.metrics.unitProcessed(count, (performance.now() - started) / 1000);
        });
        if (!written || !this.deps.isCurrent()) return;
        // KafkaJS fetches from the last resolved offset: move it once the unit is handed over (a
        // write ahead, once only: moving it again when that write completes, after a later unit
        // moved it further, would fetch that unit again), or the next fetch repeats it. A failed
        // write rewinds the partition with a seek, which overrides it.
        payload.resolveOffset(lastOffset);
      }
    } finally {
      // Only units handled at once can be left behind. (Not `handling.length`: the loop's
      // `handling[index] = undefined` grows the empty array, and an abort per batch, each making
      // a DOMException, took 1 % of a worker's CPU.)
      if (overlapping) this.interruptHandling();
    }
    if (!this.deps.isCurrent()) return;
    if (waitFor) {
      // The retry consumer never sleeps in the handler: the partition pauses until its head is due.
      this.seek(waitFor.offset);
      this.pauseFor(waitFor.dueAt - Date.now());
    } else {
      // Every record of the batch was handed over: the next fetch starts past its end, markers and
      // aborted records filtered out after the last record included (as the Java consumer's
      // position moves), so the batch fetched ahead from there is the one handed over next.
      payload.resolveOffset(batch.lastOffset());
    }
  }

  /** Acknowledges a unit on receipt (at-most-once), then handles it. */
  private handle(slice: Slice, payload: EachBatchPayload): Promise<ProcessedUnit> {
    slice.started = performance.now();
    const handled = this.committer.acknowledgeOnReceipt(slice.nextOffset).then(() => this.processor.process(slice.records, payload.heartbeat, this.interrupt.signal));
    // Awaited in unit order: a later unit's failure is seen when its turn comes, or not at all.
    handled.catch(() => {});
    return handled;
  }

  /**
   * A batch whose every record was filtered out: an aborted transaction's records, a commit
   * marker alone. Nothing to handle, but the committed offset must move past them, or the
   * partition shows lag forever for records no consumer will ever be given (the Java consumer's
   * position moves past them too). KafkaJS passes such batches only with eachBatchFiltered.
   */
  private async commitPastFiltered(batch: Batch): Promise<void> {
    // No records at all (the partition's end): nothing to move past.
    if (batch.firstOffset() === null) return;
    const nextOffset = (BigInt(batch.lastOffset()) + 1n).toString();
    if (this.committedNext !== null && BigInt(nextOffset) <= BigInt(this.committedNext)) return;
    const unit = this.withHolds({ outputs: [], nextOffset, records: 0 });
    if (!(await this.writes.settle())) return;
    await this.committer.acknowledgeOnReceipt(nextOffset);
    await this.writes.hand(unit, emptyPendingUnit(nextOffset), undefined, true, () => {});
  }

  /** Commits pending work; false when the commit failed and the partition was rolled back. */
  private async commitPending(): Promise<boolean> {
    if (this.state !== 'running') return false;
    const rollbacks = this.rollbacks;
    try {
      // The committer answers through committed() / rolledBack(), before this returns.
      await this.committer.commit();
      return this.rollbacks === rollbacks;
    } catch (error) {
      await this.onFailure(error, this.committedNext);
      return false;
    }
  }

  /** CommitListener: a commit made this partition's work durable up to `result.nextOffset`; counts the pending units it reached. */
  committed(result: CommitResult): void {
    if (this.state !== 'running') return;
    this.committedNext = result.nextOffset;
    this.holds?.committed(result.nextOffset);
    const timestamps = this.writes.pending.commitThrough(result.nextOffset, this.deps.stats);
    // The commit's duration is observed once, by the strategy, not once per partition.
    this.deps.metrics.committed(undefined, timestamps);
  }

  /** CommitListener: the committer's interval ran out with work pending. */
  commitDue(): void {
    void this.flush();
  }

  /**
   * CommitListener: the shared transaction holding this partition's pending work aborted, for
   * another partition's failure or at its commit. The work is gone: rewind to the last commit.
   */
  rolledBack(error: unknown): void {
    if (this.state !== 'running' || this.failing) return;
    this.rewind(error, { delayMs: backoffDelay(DEFAULTS.retryBackoff, 1), own: false });
  }

  /**
   * A failure rolls the partition back to its last commit and retries after a
   * backoff, with the partition paused so other partitions keep flowing. Under the
   * shared transaction the abort rolls back every partition in it (they hear it as
   * listeners). A committer that owns its partition alone and was fenced gives it up.
   */
  private async onFailure(error: unknown, fallbackOffset: string | null): Promise<void> {
    // The rollback that refused this write already rewound the partition.
    if (error instanceof TransactionRolledBackError) return;
    // A unit still on its way into the transaction must be in it (and be aborted with it) or
    // be refused: written after the abort, it would commit in the next transaction without
    // the work this failure throws away before it.
    await this.writes.land();
    if (error instanceof PartitionOwnerFencedError) return this.giveUp(error);
    this.failing = true;
    try {
      await this.committer.abort(error);
    } catch (abortError) {
      if (abortError instanceof PartitionOwnerFencedError) return this.giveUp(abortError);
      this.log.warn({ err: abortError }, 'aborting the transaction failed');
    } finally {
      this.failing = false;
    }
    this.consecutiveFailures++;
    // A blocked record waits as its policy says; anything else (a broker or producer
    // failure) with the worker's own backoff.
    const backoff = error instanceof BlockedRecord ? this.deps.pipeline.errorPolicy.backoff : DEFAULTS.retryBackoff;
    this.rewind(error, { delayMs: backoffDelay(backoff, this.consecutiveFailures), own: true, fallbackOffset });
  }

  /**
   * Forgets the uncommitted work and goes back to the last commit: seek there, pause for
   * `delayMs`, and before the next batch re-open the committer and re-read the committed
   * offset (a commit whose answer was lost may have happened). `own`: this partition failed,
   * rather than hearing of another's failure in the shared transaction.
   */
  private rewind(error: unknown, how: { delayMs: number; own: boolean; fallbackOffset?: string | null }): void {
    const { stats } = this.deps;
    this.rollbacks++;
    this.recoverBeforeNext = true;
    this.writes.pending.drop();
    const fenced = error instanceof GenerationFencedError || error instanceof ProducerFencedError;
    if (fenced) stats.fenced++;
    else if (how.own) stats.handlerFailures++;
    const rewindTo = this.committedNext ?? how.fallbackOffset ?? null;
    const blocked = error instanceof BlockedRecord ? error : undefined;
    const fields = { err: blocked ? blocked.cause : error, offset: rewindTo, retryInMs: how.delayMs, ...(how.own ? { failedOffset: blocked?.offset, attempt: this.consecutiveFailures } : {}) };
    if (!how.own) this.log[fenced ? 'warn' : 'info'](fields, fenced ? 'transaction fenced; this partition rewinds to its last commit' : 'the shared transaction aborted; this partition rewinds to its last commit');
    else if (blocked) this.log.error(fields, 'record failed; blocking the partition and retrying in place');
    else if (fenced) this.log.warn(fields, 'transaction fenced; rolled back to the last commit');
    else this.log.error(fields, 'processing failed; rolled back to the last commit and will retry');
    if (rewindTo !== null) this.seek(rewindTo);
    this.pauseFor(how.delayMs);
  }

  private async giveUp(error: PartitionOwnerFencedError): Promise<void> {
    this.state = 'fenced';
    this.holds?.stop();
    this.clearResumeTimer();
    this.deps.stats.fenced++;
    this.writes.pending.drop();
    this.log.warn({ err: error }, `${error.message}; giving the partition up`);
    if (this.deps.isCurrent()) this.deps.consumer.pause([{ topic: this.deps.partition.topic, partitions: [this.deps.partition.partition] }]);
    try {
      await this.committer.close();
    } catch {
      // A fenced committer may fail to close cleanly; nothing to keep from it.
    }
    this.deps.onFenced(this);
  }

  /**
   * The member has joined a newer generation while this batch was handled (said once): what is
   * left of it, from `offset`, is the partition's next owner's, which may be this member again.
   */
  private supersededAt(offset: string | undefined): boolean {
    if (this.deps.isCurrent()) return false;
    if (!this.supersededSaid) {
      this.supersededSaid = true;
      this.log.info({ offset }, "the member joined a newer generation during this batch: it stops here, and the partition's next owner starts from its last commit");
    }
    return true;
  }

  private pauseFor(delayMs: number): void {
    if (!this.deps.isCurrent()) return;
    const topics = [{ topic: this.deps.partition.topic, partitions: [this.deps.partition.partition] }];
    this.deps.consumer.pause(topics);
    clearTimeout(this.resumeTimer);
    this.resumeTimer = setTimeout(() => {
      this.resumeTimer = undefined;
      if (this.state === 'running' && this.deps.isCurrent() && !this.deps.signal.aborted) this.deps.consumer.resume(topics);
    }, delayMs);
  }

  private seek(offset: string): void {
    if (!this.deps.isCurrent()) return;
    this.deps.consumer.seek({ topic: this.deps.partition.topic, partition: this.deps.partition.partition, offset });
  }

  private clearResumeTimer(): void {
    clearTimeout(this.resumeTimer);
    this.resumeTimer = undefined;
  }
}
