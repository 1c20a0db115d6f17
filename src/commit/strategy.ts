import type { Kafka, Message, TopicPartitionOffset } from 'kafkajs';
import type { Logger } from 'pino';
import type { CommitStrategyName } from '../config/defaults.js';
import type { TopicPartition } from '../kafka/topic-partition.js';
import type { HandlerContext, InputRecord } from '../pipeline/records.js';

/**
 * A commit strategy decides when outputs become visible and when input offsets
 * move: the whole difference between exactly-once, at-least-once and
 * at-most-once lives behind this interface.
 */

export type { TopicPartition };

export interface TopicMessages {
  readonly topic: string;
  readonly messages: Message[];
}

/** What a partition task hands over after the handler ran on some records. */
export interface CommitUnit {
  readonly outputs: readonly TopicMessages[];
  /** The offset to read next once this unit is durable (last input + 1). */
  readonly nextOffset: string;
  readonly records: number;
  /** Produce requests stay under this (the smallest max.message.bytes of the unit's topics); default MAX_REQUEST_BYTES. */
  readonly maxRequestBytes?: number;
  /**
   * Write this unit in requests of its own: its partition is isolating a record the broker
   * refused, and a refusal must be tied to that record, not to another partition's outputs.
   */
  readonly alone?: boolean;
  /**
   * Committed with `nextOffset`, in the same transaction (the transactional strategy only):
   * the partition's holds under `keyOrderOnRetry: hold`, which must never be ahead of or behind
   * the records they describe.
   */
  readonly metadata?: string;
}

/**
 * How a partition task hears of commits and rollbacks: a committer reports every commit here,
 * whether the task asked for it, a write committed it, or a cycle shared by all partitions did.
 */
export interface CommitListener {
  /** The partition's pending work is durable: the next record to read is `result.nextOffset`. */
  committed(result: CommitResult): void;
  /** The transaction holding the partition's pending work was aborted: that work is gone. */
  rolledBack(error: unknown): void;
  /** Work has been pending for the commit interval and nothing else will commit it: commit now, between units. */
  commitDue(): void;
}

/**
 * What a partition task needs from the strategy for one partition. Every strategy answers
 * every question; the task never asks which strategy it has.
 */
export interface PartitionCommitter {
  /** Names the writer in log lines (a transactional id, or the partition's owner identity). */
  readonly transactionalId?: string;
  /**
   * Unit writes that may still be in flight while the task handles and hands over its next unit.
   * 0 where a write shares a database transaction with the handler calls; 1 where a write commits
   * its offset once written (the next unit is handed over only after it succeeded). More only
   * where a write handed over behind a failed one of the same partition is refused (a
   * TransactionRolledBackError) until the partition re-opens, so a failed unit never has a
   * successor in a later commit: the shared transaction, whose commit cycle decides what it
   * covers by offset.
   */
  readonly writesAhead: number;
  /** Makes this worker the partition's writer; older owners are fenced here. */
  open(): Promise<void>;
  /**
   * Where the partition starts, read after open() fenced older owners: the offset committed
   * for it (by the group in Kafka, or in the sink's own table), null when none yet.
   */
  startOffset(): Promise<string | null>;
  /** At-most-once acknowledges input before the handler runs; the others do nothing. */
  acknowledgeOnReceipt(nextOffset: string): Promise<void>;
  /**
   * Of these decoded records, the deliveries already consumed once and recorded with an
   * earlier commit (the sink: a retry copy written again after a crash); the task drops them.
   * Strategies whose commit includes the copy's write never see one twice: always empty.
   */
  consumedBefore(records: readonly InputRecord[]): Promise<ReadonlySet<InputRecord>>;
  /**
   * Runs one handler call (a record, or a batch being isolated) in the scope the committer
   * gives it, with the context fields it adds (the sink: a savepoint, `ctx.db`, `ctx.once`).
   * A failure undoes the call's writes and is rethrown, routed by the error policy. A call that
   * returned synchronously may come back synchronously (no promise per record where no scope is needed).
   */
  runHandlerCall<T>(context: HandlerContext, call: (context: HandlerContext) => T | Promise<T>): T | Promise<T>;
  /**
   * Writes a unit (an empty one, with no outputs and no records, moves the offset past filtered
   * records). A strategy whose write commits, or whose interval has run out, commits here and
   * tells the listener before this returns.
   */
  write(unit: CommitUnit): Promise<void>;
  /** Commits pending work now (rebalance, drain); the listener hears of it. */
  commit(): Promise<void>;
  /** Drops uncommitted work; `reason` reaches the other partitions of a shared transaction. */
  abort(reason?: unknown): Promise<void>;
  close(): Promise<void>;
}


export interface CommitResult {
  readonly records: number;
  readonly nextOffset: string;
}

export interface CommitStrategy {
  readonly name: CommitStrategyName | 'postgres';
  readonly guarantee: 'exactly-once' | 'at-least-once' | 'at-most-once';
  /** Per-message hands the handler one record at a time. */
  readonly recordsPerUnit?: number;
  forPartition(partition: TopicPartition, listener: CommitListener): PartitionCommitter;
  /** Commits whatever is pending, for every partition (before a rebalance revokes them). */
  flush(): Promise<void>;
  /** Checks what the strategy needs before the group is joined (the sink's database); a failure fails the start. */
  start?(): Promise<void>;
  /** Why the strategy is not ready while it starts (the sink waiting for its database), or undefined. */
  notReadyReason?(): string | undefined;
  close(): Promise<void>;
}

/** KIP-447: the consumer's membership, sent with transactional offset commits so the coordinator can refuse a zombie's. */
export interface GroupMembership {
  readonly generationId: number;
  readonly memberId: string;
  readonly groupInstanceId: string | null;
}

export interface StrategyContext {
  readonly kafka: Kafka;
  readonly groupId: string;
  /** Names this worker's transactional producer; stable across restarts lets a restart abort its predecessor's transaction at once. */
  readonly transactionalId: string;
  readonly transactionTimeoutMs: number;
  /** How long a transaction's first request retries CONCURRENT_TRANSACTIONS (the previous one still ending); at most transactionTimeoutMs. */
  readonly concurrentTransactionsTimeoutMs: number;
  readonly commitIntervalMs: number;
  /** The generation the consumer is in now (undefined before the first join). */
  readonly membership: () => GroupMembership | undefined;
  /**
   * Counts transactions (one per commit cycle, whatever number of partitions it held) and times the
   * commits; an abort says why (`abortCause` of its reason: a Kafka error code's name or an error class).
   */
  readonly onTransactionEnded: (result: 'committed' | 'aborted', durationMs: number, cause?: string) => void;
  /** Counts and times the consumer's own offset commits (the non-transactional strategies). */
  readonly onOffsetsCommitted: (durationMs: number) => void;
  /** The group's committed offset of a partition, read stable (it waits out a pending transaction); null when none. */
  readonly readCommittedOffset: (partition: TopicPartition) => Promise<string | null>;
  /** The consumer's own offset commit (generation-checked), for the non-transactional strategies. */
  readonly commitOffsets: (offsets: TopicPartitionOffset[]) => Promise<void>;
  readonly logger: Logger;
  /** Aborted when the worker stops: what the strategy waits for at start gives up. */
  readonly signal: AbortSignal;
}

/**
 * One transactional producer per pipeline consumer: the group id says which pipeline, the
 * instance id which worker. Zombies are fenced by the group generation (KIP-447), not by this id.
 */
export function transactionalIdFor(groupId: string, instanceId: string): string {
  return `${groupId}.${instanceId}`;
}

/** For committers whose handler calls need no scope of their own: the call runs as it is. */
export function unscopedHandlerCall<T>(context: HandlerContext, call: (context: HandlerContext) => T | Promise<T>): T | Promise<T> {
  return call(context);
}

/** For committers whose commit includes every copy's write: no delivery is ever seen twice. */
export async function noneConsumedBefore(): Promise<ReadonlySet<InputRecord>> {
  return NONE_CONSUMED;
}

const NONE_CONSUMED: ReadonlySet<InputRecord> = new Set();
