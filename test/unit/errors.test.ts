import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  DecodeError,
  errorMessage,
  HandlerContractError,
  HandlerTimeoutError,
  isNonRetryable,
  NonRetryableError,
  nonRetryable,
  ProducerFencedError,
} from '../../src/errors/index.js';
import { abortCause, isFencingError } from '../../src/kafka/errors.js';

describe('isNonRetryable', () => {
  it('is true for NonRetryableError and its subclasses', () => {
    expect(isNonRetryable(new NonRetryableError('no'))).toBe(true);
    expect(isNonRetryable(new DecodeError('bad bytes'))).toBe(true);
    expect(isNonRetryable(new HandlerContractError('bad shape'))).toBe(true);
  });

  it('is true for a user subclass of NonRetryableError', () => {
    class InvalidOrder extends NonRetryableError {}
    expect(isNonRetryable(new InvalidOrder('missing id'))).toBe(true);
  });

  it('is true for any object marked retryable: false', () => {
    expect(isNonRetryable({ retryable: false })).toBe(true);
    expect(isNonRetryable(Object.assign(new Error('x'), { retryable: false }))).toBe(true);
  });

  it('is false for ordinary and retryable errors', () => {
    expect(isNonRetryable(new Error('transient'))).toBe(false);
    expect(isNonRetryable(new TypeError('oops'))).toBe(false);
    expect(isNonRetryable(Object.assign(new Error('x'), { retryable: true }))).toBe(false);
    expect(isNonRetryable(new ProducerFencedError('tx-1'))).toBe(false);
    expect(isNonRetryable(new ConfigError('bad'))).toBe(false);
  });

  it('requires retryable to be exactly false', () => {
    expect(isNonRetryable({ retryable: 0 })).toBe(false);
    expect(isNonRetryable({ retryable: 'false' })).toBe(false);
    expect(isNonRetryable({ retryable: undefined })).toBe(false);
  });

  it('is false for non-objects', () => {
    for (const value of [null, undefined, 'error', 42, false]) expect(isNonRetryable(value)).toBe(false);
  });
});

describe('nonRetryable', () => {
  it('wraps an Error, keeping its message and the error as cause', () => {
    const original = new Error('lookup failed');
    const wrapped = nonRetryable(original);
    expect(wrapped).toBeInstanceOf(NonRetryableError);
    expect(wrapped.message).toBe('lookup failed');
    expect(wrapped.cause).toBe(original);
    expect(isNonRetryable(wrapped)).toBe(true);
  });

  it('wraps a thrown non-Error by its string form', () => {
    const wrapped = nonRetryable('just a string');
    expect(wrapped.message).toBe('just a string');
    expect(wrapped.cause).toBe('just a string');
    expect(isNonRetryable(wrapped)).toBe(true);
  });

  it('wraps a value that cannot be rendered as a string (no prototype, a revoked Proxy) instead of throwing in its place', () => {
    const bare = Object.create(null) as object;
    expect(nonRetryable(bare).cause).toBe(bare);
    expect(nonRetryable(bare).message).toBe('[object Object]');
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    expect(isNonRetryable(nonRetryable(proxy))).toBe(true);
  });

  it('returns a NonRetryableError (or subclass) unchanged', () => {
    const decode = new DecodeError('bad');
    expect(nonRetryable(decode)).toBe(decode);
  });
});

describe('error classes', () => {
  it('give each class its name', () => {
    expect(new NonRetryableError('m').name).toBe('NonRetryableError');
    expect(new DecodeError('m').name).toBe('DecodeError');
    expect(new HandlerContractError('m').name).toBe('HandlerContractError');
    expect(new ConfigError('m').name).toBe('ConfigError');
    expect(new ProducerFencedError('tx').name).toBe('ProducerFencedError');
  });

  it('prefixes a ConfigError message with its source', () => {
    const error = new ConfigError('must be a number', '--batch-size');
    expect(error.message).toBe('--batch-size: must be a number');
    expect(error.source).toBe('--batch-size');
    expect(new ConfigError('plain').message).toBe('plain');
  });

  it('names the transactional id of a fenced producer', () => {
    const cause = new Error('epoch');
    const error = new ProducerFencedError('txstream-enrich-orders-3', { cause });
    expect(error.transactionalId).toBe('txstream-enrich-orders-3');
    expect(error.message).toContain('txstream-enrich-orders-3');
    expect(error.cause).toBe(cause);
  });

  it('gives the message of errors and the string form of other values', () => {
    expect(errorMessage(new Error('boom'))).toBe('boom');
    expect(errorMessage('text')).toBe('text');
    expect(errorMessage(42)).toBe('42');
    expect(errorMessage(undefined)).toBe('undefined');
  });
});

describe('isFencingError', () => {
  it.each(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED'])('is true for type %s', (type) => {
    expect(isFencingError({ type })).toBe(true);
  });

  it('is true for code 90 (PRODUCER_FENCED, unknown to KafkaJS) and code 47 (INVALID_PRODUCER_EPOCH)', () => {
    expect(isFencingError({ code: 90 })).toBe(true);
    expect(isFencingError({ code: 47 })).toBe(true);
  });

  it('is true for a fencing message without type or code', () => {
    expect(isFencingError(new Error('Producer attempted an operation with an old epoch: producer epoch is stale'))).toBe(true);
    expect(
      isFencingError(
        new Error('There is a newer producer with the same transactionalId which fences the current one; producer was fenced'),
      ),
    ).toBe(true);
  });

  it('finds a fencing error nested in cause', () => {
    const inner = { type: 'INVALID_PRODUCER_EPOCH' };
    expect(isFencingError(new Error('commit failed', { cause: inner }))).toBe(true);
    expect(isFencingError({ message: 'outer', cause: { message: 'middle', cause: { code: 90 } } })).toBe(true);
  });

  it('finds a fencing error nested in originalError (KafkaJS retrier)', () => {
    expect(isFencingError({ type: 'KafkaJSNumberOfRetriesExceeded', originalError: { code: 90 } })).toBe(true);
  });

  it('is false for other Kafka errors and plain errors', () => {
    expect(isFencingError({ type: 'REQUEST_TIMED_OUT', code: 7 })).toBe(false);
    expect(isFencingError({ type: 'NOT_LEADER_FOR_PARTITION', code: 6, cause: { code: 5 } })).toBe(false);
    expect(isFencingError(new Error('connection refused'))).toBe(false);
    expect(isFencingError(new Error('wrapped', { cause: new Error('socket hang up') }))).toBe(false);
  });

  it('is false for empty values', () => {
    for (const value of [null, undefined, '', 0, {}]) expect(isFencingError(value)).toBe(false);
  });

  it('terminates on a cause cycle', () => {
    const a: { message: string; cause?: unknown } = { message: 'a' };
    const b = { message: 'b', cause: a };
    a.cause = b;
    expect(isFencingError(a)).toBe(false);
  });
});

describe('abortCause', () => {
  it("names the Kafka error code, however deep KafkaJS's wrappers put it", () => {
    const protocol = Object.assign(new Error('There is already a transaction in progress'), { name: 'KafkaJSProtocolError', type: 'CONCURRENT_TRANSACTIONS' });
    const exhausted = Object.assign(new Error('retries exceeded'), { name: 'KafkaJSNumberOfRetriesExceeded', cause: protocol });
    expect(abortCause(protocol)).toBe('CONCURRENT_TRANSACTIONS');
    expect(abortCause(exhausted)).toBe('CONCURRENT_TRANSACTIONS');
    expect(abortCause(new ProducerFencedError('tx', { cause: Object.assign(new Error('epoch'), { type: 'INVALID_PRODUCER_EPOCH' }) }))).toBe('INVALID_PRODUCER_EPOCH');
  });

  it("names a KafkaJS or txstream error class, and anything else (a handler's own errors) 'other'", () => {
    expect(abortCause(Object.assign(new Error('connection closed'), { name: 'KafkaJSConnectionClosedError' }))).toBe('KafkaJSConnectionClosedError');
    expect(abortCause(new HandlerTimeoutError('in[0]@5', 10))).toBe('HandlerTimeoutError');
    // A record failing under the block policy is named by its wrapper, not by the handler's own error.
    expect(abortCause(Object.assign(new Error('record at offset 5 failed under the block policy'), { name: 'BlockedRecord', cause: new TypeError('x') }))).toBe('BlockedRecord');
    class ShippingApiDown extends Error {}
    expect(abortCause(new ShippingApiDown('503'))).toBe('other');
    expect(abortCause('a string')).toBe('other');
    expect(abortCause(undefined)).toBe('other');
  });
});
