import type { KafkaMessage, Message } from 'kafkajs';
import type { Logger } from 'pino';
import type { TopicPartition } from '../commit/index.js';
import { describeThrown, NonRetryableError, UnitRollbackError } from '../errors/index.js';
import { recordBatchSize } from '../kafka/record-size.js';
import type { TopicCatalog } from '../kafka/topic-catalog.js';
import type { ResolvedPipeline } from '../pipeline/definition.js';
import { encodeLineage } from '../pipeline/lineage.js';
import { fitCopy } from '../routing/copy-fit.js';
import { decide } from '../routing/decide.js';
import { failureCopy, originOf } from '../routing/failure-copy.js';
import type { OutputBuffer } from './output-buffer.js';
import type { HoldTarget, RetryHolds } from './retry-holds.js';
import type { WriteRefusals } from './write-refusals.js';

export interface FailureRouterDeps {
  readonly pipeline: ResolvedPipeline;
  readonly partition: TopicPartition;
  /** The pipeline input the partition belongs to, and its retry tier (0: the input itself). */
  readonly input: string;
  readonly tier: number;
  readonly catalog: TopicCatalog;
  /** How often the broker refused a record's outputs: a copy refused twice goes out as failure headers alone. */
  readonly refusals: Pick<WriteRefusals, 'timesRefused'>;
  readonly logger: Logger;
  /** Under `keyOrderOnRetry: hold`: the partition of the next tier a key's copies go to, so they queue behind each other. */
  readonly holds?: Pick<RetryHolds, 'target' | 'targetFor'>;
}

/** How a unit's failed records were routed, counted once the unit commits. */
export interface RoutedCounts {
  retried: number;
  deadLettered: number;
  skipped: number;
  /** Sent to the next retry tier unhandled, behind an earlier record of their key (`keyOrderOnRetry: hold`). */
  heldBack: number;
}

/** A unit's routing counts before any of its records failed. */
export function noneRouted(): RoutedCounts {
  return { retried: 0, deadLettered: 0, skipped: 0, heldBack: 0 };
}

/** Where routed copies go: the unit's outputs, and its routing counts. */
export interface RoutingTarget {
  readonly outputs: OutputBuffer;
  readonly routed: RoutedCounts;
}

/** A record failed under the `block` policy: the unit rolls back and the partition waits. */
export class BlockedRecord extends Error {
  override readonly name = 'BlockedRecord';
  constructor(
    readonly offset: string,
    override readonly cause: unknown,
  ) {
    super(`record at offset ${offset} failed under the block policy`);
  }
}

/** Where a failed record goes: a copy to write (none when skipped), what it counts as, and its log line. */
interface Routing {
  readonly copy?: { readonly topic: string; readonly message: Message };
  readonly counts: keyof RoutedCounts;
  readonly log: () => void;
}

/** A record sent to a retry tier unhandled: why its copy is there (its failure headers say this). */
class KeyHeldBack extends Error {
  override readonly name = 'KeyHeldBack';
}

/** Routing a failed record failed: the reason its dead-letter copy gives. */
class RoutingFailedError extends Error {
  override readonly name = 'RoutingFailedError';
}

/**
 * Carries out the error policy's decision for a failed record (routing/decide.ts decides): the
 * retry or dead-letter copy with its failure headers, cut to fit its topic where it must be,
 * added to the unit's outputs and counted; `block` is thrown back to the partition task.
 */
export class FailureRouter {
  private readonly log: Logger;

  constructor(private readonly deps: FailureRouterDeps) {
    this.log = deps.logger;
  }

  /**
   * Carries out the error policy's decision for one failed record. Whatever was thrown, and
   * whatever goes wrong while deciding (an error object that throws when read, a copy that
   * cannot be made), the record goes somewhere: a failure of routing itself dead-letters it as
   * `routing-failed`, never rolling its unit back to fail the same way again.
   */
  route(unit: RoutingTarget, message: KafkaMessage, error: unknown, untrustedHeaders = false): void {
    let routing: Routing;
    try {
      routing = this.decideRouting(message, error, untrustedHeaders);
    } catch (failure) {
      if (failure instanceof BlockedRecord || failure instanceof UnitRollbackError) throw failure;
      routing = this.routingFailed(message, error, failure);
    }
    if (routing.copy) unit.outputs.addFailureCopy(routing.copy.topic, routing.copy.message);
    unit.routed[routing.counts]++;
    try {
      routing.log();
    } catch {
      // A log line that cannot be written (a thrown value the logger cannot serialise) changes nothing.
    }
  }

  /**
   * Sends a record unhandled to the retry tier where an earlier record of its key waits
   * (`keyOrderOnRetry: hold`): due at once, it queues behind that one in the same partition,
   * and is handled there as a record of that tier (failing, it goes on to the next).
   */
  sendBehind(unit: RoutingTarget, message: KafkaMessage, target: HoldTarget): void {
    const { topic, partition } = this.deps.partition;
    const origin = { ...originOf(topic, partition, message, this.deps.tier > 0), attempt: this.deps.tier + 1 };
    const now = Date.now();
    const error = new KeyHeldBack(`held back: an earlier record of its key waits in ${target.topic}; handled after it, in key order`);
    const copy: Message = { ...failureCopy(message, origin, { error, now, dueAt: now }), partition: target.partition };
    const limits = this.deps.catalog.get(target.topic);
    if (limits && recordBatchSize(copy) > limits.maxMessageBytes) {
      // Never the case for a copy its first tier took: a record alone, too large for the tier.
      this.route(unit, message, new NonRetryableError(`a copy of ${recordBatchSize(copy)} bytes is larger than ${target.topic} takes (${limits.maxMessageBytes})`, { reason: 'copy-too-large' }));
      return;
    }
    unit.outputs.addFailureCopy(target.topic, copy);
    unit.routed.heldBack++;
    this.log.info({ offset: message.offset, retryTopic: target.topic, partition: target.partition }, 'record held back behind its key; sent to its retry topic unhandled');
  }

  /** Where the policy sends a failed record, and the copy it writes there; throws BlockedRecord under `block`. */
  private decideRouting(message: KafkaMessage, error: unknown, untrustedHeaders: boolean): Routing {
    // Not the record's fault (its database transaction broke): the whole unit rolls back instead.
    if (error instanceof UnitRollbackError) throw error;
    const { topic, partition } = this.deps.partition;
    const { pipeline, catalog, input } = this.deps;
    // Headers that failed the checks say nothing about the record: it is taken as it stands, and dead-lettered under every policy.
    const origin = originOf(topic, partition, message, this.deps.tier > 0 && !untrustedHeaders);
    const outcome = untrustedHeaders ? ({ kind: 'dead-letter', reason: 'invalid-failure-headers' } as const) : decide(pipeline.errorPolicy, error, input, origin.attempt);
    const now = Date.now();
    const fields = { offset: message.offset, attempt: origin.attempt, origin: encodeLineage(origin), err: error };
    const deadLetter = (reason: string): Routing => {
      const deadLetterTopic = pipeline.deadLetterTopicFor(input);
      const limits = catalog.get(deadLetterTopic);
      // A copy the broker refused once already goes out as failure headers alone.
      const limitBytes = this.deps.refusals.timesRefused(message.offset) >= 2 ? 0 : limits?.maxMessageBytes;
      const whole = failureCopy(message, origin, { error, now, reason });
      const { copy, truncated } = limitBytes === undefined ? { copy: whole, truncated: false } : fitCopy(whole, limitBytes);
      const sizes = truncated ? { payloadTruncatedFrom: recordBatchSize(whole), limitBytes } : {};
      return {
        copy: { topic: deadLetterTopic, message: copy },
        counts: 'deadLettered',
        log: () =>
          this.log.warn(
            { ...fields, deadLetterTopic, reason, ...sizes },
            truncated ? 'record sent to the dead-letter topic, its payload cut to fit the topic' : 'record sent to the dead-letter topic',
          ),
      };
    };
    switch (outcome.kind) {
      case 'retry': {
        const held = this.deps.holds && message.key && outcome.topic === this.deps.holds.target ? this.deps.holds.targetFor(message.key) : undefined;
        const copy: Message = { ...failureCopy(message, origin, { error, now, dueAt: now + outcome.delayMs }), ...(held ? { partition: held.partition } : {}) };
        const limits = catalog.get(outcome.topic);
        if (limits && recordBatchSize(copy) > limits.maxMessageBytes) {
          // A retry copy cannot be cut (the handler would see part of a record): dead-letter it whole, or cut.
          const tooLarge = deadLetter('copy-too-large');
          const logTooLarge = () =>
            this.log.warn({ ...fields, retryTopic: outcome.topic, sizeBytes: recordBatchSize(copy), limitBytes: limits.maxMessageBytes }, 'retry copy too large for its topic');
          return { ...tooLarge, log: () => (logTooLarge(), tooLarge.log()) };
        }
        return {
          copy: { topic: outcome.topic, message: copy },
          counts: 'retried',
          log: () => this.log.info({ ...fields, retryTopic: outcome.topic, retryInMs: outcome.delayMs }, 'record failed; sent to its retry topic'),
        };
      }
      case 'dead-letter':
        return deadLetter(outcome.reason);
      case 'skip':
        return { counts: 'skipped', log: () => this.log.warn({ ...fields, reason: outcome.reason }, 'record skipped by the error policy (its data is dropped)') };
      case 'block':
        throw new BlockedRecord(message.offset, error);
    }
  }

  /** Routing the record failed: it goes to the dead-letter topic as it arrived, the two failures in words. */
  private routingFailed(message: KafkaMessage, error: unknown, failure: unknown): Routing {
    const { topic, partition } = this.deps.partition;
    const { pipeline, catalog, input } = this.deps;
    const origin = originOf(topic, partition, message, false);
    const why = `routing the record's failure failed (${describeThrown(failure).message}); the failure was: ${describeThrown(error).message}`;
    const deadLetterTopic = pipeline.deadLetterTopicFor(input);
    const whole = failureCopy(message, origin, { error: new RoutingFailedError(why), now: Date.now(), reason: 'routing-failed' });
    const limitBytes = catalog.get(deadLetterTopic)?.maxMessageBytes;
    const copy = limitBytes === undefined ? whole : fitCopy(whole, limitBytes).copy;
    return {
      copy: { topic: deadLetterTopic, message: copy },
      counts: 'deadLettered',
      log: () => this.log.error({ offset: message.offset, deadLetterTopic, reason: 'routing-failed', why }, 'record sent to the dead-letter topic: routing its failure failed'),
    };
  }
}
