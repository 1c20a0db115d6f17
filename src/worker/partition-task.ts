import type { Batch, Consumer, EachBatchPayload, KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import type { CommitListener, CommitResult, CommitUnit, PartitionCommitter, TopicPartition } from '../commit/index.js';
import { DEFAULTS } from '../config/defaults.js';
import {
  errorMessage,
  GenerationFencedError,
  HandlerContractError,
  HandlerTimeoutError,
  InvalidFailureHeadersError,
  OutputRejectedError,
  ProducerFencedError,
  TransactionRolledBackError,
  UnitRollbackError,
} from '../errors/index.js';
import { retryHeadersProblem } from '../routing/failure-headers.js';
import { LazyHandlerSignal, withHandlerTimeout } from './handler-timeout.js';
import type { HandlerWatch } from './handler-watch.js';
import { isRecordRefusal } from '../kafka/errors.js';
import type { TopicCatalog } from '../kafka/topic-catalog.js';
import { MAX_REQUEST_BYTES } from '../commit/request-size.js';
import { fetchedOffsetOf } from '../kafka/batch.js';
import type { TaskMetrics } from '../observability/metrics.js';
import type { WorkerStats } from '../observability/stats.js';
import type { ResolvedPipeline } from '../pipeline/definition.js';
import { type BatchHandlerFn, type HandlerContext, type HandlerResult, type InputRecord, normaliseResult } from '../pipeline/records.js';
import { backoffDelay } from '../routing/backoff.js';
import { decide } from '../routing/decide.js';
import { isPreparableSerde } from '../serde/registry.js';
import { dueAtOf, failureCopy, originOf } from '../routing/failure-copy.js';
import { encodeLineage } from '../pipeline/lineage.js';
import { checkOutput, fitCopy, RECORD_BATCH_OVERHEAD, recordBatchSize } from './output-check.js';
import { decodeRecord, OutputCollector } from './record-collector.js';
import { Serial } from '../util/serial.js';

export interface PartitionTaskDeps {
  readonly pipeline: ResolvedPipeline;
  readonly partition: TopicPartition;
  /** The strategy's committer for this partition; the task hears of shared commits and rollbacks as its listener. */
  readonly createCommitter: (listener: CommitListener) => PartitionCommitter;
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
  /** Partition counts and size limits of the topics the pipeline writes, shared by its tasks. */
  readonly catalog: TopicCatalog;
  /** Abandoned handler calls, for liveness. */
  readonly handlerWatch?: HandlerWatch;
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
export class PartitionTask implements CommitListener {
  private readonly committer: PartitionCommitter;
  private state: TaskState = 'created';
  /** Where the first batch of this generation must start: the committed offset read after fencing. */
  private expectedStart: string | null = null;
  private startChecked = false;
  /** The offset the next uncommitted record starts at; where a failure rewinds to. */
  private committedNext: string | null = null;
  /**
   * Units written but not committed, in offset order: counted once a commit reaches their
   * next offset. A shared commit cycle may commit any time between two of our steps, so
   * what it covers is decided by offset, never by timing.
   */
  private pendingUnits: PendingUnit[] = [];
  /** Routing outcomes of the unit being handled, until it joins pendingUnits. */
  private routed = noneRouted();
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
  private commitTimer: NodeJS.Timeout | undefined;
  private resumeTimer: NodeJS.Timeout | undefined;
  private readonly log: Logger;
  /** The pipeline input this partition belongs to, and its retry tier (0: the input itself). */
  private readonly inputTopic: string;
  private readonly tier: number;
  /** Every topic this partition may write: the pipeline's outputs, its retry tiers and dead-letter topic. */
  private readonly writable: readonly string[];
  /**
   * Offsets whose unit the broker refused for a reason tied to a record: the next pass
   * writes them one record per unit, so the refused record stands alone.
   */
  private isolate: { from: bigint; until: bigint } | undefined;
  /** Single records whose write the broker refused: routed without calling the handler again. */
  private readonly refusedWrites = new Map<string, { error: unknown; where: string; topic: string; times: number }>();
  /**
   * The last unit's write into the shared transaction, while it is still in flight: the next
   * unit is handled meanwhile (and the consumer fetches), as Kafka Streams' thread goes on
   * processing while its producer sends. At most one: a unit is written only after the one
   * before it succeeded, so a failed write never has a successor in a later transaction.
   */
  private inFlight: Promise<void> | undefined;

  constructor(private readonly deps: PartitionTaskDeps) {
    this.committer = deps.createCommitter(this);
    const source = deps.pipeline.sourceOf(deps.partition.topic);
    this.inputTopic = source?.input ?? deps.partition.topic;
    this.tier = source?.tier ?? 0;
    this.writable = [...deps.pipeline.outputs, ...deps.pipeline.retryTopicsFor(this.inputTopic), deps.pipeline.deadLetterTopicFor(this.inputTopic)];
    this.log = deps.logger.child({
      topic: deps.partition.topic,
      partition: deps.partition.partition,
      transactionalId: this.committer.transactionalId,
    });
  }

  get topicPartition(): TopicPartition {
    return this.deps.partition;
  }

  get isFenced(): boolean {
    return this.state === 'fenced';
  }

  /**
   * The producer first (a restarted worker's InitProducerId ends its predecessor's transaction),
   * then the committed offset, read stable: it waits while a transaction holding offsets of
   * this partition is pending, so the task never starts from an offset about to move.
   */
  async open(): Promise<void> {
    await this.fenceAndFindStart();
    this.state = 'running';
    this.log.debug({ committedOffset: this.expectedStart }, 'partition task opened');
  }

  private async fenceAndFindStart(): Promise<void> {
    const { committer } = this;
    await committer.open();
    // A committer that keeps the offsets itself (the PostgreSQL sink) is the truth; Kafka's lags behind it.
    this.expectedStart = committer.readStartOffset ? await committer.readStartOffset() : await this.deps.readCommittedOffset();
    this.committedNext = this.expectedStart;
    this.startChecked = false;
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

  /** Commits whatever is pending (rebalance, drain, commit timer). */
  flush(): Promise<void> {
    return this.serial.run(async () => {
      if (await this.settleInFlight()) await this.commitPending();
    });
  }

  close(mode: 'commit' | 'abort'): Promise<void> {
    return this.serial.run(async () => {
      this.clearTimers();
      if (mode === 'commit') {
        if (await this.settleInFlight()) await this.commitPending();
      } else await this.landInFlight();
      this.state = 'closed';
      try {
        if (mode === 'abort') await this.committer.abort(new Error('the worker is stopping past its drain deadline'));
        await this.committer.close();
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
    // A seek is pending (a rollback, a retry tier's wait): this batch was fetched before it and must not move the offset.
    if (batch.messages.length === 0) return payload.isStale() ? undefined : this.commitPastFiltered(batch);
    const { due, waitFor } = this.dueMessages(batch.messages);
    this.forgetRefusalsBefore(this.committedNext);
    for (let start = 0, end = 0; start < due.length; start = end) {
      if (!payload.isRunning() || payload.isStale() || this.state !== 'running') return;
      end = this.unitEnd(due, start);
      const records = due.slice(start, end);
      const last = records[records.length - 1] as KafkaMessage;
      const endsBatch = waitFor === undefined && end >= due.length;
      const nextOffset = nextOffsetAfter(batch, last, endsBatch);
      const unitStarted = performance.now();
      await this.committer.acknowledgeOnReceipt(nextOffset);
      const collector = await this.handle(records, payload.heartbeat);
      const outputs = collector.topicMessages();
      const unit: CommitUnit = {
        outputs,
        nextOffset,
        records: records.length,
        maxRequestBytes: this.requestLimit(outputs.map((entry) => entry.topic)),
        alone: this.isolate !== undefined,
      };
      const pending: PendingUnit = {
        nextOffset: BigInt(nextOffset),
        records: records.length,
        outputs: collector.count,
        routed: this.routed,
        timestamps: records.map((record) => Number(record.timestamp)),
      };
      this.routed = noneRouted();
      // The unit before this one must be in the transaction before this one joins it.
      if (!(await this.settleInFlight()) || payload.isStale() || this.state !== 'running') return;
      const pipelined = this.committer.sharedCommitCycle === true && !unit.alone;
      const onWritten = () => {
        if (this.isolate && BigInt(last.offset) >= this.isolate.until) this.isolate = undefined;
        // A pipelined unit moved the fetch position when it was handed over: moving it again when
        // its write completes, after a later unit moved it further, would fetch that unit again.
        if (!pipelined) payload.resolveOffset(last.offset);
        this.deps.metrics.unitProcessed(records.length, (performance.now() - unitStarted) / 1000);
      };
      if (pipelined) {
        this.startWrite(unit, pending, records, onWritten);
        // KafkaJS fetches from the last resolved offset: move it now, or the next fetch repeats
        // this unit. A failed write rewinds the partition with a seek, which overrides it.
        payload.resolveOffset(last.offset);
        continue;
      }
      const written = await this.writeUnit(unit, pending, records, onWritten);
      // A failed commit has rolled the partition back: nothing after it in this batch may be written.
      if (!written) return;
    }
    if (waitFor) {
      // The retry consumer never sleeps in the handler: the partition pauses until its head is due.
      this.seek(waitFor.offset);
      this.pauseFor(waitFor.dueAt - Date.now());
    }
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
    const unit: CommitUnit = { outputs: [], nextOffset, records: 0 };
    if (!(await this.settleInFlight())) return;
    await this.committer.acknowledgeOnReceipt(nextOffset);
    await this.writeUnit(unit, { nextOffset: BigInt(nextOffset), records: 0, outputs: 0, routed: noneRouted(), timestamps: [] }, [], () => {});
  }

  /**
   * Writes one unit and, for the strategies that commit per unit, commits it. False when a
   * commit failed and the partition was rolled back.
   */
  private async writeUnit(unit: CommitUnit, pending: PendingUnit, records: KafkaMessage[], onWritten: () => void): Promise<boolean> {
    const { committer } = this;
    // Queued before the write: a shared commit may land between the write and our next step.
    this.pendingUnits.push(pending);
    const writeStarted = performance.now();
    try {
      await committer.write(unit);
    } catch (error) {
      if (!(error instanceof TransactionRolledBackError) && records.length > 0) await this.onWriteFailed(records, unit, error);
      throw error;
    }
    onWritten();
    this.consecutiveFailures = 0;
    // The shared cycle commits on its own timer and tells us through committed().
    if (committer.sharedCommitCycle) return true;
    const pendingFor = committer.pendingForMs();
    // The non-transactional strategies committed the offset inside write().
    if (pendingFor === undefined) this.markCommitted(unit.nextOffset, false, (performance.now() - writeStarted) / 1000);
    else if (pendingFor >= this.deps.pipeline.commit.commitIntervalMs) return this.commitPending();
    return true;
  }

  /** Writes a unit without waiting for it: settleInFlight() waits, before the next write or commit. */
  private startWrite(unit: CommitUnit, pending: PendingUnit, records: KafkaMessage[], onWritten: () => void): void {
    const write = this.writeUnit(unit, pending, records, onWritten).then(() => undefined);
    this.inFlight = write;
    // A failure is handled even when no further batch comes to wait for it (the end of the input).
    write.catch(() => void this.serial.run(() => this.settleInFlight()).catch(() => {}));
  }

  /**
   * Waits for the write in flight. False when it failed: the failure has then been handled
   * (the partition rolled back to its last commit) and nothing handled since may be written.
   */
  private async settleInFlight(): Promise<boolean> {
    const write = this.inFlight;
    if (!write) return true;
    try {
      await write;
    } catch (error) {
      // The first to see the failure handles it; the other waiter only learns the unit is gone.
      if (this.inFlight !== write) return false;
      this.inFlight = undefined;
      if (this.state === 'running') await this.onFailure(error, this.committedNext);
      return false;
    }
    if (this.inFlight === write) this.inFlight = undefined;
    return true;
  }

  /** Waits for the write in flight to end, whatever its outcome, and forgets it (its failure is being handled, or is moot). */
  private async landInFlight(): Promise<void> {
    const write = this.inFlight;
    this.inFlight = undefined;
    await write?.catch(() => {});
  }

  /** On a retry topic, the records that are due now, and the first one that is not. */
  private dueMessages(messages: KafkaMessage[]): { due: KafkaMessage[]; waitFor?: { offset: string; dueAt: number } } {
    if (this.tier === 0) return { due: messages };
    const now = Date.now();
    // A copy whose headers cannot be trusted is due at once: it goes to the dead-letter topic, never pauses the tier.
    const index = messages.findIndex((message) => dueAtOf(message) > now && this.retryHeadersProblem(message, now) === undefined);
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
    await this.deps.catalog.load(this.writable);
    const collector = new OutputCollector(pipeline, (outputTopic, output) =>
      checkOutput(outputTopic, output, this.deps.catalog.get(outputTopic), pipeline.outputs.includes(outputTopic), pipeline.outputs),
    );
    // Registry serdes fetch the schemas of the unit's ids first, so decode stays synchronous
    // and a registry outage fails the unit (retried) rather than one record (routed).
    if (isPreparableSerde(pipeline.inputSerde)) await pipeline.inputSerde.prepare(messages.map((message) => message.value ?? null));
    const inputs: Input[] = [];
    for (const message of messages) {
      const untrusted = this.tier > 0 ? this.retryHeadersProblem(message, Date.now()) : undefined;
      if (untrusted) {
        this.route(collector, message, new InvalidFailureHeadersError(`retry copy at ${topic}/${partition}/${message.offset}: ${untrusted}`), true);
        continue;
      }
      const refused = this.refusedWrites.get(message.offset);
      if (refused) {
        // The broker refused this record's outputs: calling the handler again would only repeat that.
        this.route(collector, message, new OutputRejectedError(`the broker refused ${refused.where}: ${errorMessage(refused.error)}`, { topic: refused.topic }, { cause: refused.error }));
        continue;
      }
      try {
        inputs.push({ record: decodeRecord(pipeline, topic, partition, message), message });
      } catch (error) {
        this.route(collector, message, error);
      }
    }
    await this.dropConsumedBefore(inputs);
    if (inputs.length === 0) return collector;

    const context: HandlerContext = { pipeline: pipeline.name, signal: this.deps.signal, heartbeat };
    const handler = pipeline.handler;
    if (handler.kind === 'record') {
      for (const { record, message } of inputs) {
        try {
          const outputs = normaliseResult(
            await this.inCommitterScope(context, (scoped) =>
              this.callHandler(() => encodeLineage(record), { offset: message.offset, attempt: record.attempt }, scoped, (bounded) => handler.handle(record, bounded)),
            ),
          );
          await this.refreshTopicsOf([outputs]);
          collector.addOutputs(record, outputs);
        } catch (error) {
          this.route(collector, message, error);
        }
      }
    } else {
      await this.handleIsolating(handler.handleBatch, inputs, collector, context);
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
    const first = inputs[0]?.record;
    const names = () => (first ? `${encodeLineage(first)}${inputs.length > 1 ? ` and ${inputs.length - 1} more records` : ''}` : 'no records');
    try {
      results = await this.inCommitterScope(context, (scoped) =>
        this.callHandler(names, { offset: first?.offset, records: inputs.length }, scoped, (bounded) =>
          handleBatch(
            inputs.map((input) => input.record),
            bounded,
          ),
        ),
      );
      if (!Array.isArray(results) || results.length !== inputs.length) {
        throw new HandlerContractError(
          `batch handler of pipeline '${this.deps.pipeline.name}' returned ${Array.isArray(results) ? results.length : typeof results} results for ${inputs.length} records; it must return one per record`,
        );
      }
    } catch (error) {
      if (error instanceof UnitRollbackError) throw error;
      const [only] = inputs;
      if (inputs.length === 1 && only) return this.route(collector, only.message, error);
      if (error instanceof HandlerTimeoutError) {
        // Halving would wait out the timeout log2(n) times: one record per call finds the stuck ones in one more timeout each.
        for (const input of inputs) await this.handleIsolating(handleBatch, [input], collector, context);
        return;
      }
      const middle = Math.ceil(inputs.length / 2);
      await this.handleIsolating(handleBatch, inputs.slice(0, middle), collector, context);
      await this.handleIsolating(handleBatch, inputs.slice(middle), collector, context);
      return;
    }
    await this.refreshTopicsOf(results);
    inputs.forEach((input, index) => {
      try {
        collector.addOutputs(input.record, normaliseResult(results[index]));
      } catch (error) {
        this.route(collector, input.message, error);
      }
    });
  }

  /** Applies the error policy to one failed record. */
  private route(collector: OutputCollector, message: KafkaMessage, error: unknown, untrustedHeaders = false): void {
    // Not the record's fault (its database transaction broke): the whole unit rolls back instead.
    if (error instanceof UnitRollbackError) throw error;
    const { topic, partition } = this.deps.partition;
    const { pipeline } = this.deps;
    // Headers that failed the checks say nothing about the record: it is taken as it stands, and dead-lettered under every policy.
    const origin = originOf(topic, partition, message, this.tier > 0 && !untrustedHeaders);
    const outcome = untrustedHeaders
      ? ({ kind: 'dead-letter', reason: 'invalid-failure-headers' } as const)
      : decide(pipeline.errorPolicy, error, this.inputTopic, origin.attempt);
    const now = Date.now();
    const fields = { offset: message.offset, attempt: origin.attempt, origin: encodeLineage(origin), err: error };
    const deadLetter = (reason: string) => {
      const deadLetterTopic = pipeline.deadLetterTopicFor(this.inputTopic);
      const limits = this.deps.catalog.get(deadLetterTopic);
      // A copy the broker refused once already goes out as failure headers alone.
      const limitBytes = (this.refusedWrites.get(message.offset)?.times ?? 0) >= 2 ? 0 : limits?.maxMessageBytes;
      const whole = failureCopy(message, origin, { error, now, reason });
      const { copy, truncated } = limitBytes === undefined ? { copy: whole, truncated: false } : fitCopy(whole, limitBytes);
      collector.addFailureCopy(deadLetterTopic, copy);
      this.routed.deadLettered++;
      this.log.warn(
        { ...fields, deadLetterTopic, reason, ...(truncated ? { payloadTruncatedFrom: recordBatchSize(whole), limitBytes } : {}) },
        truncated ? 'record sent to the dead-letter topic, its payload cut to fit the topic' : 'record sent to the dead-letter topic',
      );
    };
    switch (outcome.kind) {
      case 'retry': {
        const copy = failureCopy(message, origin, { error, now, dueAt: now + outcome.delayMs });
        const limits = this.deps.catalog.get(outcome.topic);
        if (limits && recordBatchSize(copy) > limits.maxMessageBytes) {
          // A retry copy cannot be cut (the handler would see part of a record): dead-letter it whole, or cut.
          this.log.warn({ ...fields, retryTopic: outcome.topic, sizeBytes: recordBatchSize(copy), limitBytes: limits.maxMessageBytes }, 'retry copy too large for its topic');
          return deadLetter('copy-too-large');
        }
        collector.addFailureCopy(outcome.topic, copy);
        this.routed.retried++;
        this.log.info({ ...fields, retryTopic: outcome.topic, retryInMs: outcome.delayMs }, 'record failed; sent to its retry topic');
        return;
      }
      case 'dead-letter':
        return deadLetter(outcome.reason);
      case 'skip':
        this.routed.skipped++;
        this.log.warn({ ...fields, reason: outcome.reason }, 'record skipped by the error policy (its data is dropped)');
        return;
      case 'block':
        throw new BlockedRecord(message.offset, error);
    }
  }

  /** Drops deliveries the committer has seen consumed already (a retry copy written twice): applied once, not again. */
  private async dropConsumedBefore(inputs: Input[]): Promise<void> {
    const { committer } = this;
    if (!committer.consumedBefore || inputs.length === 0) return;
    const seen = await committer.consumedBefore(inputs.map((input) => input.record));
    if (seen.size === 0) return;
    const kept = inputs.filter((input) => !seen.has(input.record));
    for (const input of inputs) {
      if (seen.has(input.record)) this.log.info({ offset: input.message.offset, origin: encodeLineage(input.record), attempt: input.record.attempt }, 'duplicate retry copy skipped: this delivery was consumed before');
    }
    inputs.splice(0, inputs.length, ...kept);
  }

  /** A handler call inside the committer's own scope (the sink's savepoint, `ctx.db`), when it has one. */
  private inCommitterScope<T>(context: HandlerContext, call: (context: HandlerContext) => Promise<T>): Promise<T> {
    const { committer } = this;
    return committer.runHandlerCall ? committer.runHandlerCall((fields) => call({ ...context, ...fields })) : call(context);
  }

  /**
   * One handler call, bounded by the pipeline's handlerTimeoutMs. The handler's signal
   * aborts on drain while the call runs, or on its timeout (and stays aborted for an abandoned
   * call); a warning names the records while the call is stuck.
   */
  private async callHandler<T>(records: () => string, fields: object, context: HandlerContext, call: (context: HandlerContext) => T | Promise<T>): Promise<T> {
    const timeoutMs = this.deps.pipeline.handlerTimeoutMs;
    // Not AbortSignal.any: see handlerSignal (Node 24 lost an abandoned call's abort).
    const bounded = new LazyHandlerSignal(context.signal);
    try {
      return await withHandlerTimeout(
        () =>
          call({
            ...context,
            get signal() {
              return bounded.signal;
            },
          }),
        {
          timeoutMs,
          records,
          abort: () => bounded.abort(new HandlerTimeoutError(records(), timeoutMs)),
          onAbandoned: () => this.deps.handlerWatch?.abandon(records()) ?? (() => {}),
          onStuck: (elapsedMs) => {
            this.log.warn({ ...fields, elapsedMs, timeoutMs }, `handler still running on ${records()} after ${elapsedMs} ms; it times out at ${timeoutMs} ms`);
          },
        },
      );
    } finally {
      bounded.release();
    }
  }

  private retryHeadersProblem(message: KafkaMessage, now: number): string | undefined {
    const { backoff } = this.deps.pipeline.errorPolicy;
    return retryHeadersProblem(message, { input: this.inputTopic, tier: this.tier, now, maxDelayMs: backoff.maxMs });
  }

  /** Where the unit starting at `start` ends: one record at a time inside the isolated range. */
  private unitEnd(due: KafkaMessage[], start: number): number {
    const end = Math.min(due.length, start + this.deps.recordsPerUnit);
    const isolate = this.isolate;
    if (!isolate) return end;
    for (let index = start; index < end; index++) {
      const offset = BigInt((due[index] as KafkaMessage).offset);
      if (offset >= isolate.from && offset <= isolate.until) return index === start ? start + 1 : index;
    }
    return end;
  }

  /** A unit's requests stay under the smallest max.message.bytes of the topics it writes. */
  private requestLimit(topics: readonly string[]): number {
    let limit = MAX_REQUEST_BYTES;
    for (const topic of topics) {
      const limits = this.deps.catalog.get(topic);
      if (limits) limit = Math.min(limit, limits.maxMessageBytes - RECORD_BATCH_OVERHEAD);
    }
    return Math.max(1, limit);
  }

  /** Outputs naming a topic or partition the catalog does not know: read the topic again before judging. */
  private async refreshTopicsOf(results: readonly unknown[]): Promise<void> {
    const stale = new Set<string>();
    for (const result of results) {
      let outputs: readonly unknown[];
      try {
        outputs = normaliseResult(result as HandlerResult);
      } catch {
        continue;
      }
      for (const output of outputs) {
        if (output === null || typeof output !== 'object') continue;
        const { topic = this.deps.pipeline.output, partition } = output as { topic?: unknown; partition?: unknown };
        if (typeof topic !== 'string' || !this.deps.pipeline.outputs.includes(topic)) continue;
        const limits = this.deps.catalog.get(topic);
        if (!limits || (typeof partition === 'number' && partition >= limits.partitions)) stale.add(topic);
      }
    }
    if (stale.size > 0) await this.deps.catalog.refresh(stale);
  }

  /**
   * A write failed. The topics are read again (a config or partition change is then seen
   * by the checks), and a refusal tied to a record isolates it: the unit is redone one
   * record per unit, and a single record the broker refuses is routed by the error policy.
   */
  private async onWriteFailed(records: KafkaMessage[], unit: CommitUnit, error: unknown): Promise<void> {
    await this.deps.catalog.refresh(unit.outputs.map((entry) => entry.topic)).catch(() => {});
    if (!isRecordRefusal(error)) return;
    const first = records[0] as KafkaMessage;
    const last = records[records.length - 1] as KafkaMessage;
    if (records.length > 1) {
      this.isolate = { from: BigInt(first.offset), until: BigInt(last.offset) };
      this.log.warn({ err: error, fromOffset: first.offset, toOffset: last.offset }, 'the broker refused a record of this unit; writing it again one record at a time');
      return;
    }
    const largest = unit.outputs
      .flatMap(({ topic, messages }) => messages.map((message) => ({ topic, partition: message.partition, size: recordBatchSize(message) })))
      .sort((a, b) => b.size - a.size)[0];
    const where = largest
      ? `the write to topic '${largest.topic}'${largest.partition === undefined ? '' : ` partition ${largest.partition}`} (record of ${largest.size} bytes)`
      : 'the write';
    const times = (this.refusedWrites.get(first.offset)?.times ?? 0) + 1;
    this.refusedWrites.set(first.offset, { error, where, topic: largest?.topic ?? this.inputTopic, times });
    this.log.warn({ err: error, offset: first.offset, refusals: times }, `the broker refused ${where}; routing the record by the error policy`);
  }

  private forgetRefusalsBefore(offset: string | null): void {
    if (offset === null || this.refusedWrites.size === 0) return;
    for (const refused of this.refusedWrites.keys()) if (BigInt(refused) < BigInt(offset)) this.refusedWrites.delete(refused);
  }

  /** Commits pending work; false when the commit failed and the partition was rolled back. */
  private async commitPending(): Promise<boolean> {
    if (this.state !== 'running') return false;
    this.clearCommitTimer();
    const rollbacks = this.rollbacks;
    try {
      // A shared cycle answers through committed() / rolledBack(), before this returns.
      const result = await this.committer.commit();
      if (result) {
        this.deps.stats.transactionsCommitted++;
        this.markCommitted(result.nextOffset, true, result.durationMs / 1000);
      }
      return this.rollbacks === rollbacks;
    } catch (error) {
      await this.onFailure(error, this.committedNext);
      return false;
    }
  }

  /** CommitListener: a commit cycle made this partition's work durable up to `result.nextOffset`. */
  committed(result: CommitResult): void {
    if (this.state !== 'running') return;
    // The cycle's duration is observed once, by the strategy, not once per partition.
    this.markCommitted(result.nextOffset, true, undefined);
  }

  /**
   * CommitListener: the shared transaction holding this partition's pending work aborted, for
   * another partition's failure or at its commit. The work is gone: rewind to the last commit,
   * and before the next batch re-read the committed offset (a commit whose answer was lost may
   * have happened).
   */
  rolledBack(error: unknown): void {
    if (this.state !== 'running' || this.failing) return;
    this.rollbacks++;
    this.recoverBeforeNext = true;
    this.dropPending();
    const fenced = error instanceof GenerationFencedError || error instanceof ProducerFencedError;
    if (fenced) this.deps.stats.fenced++;
    const delayMs = backoffDelay(DEFAULTS.retryBackoff, 1);
    const fields = { err: error, offset: this.committedNext, retryInMs: delayMs };
    if (fenced) this.log.warn(fields, 'transaction fenced; this partition rewinds to its last commit');
    else this.log.info(fields, 'the shared transaction aborted; this partition rewinds to its last commit');
    if (this.committedNext !== null) this.seek(this.committedNext);
    this.pauseFor(delayMs);
  }

  /** Counts the pending units a commit reached (every unit up to `nextOffset`). */
  private markCommitted(nextOffset: string, transactional: boolean, commitSeconds: number | undefined): void {
    const { stats, metrics } = this.deps;
    this.committedNext = nextOffset;
    const through = BigInt(nextOffset);
    let index = 0;
    const timestamps: number[] = [];
    for (; index < this.pendingUnits.length; index++) {
      const unit = this.pendingUnits[index] as PendingUnit;
      if (unit.nextOffset > through) break;
      stats.recordsIn += unit.records;
      stats.recordsOut += unit.outputs;
      stats.retried += unit.routed.retried;
      stats.deadLettered += unit.routed.deadLettered;
      stats.skipped += unit.routed.skipped;
      timestamps.push(...unit.timestamps);
    }
    this.pendingUnits.splice(0, index);
    if (!transactional) stats.offsetCommits++;
    metrics.committed(commitSeconds, timestamps);
  }

  /** Forgets uncommitted work: rolled back. */
  private dropPending(): void {
    this.pendingUnits = [];
    this.routed = noneRouted();
  }

  /**
   * A failure rolls the partition back to its last commit and retries after a
   * backoff, with the partition paused so other partitions keep flowing. Under the
   * shared transaction the abort rolls back every partition in it (they hear it as
   * listeners). A partition committer fenced on its own gives the partition up.
   */
  private async onFailure(error: unknown, fallbackOffset: string | null): Promise<void> {
    // The rollback that refused this write already rewound the partition.
    if (error instanceof TransactionRolledBackError) return;
    // A unit still on its way into the transaction must be in it (and be aborted with it) or
    // be refused: written after the abort, it would commit in the next transaction without
    // the work this failure throws away before it.
    await this.landInFlight();
    const shared = this.committer.sharedCommitCycle === true;
    if (error instanceof ProducerFencedError && !shared) return this.onFenced(error);
    const hadPending = this.committer.pendingForMs() !== undefined;
    this.failing = true;
    try {
      await this.committer.abort(error);
    } catch (abortError) {
      if (abortError instanceof ProducerFencedError && !shared) return this.onFenced(abortError);
      this.log.warn({ err: abortError }, 'aborting the transaction failed');
    } finally {
      this.failing = false;
    }
    if (hadPending && !shared) this.deps.stats.transactionsAborted++;
    this.rollbacks++;
    this.recoverBeforeNext = true;
    this.dropPending();
    const fenced = error instanceof GenerationFencedError || error instanceof ProducerFencedError;
    if (fenced) this.deps.stats.fenced++;
    else this.deps.stats.handlerFailures++;
    this.consecutiveFailures++;
    const rewindTo = this.committedNext ?? fallbackOffset;
    // A blocked record waits as its policy says; anything else (a broker or producer
    // failure) with the worker's own backoff.
    const backoff = error instanceof BlockedRecord ? this.deps.pipeline.errorPolicy.backoff : DEFAULTS.retryBackoff;
    const delayMs = backoffDelay(backoff, this.consecutiveFailures);
    const blocked = error instanceof BlockedRecord ? error : undefined;
    const fields = { err: blocked ? blocked.cause : error, offset: rewindTo, failedOffset: blocked?.offset, attempt: this.consecutiveFailures, retryInMs: delayMs };
    if (blocked) this.log.error(fields, 'record failed; blocking the partition and retrying in place');
    else if (fenced) this.log.warn(fields, 'transaction fenced; rolled back to the last commit');
    else this.log.error(fields, 'processing failed; rolled back to the last commit and will retry');
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
      await this.committer.close();
    } catch {
      // A fenced producer may fail to disconnect cleanly; nothing to keep from it.
    }
    this.deps.onFenced(this);
  }

  private scheduleCommit(): void {
    if (this.committer.sharedCommitCycle) return;
    const pendingFor = this.committer.pendingForMs();
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
}

interface Input {
  readonly record: InputRecord;
  readonly message: KafkaMessage;
}

/** Routing outcomes of a unit before any record of it was routed (counted up as records are). */
function noneRouted(): { retried: number; deadLettered: number; skipped: number } {
  return { retried: 0, deadLettered: 0, skipped: 0 };
}

/** A written, uncommitted unit and what it counts for once committed. */
interface PendingUnit {
  readonly nextOffset: bigint;
  readonly records: number;
  readonly outputs: number;
  readonly routed: { readonly retried: number; readonly deadLettered: number; readonly skipped: number };
  readonly timestamps: readonly number[];
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
