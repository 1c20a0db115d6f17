import type { Message } from 'kafkajs';
import { DEFAULTS } from '../config/defaults.js';
import { errorMessage } from '../errors/index.js';
import { encodeLineage, LINEAGE_HEADER } from './lineage.js';

/**
 * Dead-letter copies: the original bytes, key and headers, plus headers that say
 * where the record came from and why it failed. Header names are stable API.
 */
export const DLT_HEADERS = {
  originalTopic: 'txstream-original-topic',
  originalPartition: 'txstream-original-partition',
  originalOffset: 'txstream-original-offset',
  originalTimestamp: 'txstream-original-timestamp',
  errorClass: 'txstream-error-class',
  errorMessage: 'txstream-error-message',
  errorStack: 'txstream-error-stack',
  failedAt: 'txstream-failed-at',
  reason: 'txstream-dlt-reason',
} as const;

const STACK_LIMIT = 2048;

export function deadLetterTopicOf(topic: string): string {
  return `${topic}${DEFAULTS.deadLetterSuffix}`;
}

export interface FailedRecord {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
  readonly timestamp: string;
  readonly key: Buffer | null;
  readonly value: Buffer | null;
  readonly headers: Readonly<Record<string, Buffer | string>>;
}

export function deadLetterMessage(record: FailedRecord, error: unknown, reason: string, now = Date.now()): Message {
  const errorClass = error instanceof Error ? error.name : typeof error;
  const stack = error instanceof Error && error.stack ? error.stack.slice(0, STACK_LIMIT) : '';
  return {
    key: record.key,
    value: record.value,
    headers: {
      ...record.headers,
      [LINEAGE_HEADER]: encodeLineage(record),
      [DLT_HEADERS.originalTopic]: record.topic,
      [DLT_HEADERS.originalPartition]: String(record.partition),
      [DLT_HEADERS.originalOffset]: record.offset,
      [DLT_HEADERS.originalTimestamp]: record.timestamp,
      [DLT_HEADERS.errorClass]: errorClass,
      [DLT_HEADERS.errorMessage]: errorMessage(error).slice(0, STACK_LIMIT),
      [DLT_HEADERS.errorStack]: stack,
      [DLT_HEADERS.failedAt]: new Date(now).toISOString(),
      [DLT_HEADERS.reason]: reason,
    },
  };
}
