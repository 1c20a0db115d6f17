import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/errors/index.js';
import { DLT_HEADERS, deadLetterMessage, deadLetterTopicOf, type FailedRecord } from '../../src/routing/dead-letter.js';
import { LINEAGE_HEADER, parseLineage } from '../../src/routing/lineage.js';

const NOW = Date.UTC(2024, 4, 6, 7, 8, 9, 123);

function failedRecord(overrides: Partial<FailedRecord> = {}): FailedRecord {
  return {
    topic: 'orders.v1',
    partition: 4,
    offset: '1001',
    timestamp: '1700000000000',
    key: Buffer.from('order-7'),
    value: Buffer.from('{"broken":'),
    headers: { 'trace-id': 'abc', 'binary-header': Buffer.from([1, 2, 3]) },
    ...overrides,
  };
}

describe('deadLetterTopicOf', () => {
  it('appends .dlt to the input topic', () => {
    expect(deadLetterTopicOf('orders')).toBe('orders.dlt');
  });
});

describe('deadLetterMessage', () => {
  it('keeps the original key and value bytes', () => {
    const record = failedRecord();
    const message = deadLetterMessage(record, new Error('boom'), 'non-retryable', NOW);
    expect(message.key).toBe(record.key);
    expect(message.value).toBe(record.value);
  });

  it('keeps null key and value', () => {
    const message = deadLetterMessage(failedRecord({ key: null, value: null }), new Error('boom'), 'r', NOW);
    expect(message.key).toBeNull();
    expect(message.value).toBeNull();
  });

  it('keeps the original headers', () => {
    const message = deadLetterMessage(failedRecord(), new Error('boom'), 'r', NOW);
    expect(message.headers?.['trace-id']).toBe('abc');
    expect(message.headers?.['binary-header']).toEqual(Buffer.from([1, 2, 3]));
  });

  it('adds every DLT header with the record coordinates and failure details', () => {
    const error = new DecodeError('not JSON');
    const message = deadLetterMessage(failedRecord(), error, 'non-retryable', NOW);
    const headers = message.headers ?? {};
    expect(headers[DLT_HEADERS.originalTopic]).toBe('orders.v1');
    expect(headers[DLT_HEADERS.originalPartition]).toBe('4');
    expect(headers[DLT_HEADERS.originalOffset]).toBe('1001');
    expect(headers[DLT_HEADERS.originalTimestamp]).toBe('1700000000000');
    expect(headers[DLT_HEADERS.errorClass]).toBe('DecodeError');
    expect(headers[DLT_HEADERS.errorMessage]).toBe('not JSON');
    expect(headers[DLT_HEADERS.errorStack]).toBe(error.stack);
    expect(headers[DLT_HEADERS.failedAt]).toBe('2024-05-06T07:08:09.123Z');
    expect(headers[DLT_HEADERS.reason]).toBe('non-retryable');
    for (const name of Object.values(DLT_HEADERS)) expect(headers, name).toHaveProperty([name]);
  });

  it('uses stable header names', () => {
    expect(DLT_HEADERS).toEqual({
      originalTopic: 'txstream-original-topic',
      originalPartition: 'txstream-original-partition',
      originalOffset: 'txstream-original-offset',
      originalTimestamp: 'txstream-original-timestamp',
      errorClass: 'txstream-error-class',
      errorMessage: 'txstream-error-message',
      errorStack: 'txstream-error-stack',
      failedAt: 'txstream-failed-at',
      reason: 'txstream-dlt-reason',
    });
  });

  it('adds a lineage header pointing at the failed record', () => {
    const message = deadLetterMessage(failedRecord(), new Error('boom'), 'r', NOW);
    expect(message.headers?.[LINEAGE_HEADER]).toBe('orders.v1/4/1001');
    expect(parseLineage(message.headers?.[LINEAGE_HEADER] as string)).toEqual({ topic: 'orders.v1', partition: 4, offset: '1001' });
  });

  it('replaces an inherited lineage header and DLT headers with those of this failure', () => {
    const record = failedRecord({
      headers: { [LINEAGE_HEADER]: 'upstream/0/5', [DLT_HEADERS.reason]: 'old-reason', [DLT_HEADERS.originalTopic]: 'upstream' },
    });
    const message = deadLetterMessage(record, new Error('boom'), 'retries-exhausted', NOW);
    expect(message.headers?.[LINEAGE_HEADER]).toBe('orders.v1/4/1001');
    expect(message.headers?.[DLT_HEADERS.reason]).toBe('retries-exhausted');
    expect(message.headers?.[DLT_HEADERS.originalTopic]).toBe('orders.v1');
  });

  it('truncates the stack to 2048 characters', () => {
    const error = new Error('deep');
    error.stack = `Error: deep\n${'    at frame (file.js:1:1)\n'.repeat(500)}`;
    expect(error.stack.length).toBeGreaterThan(2048);
    const stack = deadLetterMessage(failedRecord(), error, 'r', NOW).headers?.[DLT_HEADERS.errorStack] as string;
    expect(stack).toHaveLength(2048);
    expect(stack).toBe(error.stack.slice(0, 2048));
  });

  it('truncates a very long error message to 2048 characters', () => {
    const message = deadLetterMessage(failedRecord(), new Error('x'.repeat(5000)), 'r', NOW);
    expect(message.headers?.[DLT_HEADERS.errorMessage]).toBe('x'.repeat(2048));
  });

  it('names the class of a custom error subclass', () => {
    class PaymentRejected extends Error {
      override name = 'PaymentRejected';
    }
    const message = deadLetterMessage(failedRecord(), new PaymentRejected('card declined'), 'r', NOW);
    expect(message.headers?.[DLT_HEADERS.errorClass]).toBe('PaymentRejected');
    expect(message.headers?.[DLT_HEADERS.errorMessage]).toBe('card declined');
  });

  it('describes a thrown non-Error by its type, with an empty stack', () => {
    const message = deadLetterMessage(failedRecord(), 'plain string failure', 'r', NOW);
    expect(message.headers?.[DLT_HEADERS.errorClass]).toBe('string');
    expect(message.headers?.[DLT_HEADERS.errorMessage]).toBe('plain string failure');
    expect(message.headers?.[DLT_HEADERS.errorStack]).toBe('');
  });

  it('uses the current time when none is given', () => {
    const before = Date.now();
    const failedAt = deadLetterMessage(failedRecord(), new Error('boom'), 'r').headers?.[DLT_HEADERS.failedAt] as string;
    const at = Date.parse(failedAt);
    expect(at).toBeGreaterThanOrEqual(before);
    expect(at).toBeLessThanOrEqual(Date.now());
  });

  it('does not modify the failed record', () => {
    const record = failedRecord();
    const headersBefore = { ...record.headers };
    deadLetterMessage(record, new Error('boom'), 'r', NOW);
    expect(record.headers).toEqual(headersBefore);
  });
});
