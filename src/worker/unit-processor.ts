import type { KafkaMessage } from 'kafkajs';
import pLimit from 'p-limit';
import type { Logger } from 'pino';
import type { PartitionCommitter, TopicMessages, TopicPartition } from '../commit/index.js';
import { errorMessage, InvalidFailureHeadersError, OutputRejectedError, thrownInstanceOf, UnitRollbackError } from '../errors/index.js';
import type { TopicCatalog } from '../kafka/topic-catalog.js';
import type { ResolvedPipeline } from '../pipeline/definition.js';
import type { TaskMetrics } from '../observability/metrics.js';
import { type HandlerContext, type HandlerResult, normaliseResult, type OutputRecord, type RecordHandlerFn } from '../pipeline/records.js';
import { backoffDelay } from '../util/backoff.js';
import { decide, type Outcome } from '../routing/decide.js';
import { retryHeadersProblem } from '../routing/header-checks.js';
import { encodeLineage } from '../pipeline/lineage.js';
import { isPreparableSerde } from '../serde/registry.js';
import { isPromiseLike } from '../util/promise.js';
import { sleepUnless } from '../util/sleep.js';
import type { HandlerWatch } from './handler-watch.js';
import { laneOf, runInLanes, type Slots } from './lanes.js';
import { BlockedRecord, FailureRouter, noneRouted, type RoutedCounts, type RoutingTarget } from './failure-router.js';
import type { HoldTarget, RetryHolds } from './retry-holds.js';
import { checkOutput } from './output-check.js';
import { OutputBuffer } from './output-buffer.js';
import { BatchCalls } from './batch-calls.js';
import { type CallSubject, HandlerInvoker } from './handler-invoker.js';
import { type DecodedInput, decodeRecord } from './record-decoder.js';
import type { WriteRefusals } from './write-refusals.js';

export interface UnitProcessorDeps {
  readonly pipeline: ResolvedPipeline;
  readonly partition: TopicPartition;
  /** The pipeline input the partition belongs to, and its retry tier (0: the input itself). */
  readonly input: string;
  readonly tier: number;
  readonly catalog: TopicCatalog;
  /** The scope handler calls run in, and the deliveries already consumed (the sink's). */
  readonly committer: Pick<PartitionCommitter, 'runHandlerCall' | 'consumedBefore'>;
  /** Records whose outputs the broker refused: routed without calling the handler again. */
  readonly refusals: Pick<WriteRefusals, 'refusalOf' | 'timesRefused'>;
  readonly logger: Logger;
  readonly signal: AbortSignal;
  readonly handlerWatch?: HandlerWatch;
  readonly metrics: TaskMetrics;
  /** The worker-wide cap on handler calls in flight, shared by every partition. */
  readonly workerSlots?: Slots;
  /** The partition's held keys under `keyOrderOnRetry: hold`. */
  readonly holds?: RetryHolds;
}

/** A unit after the handler: what to write, and how many of its records were routed. */
export interface ProcessedUnit {
  readonly outputs: TopicMessages[];
  /** Outputs of the handler (retry and dead-letter copies excluded). */
  readonly outputCount: number;
  readonly routed: RoutedCounts;
}

type Input = DecodedInput;

/**
 * What became of a record: its outputs, or its failure (`mustWait`: it cannot go to its retry
 * tier now, as no more keys can be held, so its unit rolls back and is tried again), or, its key
 * being held, the retry tier it goes to unhandled.
 */
type RecordOutcome =
  | { readonly outputs: readonly OutputRecord[] }
  | { readonly error: unknown; readonly mustWait?: true }
  | { readonly behind: HoldTarget };

const failedOutcome = (error: unknown): RecordOutcome => ({ error });

/** One unit in the making: its outputs so far and its routing counts (where the router adds its copies). */
type Unit = RoutingTarget;

/** A record call's subject: named (its lineage, its fetched offset) only if the call is stuck or times out. */
const RECORD_CALL: CallSubject<Input> = {
  records: ({ record }) => encodeLineage(record),
  fields: ({ record, message }) => ({ offset: message.offset, attempt: record.attempt }),
};

/** What a unit's record calls share: the handler's context, what ends a wait in place, and the holds' epoch the unit began in. */
interface CallScope {
  readonly context: HandlerContext;
  readonly interrupt: AbortSignal;
  readonly epoch: number;
}

/**
 * A unit's handling, from fetched messages to the outputs to write (Kafka Streams hands a
 * record to its topology the same way): decode, call a record handler on each record (in
 * lanes under concurrency, in key order through retries under `keyOrderOnRetry: hold`) or a
 * batch handler on the unit (batch-calls.ts), each call through handler-invoker.ts, and carry
 * out the error policy's decision for each failed record (failure-router.ts). It knows nothing
 * of offsets or commits: the partition task decides what is written and when.
 */
export class UnitProcessor {
  private readonly log: Logger;
  /** Every topic this partition may write: the pipeline's outputs, its retry tiers and dead-letter topic. */
  private readonly writable: readonly string[];
  /** Under `concurrency.ordering` key or unordered: a call starts when one of the partition's slots, and one of the worker's, is free. */
  private readonly slots: Slots | undefined;
  /** Each key's last call in flight, across the units being handled at the same time. */
  private readonly laneTails = new Map<string, Promise<void>>();
  /** Settles once the last unit's records are in their lanes: a later unit's records queue behind them. */
  private dispatched: Promise<void> = Promise.resolve();
  /** Records handled whose unit is still being handled: their outcomes wait for it. */
  private held = 0;
  private readonly router: FailureRouter;
  private readonly invoker: HandlerInvoker;
  private readonly batches: BatchCalls;
  private recordCaller: { readonly handle: RecordHandlerFn<unknown, unknown>; readonly call: (input: Input, context: HandlerContext) => HandlerResult<unknown> | Promise<HandlerResult<unknown>> } | undefined;

  constructor(private readonly deps: UnitProcessorDeps) {
    const { pipeline, input, workerSlots } = deps;
    this.log = deps.logger;
    this.writable = [...pipeline.outputs, ...pipeline.retryTopicsFor(input), pipeline.deadLetterTopicFor(input)];
    this.router = new FailureRouter(deps);
    this.invoker = new HandlerInvoker(deps);
    this.batches = new BatchCalls(deps, this.invoker, this.router);
    if (pipeline.concurrency.ordering !== 'partition') {
      const partitionSlots = pLimit(pipeline.concurrency.maxInFlight);
      this.slots = workerSlots ? (fn) => partitionSlots(() => workerSlots(fn)) : (fn) => partitionSlots(fn);
    }
  }

  /**
   * Units may be handled at the same time (concurrency inside the partition): their calls share
   * the partition's slots, and a key's records in a later unit wait for those of earlier ones.
   */
  get overlapsUnits(): boolean {
    // A batch handler's sub-batches are per unit: units handled at once could reorder a key.
    return this.slots !== undefined && this.deps.pipeline.handler.kind === 'record';
  }

  /**
   * Runs the handler on one unit. A record that fails is routed alone by the error
   * policy (retry topic, dead-letter topic, skip); `block` fails the whole unit (under
   * concurrency a record handler's blocked record is first retried in place).
   */
  async process(messages: KafkaMessage[], heartbeat: () => Promise<void>, interrupt: AbortSignal): Promise<ProcessedUnit> {
    // Units enter the lanes in the order they were given, whatever their decoding waits on (a
    // schema fetched for one and not the other): a key's records keep their offset order across units.
    const earlier = this.dispatched;
    let inLanes!: () => void;
    this.dispatched = new Promise((resolve) => (inLanes = resolve));
    try {
      await earlier;
      return await this.processInTurn(messages, heartbeat, interrupt, inLanes);
    } finally {
      inLanes();
    }
  }

  private async processInTurn(messages: KafkaMessage[], heartbeat: () => Promise<void>, interrupt: AbortSignal, inLanes: () => void): Promise<ProcessedUnit> {
    const { pipeline, catalog } = this.deps;
    const { topic, partition } = this.deps.partition;
    await catalog.load(this.writable);
    const unit: Unit = {
      outputs: new OutputBuffer(pipeline, (outputTopic, output) => checkOutput(outputTopic, output, catalog.get(outputTopic), pipeline.outputs.includes(outputTopic), pipeline.outputs)),
      routed: noneRouted(),
    };
    // Registry serdes fetch the schemas of the unit's ids first, so decode stays synchronous
    // and a registry outage fails the unit (retried) rather than one record (routed).
    if (isPreparableSerde(pipeline.inputSerde)) await pipeline.inputSerde.prepare(messages.map((message) => message.value ?? null));
    const inputs: Input[] = [];
    for (const message of messages) {
      const untrusted = this.deps.tier > 0 ? this.retryHeadersProblem(message) : undefined;
      if (untrusted) {
        this.router.route(unit, message, new InvalidFailureHeadersError(`retry copy at ${topic}/${partition}/${message.offset}: ${untrusted}`), true);
        continue;
      }
      const refused = this.deps.refusals.refusalOf(message.offset);
      if (refused) {
        // The broker refused this record's outputs: calling the handler again would only repeat that.
        this.router.route(unit, message, new OutputRejectedError(`the broker refused ${refused.where}: ${errorMessage(refused.error)}`, { topic: refused.topic }, { cause: refused.error }));
        continue;
      }
      try {
        inputs.push({ record: decodeRecord(pipeline, topic, partition, message), message });
      } catch (error) {
        this.router.route(unit, message, error);
      }
    }
    await this.dropConsumedBefore(inputs);
    if (inputs.length > 0) {
      const context: HandlerContext = { pipeline: pipeline.name, signal: this.deps.signal, heartbeat };
      const handler = pipeline.handler;
      if (handler.kind === 'record') await this.handleEach(handler.handle, inputs, unit, { context, interrupt, epoch: this.deps.holds?.epoch ?? 0 }, inLanes);
      else if (this.slots) await this.batches.handleSubBatches(handler.handleBatch, inputs, unit, context, this.slots);
      else await this.batches.handleIsolating(handler.handleBatch, inputs, unit, context);
    }
    return { outputs: unit.outputs.topicMessages(), outputCount: unit.outputs.count, routed: unit.routed };
  }

  /**
   * A record handler on each record. One at a time, the outcome carried out as it comes; under
   * concurrency the calls run in lanes (one key at a time, in offset order) and their outcomes
   * are carried out once all have settled, in offset order, so each key's outputs keep its order.
   */
  private async handleEach(handle: RecordHandlerFn<unknown, unknown>, inputs: Input[], unit: Unit, call: CallScope, inLanes: () => void): Promise<void> {
    const { slots } = this;
    if (!slots) {
      // Indexed: an iterator's result object per record showed in the allocation profile.
      for (let index = 0; index < inputs.length; index++) {
        const input = inputs[index] as Input;
        // A synchronous handler's outcome is carried out without a turn of the event loop per record.
        const outcome = this.deps.holds ? this.callInKeyOrder(handle, input, call) : this.callRecord(handle, input, call.context);
        this.carryOut(unit, input, isPromiseLike(outcome) ? await outcome : outcome);
      }
      return;
    }
    const { metrics, partition, pipeline } = this.deps;
    const outcomes: RecordOutcome[] = new Array<RecordOutcome>(inputs.length);
    const running = runInLanes({
      count: inputs.length,
      laneOf: (index) => laneOf(pipeline.concurrency.ordering, (inputs[index] as Input).message.key),
      slots,
      call: async (index) => {
        metrics.callsInFlight(partition, 1);
        try {
          outcomes[index] = await this.callInKeyOrder(handle, inputs[index] as Input, call);
        } finally {
          metrics.callsInFlight(partition, -1);
          metrics.heldOutputs(partition, ++this.held);
        }
      },
      onLaneWait: (ms) => metrics.keyWait(ms / 1000),
      tails: this.laneTails,
    });
    // runInLanes queued every record before it returned: the next unit may queue behind them.
    inLanes();
    try {
      await running;
    } finally {
      this.held -= inputs.length;
      metrics.heldOutputs(partition, this.held);
    }
    inputs.forEach((input, index) => this.carryOut(unit, input, outcomes[index] as RecordOutcome));
  }

  /** One handler call on one record; its failure is its outcome. Synchronous when the handler and the committer's scope are. */
  private callRecord(handle: RecordHandlerFn<unknown, unknown>, input: Input, context: HandlerContext): RecordOutcome | Promise<RecordOutcome> {
    let result: HandlerResult<unknown> | Promise<HandlerResult<unknown>>;
    try {
      result = this.invoker.invoke(RECORD_CALL, input, context, this.recordCall(handle));
    } catch (error) {
      return { error };
    }
    return isPromiseLike(result) ? Promise.resolve(result).then((settled) => this.outcomeOf(settled), failedOutcome) : this.outcomeOf(result);
  }

  /** The record handler as a function of an input: made once per handler, not once per call. */
  private recordCall(handle: RecordHandlerFn<unknown, unknown>): (input: Input, context: HandlerContext) => HandlerResult<unknown> | Promise<HandlerResult<unknown>> {
    if (this.recordCaller?.handle !== handle) this.recordCaller = { handle, call: (input, context) => handle(input.record, context) };
    return this.recordCaller.call;
  }

  /** A handler call's result as its outcome, once the topics its outputs name are known. */
  private outcomeOf(result: HandlerResult<unknown>): RecordOutcome | Promise<RecordOutcome> {
    try {
      const outputs = normaliseResult(result);
      const refreshed = this.invoker.refreshTopicsOfOutputs(outputs);
      return refreshed ? refreshed.then(() => ({ outputs }), failedOutcome) : { outputs };
    } catch (error) {
      return { error };
    }
  }

  /**
   * A record in its key's turn. Under `keyOrderOnRetry: hold`, a record whose key is held goes
   * to the retry tier behind the earlier one unhandled, and a record about to go to a retry
   * tier holds its key before the key's next record is looked at (they run in offset order).
   *
   * A record that must wait is retried in place, with the policy's backoff: one the `block`
   * policy holds (under concurrency), or one whose key cannot be held yet (no more keys can
   * be). Only its key waits; the unit's other keys go on, and the unit is written once it
   * succeeds. A drain or a rebalance (`interrupt`) ends the wait: the record then fails the
   * unit, which rolls back and is retried from its last commit, as a blocked record always is.
   */
  private async callInKeyOrder(handle: RecordHandlerFn<unknown, unknown>, input: Input, { context, interrupt, epoch }: CallScope): Promise<RecordOutcome> {
    const { pipeline, holds } = this.deps;
    const { key, offset } = input.message;
    const behind = holds && key ? holds.sendBehind(key, offset, epoch) : undefined;
    if (behind) return { behind };
    for (let failures = 1; ; failures++) {
      const outcome = await this.callRecord(handle, input, context);
      if (!('error' in outcome)) return outcome;
      const decided = this.decisionOf(outcome.error, input);
      const blocked = decided === 'block';
      if (!blocked && (decided !== 'retry' || this.holdsKeyOf(input, epoch))) return outcome;
      const delayMs = backoffDelay(pipeline.errorPolicy.backoff, failures);
      if (blocked) this.log.error({ err: outcome.error, offset, attempt: failures, retryInMs: delayMs }, 'record failed; blocking its key and retrying in place');
      else this.log.warn({ err: outcome.error, offset, attempt: failures, retryInMs: delayMs, heldKeys: holds?.holds.size }, 'record failed while as many keys as can be wait in retry tiers; retrying it in place until one resolves');
      if (!(await sleepUnless(delayMs, [interrupt, this.deps.signal]))) return blocked ? outcome : { error: outcome.error, mustWait: true };
    }
  }

  /**
   * A failed record the policy sends to the next retry tier holds its key there (under
   * `keyOrderOnRetry: hold`). False when it cannot (no more keys can be held): it must wait.
   */
  private holdsKeyOf(input: Input, epoch: number): boolean {
    const { holds } = this.deps;
    const key = input.message.key;
    if (!holds || !key) return true;
    try {
      return holds.holdFor(key, input.message.offset, epoch);
    } catch {
      // Left to routing, which dead-letters what it cannot route: nothing waits in a tier for it.
      return true;
    }
  }

  /**
   * What the policy does with this failure, asked once per failed call (routing asks again when it
   * carries it out); undefined for a unit rollback, or a thrown value that cannot even be asked
   * (left to routing).
   */
  private decisionOf(error: unknown, input: Input): Outcome['kind'] | undefined {
    if (thrownInstanceOf(error, UnitRollbackError)) return undefined;
    try {
      return decide(this.deps.pipeline.errorPolicy, error, this.deps.input, input.record.attempt).kind;
    } catch {
      return undefined;
    }
  }

  /** A record's outcome into the unit: its outputs, its failure routed by the policy, or its copy behind its key. */
  private carryOut(unit: Unit, { record, message }: Input, outcome: RecordOutcome): void {
    if ('behind' in outcome) return this.router.sendBehind(unit, message, outcome.behind);
    if ('error' in outcome && outcome.mustWait) throw new BlockedRecord(message.offset, outcome.error);
    if ('error' in outcome) return this.router.route(unit, message, outcome.error);
    try {
      unit.outputs.addOutputs(record, outcome.outputs);
    } catch (error) {
      this.router.route(unit, message, error);
    }
  }

  /** Why a record read from a retry tier cannot be trusted, or undefined when its headers are sound. */
  retryHeadersProblem(message: KafkaMessage, now = Date.now()): string | undefined {
    const { input, tier, pipeline } = this.deps;
    return retryHeadersProblem(message, { input, tier, now, maxDelayMs: pipeline.errorPolicy.backoff.maxMs });
  }

  /** Drops deliveries the committer has seen consumed already (a retry copy written twice): applied once, not again. */
  private async dropConsumedBefore(inputs: Input[]): Promise<void> {
    if (inputs.length === 0) return;
    const seen = await this.deps.committer.consumedBefore(inputs.map((input) => input.record));
    if (seen.size === 0) return;
    const kept = inputs.filter((input) => !seen.has(input.record));
    for (const input of inputs) {
      if (seen.has(input.record)) this.log.info({ offset: input.message.offset, origin: encodeLineage(input.record), attempt: input.record.attempt }, 'duplicate retry copy skipped: this delivery was consumed before');
    }
    inputs.splice(0, inputs.length, ...kept);
  }

}
