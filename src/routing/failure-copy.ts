import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import { describeThrown } from '../errors/index.js';
import { headerText } from '../kafka/headers.js';
import { encodeLineage, LINEAGE_HEADER } from '../pipeline/lineage.js';
import { FAILURE_HEADERS, REPLAY_HEADERS } from './failure-headers.js';

/**
 * Copies of failed records for retry and dead-letter topics: the original key,
 * value and user headers, plus the failure headers (failure-headers.ts) that say where
 * the record came from, how often it failed, why, and when it may be tried again.
 */

const TXSTREAM_HEADERS = new Set<string>([...Object.values(FAILURE_HEADERS), ...Object.values(REPLAY_HEADERS), LINEAGE_HEADER]);
const TEXT_LIMIT = 2048;

/** Where a record first entered the pipeline, and how often it has failed since. */
export interface Origin {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly timestamp: string;
  /** This delivery's attempt: 1 for the original record, n+1 for a copy after n failures. */
  readonly attempt: number;
  readonly firstFailedAt?: string;
}

export interface Failure {
  readonly error: unknown;
  readonly now: number;
  /** Retry copies: when the next attempt is due. */
  readonly dueAt?: number;
  /** Dead-letter copies: why the record ends there. */
  readonly reason?: string;
}

/**
 * The origin of a fetched record: from the failure headers when it was read from a
 * retry topic, else the record itself. Headers are trusted only on retry topics: a
 * pipeline reading another pipeline's dead-letter topic sees those records as its own.
 */
export function originOf(topic: string, partition: number, message: KafkaMessage, fromRetryTopic: boolean): Origin {
  const headers = message.headers ?? {};
  if (!fromRetryTopic) return { topic, partition, offset: message.offset, timestamp: message.timestamp, attempt: 1 };
  const originalTopic = headerText(headers[FAILURE_HEADERS.originalTopic]);
  const failures = Number(headerText(headers[FAILURE_HEADERS.attempt]));
  if (originalTopic === undefined || !Number.isInteger(failures) || failures < 1) {
    return { topic, partition, offset: message.offset, timestamp: message.timestamp, attempt: 1 };
  }
  const originalPartition = Number(headerText(headers[FAILURE_HEADERS.originalPartition]));
  return {
    topic: originalTopic,
    partition: Number.isInteger(originalPartition) ? originalPartition : partition,
    offset: headerText(headers[FAILURE_HEADERS.originalOffset]) ?? message.offset,
    timestamp: headerText(headers[FAILURE_HEADERS.originalTimestamp]) ?? message.timestamp,
    attempt: failures + 1,
    firstFailedAt: headerText(headers[FAILURE_HEADERS.firstFailedAt]),
  };
}

/** When a retry copy may be processed (0 for a record that is not a retry copy). */
export function dueAtOf(message: KafkaMessage): number {
  const due = Number(headerText(message.headers?.[FAILURE_HEADERS.dueAt]));
  return Number.isFinite(due) ? due : 0;
}

export function failureCopy(message: KafkaMessage, origin: Origin, failure: Failure): Message {
  const failedAt = new Date(failure.now).toISOString();
  const thrown = describeThrown(failure.error);
  const headers: IHeaders = {
    ...userHeaders(message.headers),
    [LINEAGE_HEADER]: encodeLineage(origin),
    [FAILURE_HEADERS.attempt]: String(origin.attempt),
    [FAILURE_HEADERS.firstFailedAt]: origin.firstFailedAt ?? failedAt,
    [FAILURE_HEADERS.failedAt]: failedAt,
    [FAILURE_HEADERS.originalTopic]: origin.topic,
    [FAILURE_HEADERS.originalPartition]: String(origin.partition),
    [FAILURE_HEADERS.originalOffset]: origin.offset,
    [FAILURE_HEADERS.originalTimestamp]: origin.timestamp,
    [FAILURE_HEADERS.errorClass]: thrown.className.slice(0, TEXT_LIMIT),
    [FAILURE_HEADERS.errorMessage]: thrown.message.slice(0, TEXT_LIMIT),
    [FAILURE_HEADERS.errorStack]: thrown.stack.slice(0, TEXT_LIMIT),
    ...(message.key ? { [FAILURE_HEADERS.originalKey]: message.key } : {}),
    ...(failure.dueAt === undefined ? {} : { [FAILURE_HEADERS.dueAt]: String(failure.dueAt) }),
    ...(failure.reason === undefined ? {} : { [FAILURE_HEADERS.reason]: failure.reason }),
  };
  // The copy is stamped now (the original time is in a header): retention on the retry and
  // dead-letter topics then counts from the failure, not from when the record was first written.
  return { key: message.key ?? null, value: message.value ?? null, headers, timestamp: String(failure.now) };
}

/**
 * The record's own headers, without txstream's bookkeeping (a replay starts clean). Built with
 * fromEntries, not by assignment: a header named `__proto__` (any name a producer sends) must stay
 * a header of the copy, where assigning it would set the copy's prototype and drop it.
 */
export function userHeaders(headers: KafkaMessage['headers']): IHeaders {
  return Object.fromEntries(Object.entries(headers ?? {}).filter(([name, value]) => !TXSTREAM_HEADERS.has(name) && value !== undefined)) as IHeaders;
}
