import type { IHeaders, KafkaMessage, Message } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { DecodeError } from '../../src/errors/index.js';
import { deadLetterTopicOf } from '../../src/pipeline/topic-names.js';
import { dueAtOf, failureCopy, type Origin, originOf, userHeaders } from '../../src/routing/failure-copy.js';
import { FAILURE_HEADERS, REPLAY_HEADERS } from '../../src/routing/failure-headers.js';
import { LINEAGE_HEADER, parseLineage } from '../../src/pipeline/lineage.js';

const NOW = Date.UTC(2024, 4, 6, 7, 8, 9, 123);
const NOW_ISO = '2024-05-06T07:08:09.123Z';
const LATER = NOW + 65_000;
const LATER_ISO = '2024-05-06T07:09:14.123Z';

/** A record as KafkaJS fetches it from the input topic orders.v1, partition 4. */
function fetchedMessage(overrides: Partial<KafkaMessage> = {}): KafkaMessage {
  return {
    key: Buffer.from('order-7'),
    value: Buffer.from('{"broken":'),
    timestamp: '1700000000000',
    attributes: 0,
    offset: '1001',
    headers: { 'trace-id': Buffer.from('abc'), 'binary-header': Buffer.from([1, 2, 3]) },
    ...overrides,
  } as KafkaMessage;
}

/** What a consumer of a retry topic fetches after `copy` was produced: header values arrive as Buffers. */
function fetchedCopy(copy: Message, offset: string, timestamp = '1800000000000'): KafkaMessage {
  const headers: IHeaders = {};
  for (const [name, value] of Object.entries(copy.headers ?? {})) {
    if (value === undefined) continue;
    headers[name] = Array.isArray(value) ? value.map((item) => Buffer.from(item)) : Buffer.from(value);
  }
  const key = copy.key === null || copy.key === undefined ? null : Buffer.from(copy.key);
  const value = copy.value === null || copy.value === undefined ? null : Buffer.from(copy.value);
  return { key, value, timestamp, attributes: 0, offset, headers } as KafkaMessage;
}

function errorWithStack(message: string, stack: string): Error {
  const error = new Error(message);
  error.stack = stack;
  return error;
}

function firstFailure(message = fetchedMessage(), error: unknown = errorWithStack('boom', 'Error: boom\n    at handler'), dueAt?: number): Message {
  return failureCopy(message, originOf('orders.v1', 4, message, false), { error, now: NOW, ...(dueAt === undefined ? {} : { dueAt }) });
}

describe('deadLetterTopicOf', () => {
  it('appends .dlt to the input topic', () => {
    expect(deadLetterTopicOf('orders')).toBe('orders.dlt');
    expect(deadLetterTopicOf('orders.v2')).toBe('orders.v2.dlt');
  });
});

describe('header names', () => {
  it('are stable API', () => {
    expect(FAILURE_HEADERS).toEqual({
      attempt: 'txstream-attempt',
      dueAt: 'txstream-due-at',
      firstFailedAt: 'txstream-first-failed-at',
      failedAt: 'txstream-failed-at',
      originalTopic: 'txstream-original-topic',
      originalPartition: 'txstream-original-partition',
      originalOffset: 'txstream-original-offset',
      originalTimestamp: 'txstream-original-timestamp',
      originalKey: 'txstream-original-key',
      errorClass: 'txstream-error-class',
      errorMessage: 'txstream-error-message',
      errorStack: 'txstream-error-stack',
      reason: 'txstream-dlt-reason',
      truncated: 'txstream-payload-truncated',
    });
    expect(REPLAY_HEADERS).toEqual({ replayedFrom: 'txstream-replayed-from', replayedAt: 'txstream-replayed-at' });
  });
});

describe('failureCopy of a first failure', () => {
  it('keeps the key and value bytes', () => {
    const message = fetchedMessage();
    const copy = firstFailure(message);
    expect(copy.key).toBe(message.key);
    expect(copy.value).toBe(message.value);
  });

  it('keeps a null key and value, and adds no original key header', () => {
    const copy = firstFailure(fetchedMessage({ key: null, value: null }));
    expect(copy.key).toBeNull();
    expect(copy.value).toBeNull();
    expect(copy.headers).not.toHaveProperty([FAILURE_HEADERS.originalKey]);
  });

  it('keeps the user headers', () => {
    const headers = firstFailure().headers ?? {};
    expect(headers['trace-id']).toEqual(Buffer.from('abc'));
    expect(headers['binary-header']).toEqual(Buffer.from([1, 2, 3]));
  });

  it('sets every failure header but dueAt and reason from the record and the error', () => {
    const message = fetchedMessage();
    const copy = firstFailure(message, errorWithStack('not JSON', 'DecodeError: not JSON\n    at decode'));
    expect(copy.headers).toEqual({
      'trace-id': Buffer.from('abc'),
      'binary-header': Buffer.from([1, 2, 3]),
      [LINEAGE_HEADER]: 'orders.v1/4/1001',
      [FAILURE_HEADERS.attempt]: '1',
      [FAILURE_HEADERS.firstFailedAt]: NOW_ISO,
      [FAILURE_HEADERS.failedAt]: NOW_ISO,
      [FAILURE_HEADERS.originalTopic]: 'orders.v1',
      [FAILURE_HEADERS.originalPartition]: '4',
      [FAILURE_HEADERS.originalOffset]: '1001',
      [FAILURE_HEADERS.originalTimestamp]: '1700000000000',
      [FAILURE_HEADERS.originalKey]: message.key,
      [FAILURE_HEADERS.errorClass]: 'Error',
      [FAILURE_HEADERS.errorMessage]: 'not JSON',
      [FAILURE_HEADERS.errorStack]: 'DecodeError: not JSON\n    at decode',
    });
  });

  it('names the error class of a txstream error and keeps its real stack', () => {
    const error = new DecodeError('not JSON');
    const headers = firstFailure(fetchedMessage(), error).headers ?? {};
    expect(headers[FAILURE_HEADERS.errorClass]).toBe('DecodeError');
    expect(headers[FAILURE_HEADERS.errorStack]).toBe(error.stack);
    expect(headers[FAILURE_HEADERS.errorStack]).toContain('not JSON');
  });

  it('stamps the copy with the failure time, so retention counts from the failure', () => {
    expect(firstFailure().timestamp).toBe(String(NOW));
  });

  it('sets dueAt only when given', () => {
    expect(firstFailure().headers).not.toHaveProperty([FAILURE_HEADERS.dueAt]);
    expect(firstFailure(fetchedMessage(), new Error('boom'), NOW + 1000).headers?.[FAILURE_HEADERS.dueAt]).toBe(String(NOW + 1000));
  });

  it('sets the reason only when given', () => {
    expect(firstFailure().headers).not.toHaveProperty([FAILURE_HEADERS.reason]);
    const message = fetchedMessage();
    const copy = failureCopy(message, originOf('orders.v1', 4, message, false), { error: new Error('x'), now: NOW, reason: 'non-retryable' });
    expect(copy.headers?.[FAILURE_HEADERS.reason]).toBe('non-retryable');
    expect(copy.headers).not.toHaveProperty([FAILURE_HEADERS.dueAt]);
  });

  it('points the lineage header at the failed record', () => {
    const lineage = firstFailure().headers?.[LINEAGE_HEADER] as string;
    expect(parseLineage(lineage)).toEqual({ topic: 'orders.v1', partition: 4, offset: '1001' });
  });

  it('drops txstream headers the record carried in favour of those of this failure', () => {
    const message = fetchedMessage({
      headers: {
        'trace-id': 'abc',
        [LINEAGE_HEADER]: 'upstream/0/5',
        [FAILURE_HEADERS.reason]: 'old-reason',
        [FAILURE_HEADERS.dueAt]: '123',
        [FAILURE_HEADERS.errorStack]: 'old stack',
        [REPLAY_HEADERS.replayedFrom]: 'orders.v1.dlt/0/3',
        [REPLAY_HEADERS.replayedAt]: '2024-01-01T00:00:00.000Z',
      },
    });
    const copy = failureCopy(message, originOf('orders.v1', 4, message, false), { error: 'plain', now: NOW });
    const headers = copy.headers ?? {};
    expect(headers[LINEAGE_HEADER]).toBe('orders.v1/4/1001');
    expect(headers).not.toHaveProperty([FAILURE_HEADERS.reason]);
    expect(headers).not.toHaveProperty([FAILURE_HEADERS.dueAt]);
    expect(headers).not.toHaveProperty([REPLAY_HEADERS.replayedFrom]);
    expect(headers).not.toHaveProperty([REPLAY_HEADERS.replayedAt]);
    expect(headers[FAILURE_HEADERS.errorStack]).toBe('');
    expect(headers['trace-id']).toBe('abc');
  });

  it('does not modify the fetched message', () => {
    const message = fetchedMessage();
    const before = { ...message, headers: { ...message.headers } };
    firstFailure(message, new Error('boom'), NOW + 10);
    expect(message).toEqual(before);
  });
});

describe('failureCopy of a copy', () => {
  const firstError = errorWithStack('timeout', 'Error: timeout\n    at call');
  const secondError = new TypeError('cannot read id');

  function secondCopy(reason?: string): { copy: Message; origin: Origin } {
    const first = failureCopy(fetchedMessage(), originOf('orders.v1', 4, fetchedMessage(), false), { error: firstError, now: NOW, dueAt: NOW + 1000 });
    const fetched = fetchedCopy(first, '17');
    const origin = originOf('orders.v1.retry.1', 0, fetched, true);
    const copy = failureCopy(fetched, origin, { error: secondError, now: LATER, ...(reason === undefined ? {} : { reason }) });
    return { copy, origin };
  }

  it('takes the origin from the failure headers', () => {
    expect(secondCopy().origin).toEqual({
      topic: 'orders.v1',
      partition: 4,
      offset: '1001',
      timestamp: '1700000000000',
      attempt: 2,
      firstFailedAt: NOW_ISO,
    });
  });

  it('counts the attempt up, keeps the first failure time and the originals, and describes the new error', () => {
    const headers = secondCopy('retries-exhausted').copy.headers ?? {};
    expect(headers).toEqual({
      'trace-id': Buffer.from('abc'),
      'binary-header': Buffer.from([1, 2, 3]),
      [LINEAGE_HEADER]: 'orders.v1/4/1001',
      [FAILURE_HEADERS.attempt]: '2',
      [FAILURE_HEADERS.firstFailedAt]: NOW_ISO,
      [FAILURE_HEADERS.failedAt]: LATER_ISO,
      [FAILURE_HEADERS.originalTopic]: 'orders.v1',
      [FAILURE_HEADERS.originalPartition]: '4',
      [FAILURE_HEADERS.originalOffset]: '1001',
      [FAILURE_HEADERS.originalTimestamp]: '1700000000000',
      [FAILURE_HEADERS.originalKey]: Buffer.from('order-7'),
      [FAILURE_HEADERS.errorClass]: 'TypeError',
      [FAILURE_HEADERS.errorMessage]: 'cannot read id',
      [FAILURE_HEADERS.errorStack]: secondError.stack,
      [FAILURE_HEADERS.reason]: 'retries-exhausted',
    });
  });

  it('drops the dueAt of the earlier copy', () => {
    expect(secondCopy().copy.headers).not.toHaveProperty([FAILURE_HEADERS.dueAt]);
  });

  it('stamps the second copy with its own failure time; the original time stays in its header', () => {
    expect(secondCopy().copy.timestamp).not.toBe('1700000000000');
    expect(secondCopy().copy.headers?.['txstream-original-timestamp']).toBe('1700000000000');
  });

  it('keeps the key and value through every copy', () => {
    const { copy } = secondCopy();
    expect(copy.key).toEqual(Buffer.from('order-7'));
    expect(copy.value).toEqual(Buffer.from('{"broken":'));
  });

  it('counts on through a third copy and keeps lineage on the original record', () => {
    const { copy: second } = secondCopy();
    const fetched = fetchedCopy(second, '3');
    const origin = originOf('orders.v1.retry.2', 1, fetched, true);
    expect(origin.attempt).toBe(3);
    const third = failureCopy(fetched, origin, { error: new Error('again'), now: LATER + 1 });
    expect(third.headers?.[FAILURE_HEADERS.attempt]).toBe('3');
    expect(third.headers?.[FAILURE_HEADERS.firstFailedAt]).toBe(NOW_ISO);
    expect(third.headers?.[LINEAGE_HEADER]).toBe('orders.v1/4/1001');
    expect(third.headers?.[FAILURE_HEADERS.originalOffset]).toBe('1001');
  });
});

describe('failureCopy error details', () => {
  it('truncates the stack to 2048 characters', () => {
    const error = errorWithStack('deep', `Error: deep\n${'    at frame (file.js:1:1)\n'.repeat(500)}`);
    expect(error.stack?.length).toBeGreaterThan(2048);
    const stack = firstFailure(fetchedMessage(), error).headers?.[FAILURE_HEADERS.errorStack] as string;
    expect(stack).toHaveLength(2048);
    expect(stack).toBe(error.stack?.slice(0, 2048));
  });

  it('truncates the message to 2048 characters', () => {
    expect(firstFailure(fetchedMessage(), new Error('x'.repeat(5000))).headers?.[FAILURE_HEADERS.errorMessage]).toBe('x'.repeat(2048));
  });

  it('keeps a message and stack of exactly 2048 characters whole', () => {
    const error = errorWithStack('m'.repeat(2048), 's'.repeat(2048));
    const headers = firstFailure(fetchedMessage(), error).headers ?? {};
    expect(headers[FAILURE_HEADERS.errorMessage]).toBe('m'.repeat(2048));
    expect(headers[FAILURE_HEADERS.errorStack]).toBe('s'.repeat(2048));
  });

  it('names the class of a custom error', () => {
    class PaymentRejected extends Error {
      override name = 'PaymentRejected';
    }
    const headers = firstFailure(fetchedMessage(), new PaymentRejected('card declined')).headers ?? {};
    expect(headers[FAILURE_HEADERS.errorClass]).toBe('PaymentRejected');
    expect(headers[FAILURE_HEADERS.errorMessage]).toBe('card declined');
  });

  it.each([
    ['plain string failure', 'string', 'plain string failure'],
    [42, 'number', '42'],
    [undefined, 'undefined', 'undefined'],
    [{ retryable: false }, 'object', '[object Object]'],
  ])('describes the thrown non-Error %j by its type, with an empty stack', (thrown, errorClass, text) => {
    const message = fetchedMessage();
    const headers = failureCopy(message, originOf('orders.v1', 4, message, false), { error: thrown, now: NOW }).headers ?? {};
    expect(headers[FAILURE_HEADERS.errorClass]).toBe(errorClass);
    expect(headers[FAILURE_HEADERS.errorMessage]).toBe(text);
    expect(headers[FAILURE_HEADERS.errorStack]).toBe('');
  });
});

describe('originOf', () => {
  it('gives a plain record its own coordinates and attempt 1', () => {
    const origin = originOf('orders.v1', 4, fetchedMessage(), false);
    expect(origin).toStrictEqual({ topic: 'orders.v1', partition: 4, offset: '1001', timestamp: '1700000000000', attempt: 1 });
  });

  it('gives a record without headers attempt 1', () => {
    const { headers: _headers, ...message } = fetchedMessage();
    expect(originOf('orders', 0, message as KafkaMessage, false).attempt).toBe(1);
  });

  it('reads a retry copy from its failure headers, string or Buffer, taking the last of repeated values', () => {
    const message = fetchedMessage({
      offset: '9',
      timestamp: '1800000000000',
      headers: {
        [FAILURE_HEADERS.originalTopic]: Buffer.from('orders'),
        [FAILURE_HEADERS.originalPartition]: '2',
        [FAILURE_HEADERS.originalOffset]: Buffer.from('42'),
        [FAILURE_HEADERS.originalTimestamp]: '1700000000123',
        [FAILURE_HEADERS.attempt]: [Buffer.from('1'), Buffer.from('2')],
        [FAILURE_HEADERS.firstFailedAt]: NOW_ISO,
      },
    });
    expect(originOf('orders.retry.2', 0, message, true)).toEqual({
      topic: 'orders',
      partition: 2,
      offset: '42',
      timestamp: '1700000000123',
      attempt: 3,
      firstFailedAt: NOW_ISO,
    });
  });

  it.each([
    ['no original topic', { [FAILURE_HEADERS.attempt]: '2' }],
    ['no attempt', { [FAILURE_HEADERS.originalTopic]: 'orders' }],
    ['attempt 0', { [FAILURE_HEADERS.originalTopic]: 'orders', [FAILURE_HEADERS.attempt]: '0' }],
    ['a non-numeric attempt', { [FAILURE_HEADERS.originalTopic]: 'orders', [FAILURE_HEADERS.attempt]: 'two' }],
    ['a fractional attempt', { [FAILURE_HEADERS.originalTopic]: 'orders', [FAILURE_HEADERS.attempt]: '1.5' }],
  ])('treats a record with %s as a plain record', (_case, headers) => {
    const origin = originOf('orders.retry.1', 3, fetchedMessage({ headers }), true);
    expect(origin).toEqual({ topic: 'orders.retry.1', partition: 3, offset: '1001', timestamp: '1700000000000', attempt: 1 });
  });
});

describe('dueAtOf', () => {
  it('is 0 for a record that is not a retry copy', () => {
    expect(dueAtOf(fetchedMessage())).toBe(0);
    const { headers: _headers, ...message } = fetchedMessage();
    expect(dueAtOf(message as KafkaMessage)).toBe(0);
  });

  it('reads the due time of a retry copy', () => {
    expect(dueAtOf(fetchedMessage({ headers: { [FAILURE_HEADERS.dueAt]: Buffer.from(String(NOW)) } }))).toBe(NOW);
    expect(dueAtOf(fetchedMessage({ headers: { [FAILURE_HEADERS.dueAt]: '1700000005000' } }))).toBe(1700000005000);
  });

  it('round-trips the dueAt written by failureCopy', () => {
    expect(dueAtOf(fetchedCopy(firstFailure(fetchedMessage(), new Error('x'), NOW + 4000), '1'))).toBe(NOW + 4000);
  });

  it('is 0 for a garbled due time', () => {
    expect(dueAtOf(fetchedMessage({ headers: { [FAILURE_HEADERS.dueAt]: 'soon' } }))).toBe(0);
  });
});

describe('userHeaders', () => {
  it('keeps user headers and drops every txstream header', () => {
    const bookkeeping = Object.fromEntries(
      [...Object.values(FAILURE_HEADERS), ...Object.values(REPLAY_HEADERS), LINEAGE_HEADER].map((name) => [name, 'x']),
    );
    const binary = Buffer.from([9]);
    expect(userHeaders({ ...bookkeeping, 'trace-id': 'abc', binary, repeated: ['a', 'b'] })).toEqual({
      'trace-id': 'abc',
      binary,
      repeated: ['a', 'b'],
    });
  });

  it('keeps a header named like a member of Object.prototype, __proto__ included, as a header of the copy', () => {
    const headers: Record<string, Buffer> = { constructor: Buffer.from('c') };
    Object.defineProperty(headers, '__proto__', { value: Buffer.from('p'), enumerable: true, writable: true, configurable: true });
    const kept = userHeaders(headers);
    expect(Object.getPrototypeOf(kept)).toBe(Object.prototype);
    expect(Object.keys(kept).sort()).toEqual(['__proto__', 'constructor']);
    expect(Object.getOwnPropertyDescriptor(kept, '__proto__')?.value).toEqual(Buffer.from('p'));
    const copy = firstFailure(fetchedMessage({ headers }));
    expect(Object.getOwnPropertyDescriptor(copy.headers, '__proto__')?.value).toEqual(Buffer.from('p'));
    expect(copy.headers?.constructor).toEqual(Buffer.from('c'));
  });

  it('skips undefined values and accepts missing headers', () => {
    expect(userHeaders({ gone: undefined, kept: 'yes' })).toEqual({ kept: 'yes' });
    expect(userHeaders(undefined)).toEqual({});
  });

  it('does not modify the headers it is given', () => {
    const headers = { [LINEAGE_HEADER]: 'a/0/1', kept: 'yes' };
    userHeaders(headers);
    expect(headers).toEqual({ [LINEAGE_HEADER]: 'a/0/1', kept: 'yes' });
  });
});
