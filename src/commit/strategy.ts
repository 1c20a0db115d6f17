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
}

/**
 * How a partition task hears about commits it did not start: under the shared transaction,
 * one partition's commit (or failure) commits (or rolls back) every partition in it.
 */
export interface CommitListener {
  /** The partition's pending work is durable: the next record to read is `result.nextOffset`. */
  committed(result: CommitResult): void;
  /** The transaction holding the partition's pending work was aborted: that work is gone. */
  rolledBack(error: unknown): void;
}

export interface PartitionCommitter {
  readonly transactionalId?: string;
  /**
   * The strategy runs one commit cycle for all partitions on its own timer: the task does not
   * schedule commits, and learns of them through its CommitListener.
   */
  readonly sharedCommitCycle?: boolean;
  /** Makes this worker the partition's writer; the transactional strategy fences older owners here. */
  open(): Promise<void>;
  /** At-most-once acknowledges input before the handler runs; the others do nothing. */
  acknowledgeOnReceipt(nextOffset: string): Promise<void>;
  write(unit: CommitUnit): Promise<void>;
  /** Milliseconds since uncommitted work began, or undefined when nothing is pending. */
  pendingForMs(): number | undefined;
  /** Commits pending work; a shared cycle reports through the listeners instead of the result. */
  commit(): Promise<CommitResult | undefined>;
  /** Drops uncommitted work (only the transactional strategy has any); `reason` reaches the listeners. */
  abort(reason?: unknown): Promise<void>;
  close(): Promise<void>;
  /**
   * Committers that keep the input offsets themselves (the PostgreSQL sink): where the
   * partition starts, read after open() fenced it; null when nothing was committed yet.
   * Absent: the group's committed offset in Kafka.
   */
  readStartOffset?(): Promise<string | null>;
  /**
   * Committers whose handlers write through them (the PostgreSQL sink): runs one handler call
   * (a record, or a batch being isolated) in a scope that can be undone alone (a savepoint),
   * with the context fields it provides (`ctx.db`, `ctx.once`). A failure undoes the call's
   * writes and is rethrown, routed by the error policy like any handler failure.
   */
  runHandlerCall?<T>(call: (fields: CommitterContextFields) => Promise<T>): Promise<T>;
  /**
   * Committers whose commit cannot include the Kafka write of a retry copy (the PostgreSQL sink):
   * of these decoded records, the deliveries already consumed once (a retry copy written again
   * after a crash), recorded in the same transaction as the unit. The task drops them.
   */
  consumedBefore?(records: readonly InputRecord[]): Promise<ReadonlySet<InputRecord>>;
}

/** The handler-context fields a committer may supply. */
export type CommitterContextFields = Pick<HandlerContext, 'db' | 'once'>;

export interface CommitResult {
  readonly records: number;
  readonly nextOffset: string;
  readonly durationMs: number;
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
  readonly commitIntervalMs: number;
  /** The generation the consumer is in now (undefined before the first join). */
  readonly membership: () => GroupMembership | undefined;
  /** Counts transactions (one per commit cycle, whatever number of partitions it held) and times the commits. */
  readonly onTransactionEnded: (result: 'committed' | 'aborted', durationMs: number) => void;
  /** The consumer's own offset commit (generation-checked), for the non-transactional strategies. */
  readonly commitOffsets: (offsets: TopicPartitionOffset[]) => Promise<void>;
  readonly logger: Logger;
}

/**
 * One transactional producer per pipeline consumer: the group id says which pipeline, the
 * instance id which worker. Zombies are fenced by the group generation (KIP-447), not by this id.
 */
export function transactionalIdFor(groupId: string, instanceId: string): string {
  return `${groupId}.${instanceId}`;
}
