import type { Kafka, Message, TopicPartitionOffset } from 'kafkajs';
import type { Logger } from 'pino';
import type { CommitStrategyName } from '../config/defaults.js';
import type { HandlerContext, InputRecord } from '../pipeline/records.js';

/**
 * A commit strategy decides when outputs become visible and when input offsets
 * move: the whole difference between exactly-once, at-least-once and
 * at-most-once lives behind this interface.
 */

export interface TopicPartition {
  readonly topic: string;
  readonly partition: number;
}

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
}

export interface PartitionCommitter {
  readonly transactionalId?: string;
  /** Makes this worker the partition's writer; the transactional strategy fences older owners here. */
  open(): Promise<void>;
  /** At-most-once acknowledges input before the handler runs; the others do nothing. */
  acknowledgeOnReceipt(nextOffset: string): Promise<void>;
  write(unit: CommitUnit): Promise<void>;
  /** Milliseconds since uncommitted work began, or undefined when nothing is pending. */
  pendingForMs(): number | undefined;
  commit(): Promise<CommitResult | undefined>;
  /** Drops uncommitted work; only the transactional strategy has any. */
  abort(): Promise<void>;
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
  forPartition(partition: TopicPartition): PartitionCommitter;
  /** Checks what the strategy needs before the group is joined (the sink's database); a failure fails the start. */
  start?(): Promise<void>;
  close(): Promise<void>;
}

export interface StrategyContext {
  readonly kafka: Kafka;
  readonly groupId: string;
  readonly transactionTimeoutMs: number;
  /** The consumer's own offset commit (generation-checked), for the non-transactional strategies. */
  readonly commitOffsets: (offsets: TopicPartitionOffset[]) => Promise<void>;
  readonly logger: Logger;
}

/** Stable per (group, topic, partition): a new owner's init fences the old one. */
export function transactionalIdFor(groupId: string, partition: TopicPartition): string {
  return `${groupId}.${partition.topic}.${partition.partition}`;
}
