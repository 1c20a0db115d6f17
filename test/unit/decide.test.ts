import { describe, expect, it, vi } from 'vitest';
import { DecodeError, HandlerContractError, NonRetryableError, nonRetryable, OutputRejectedError } from '../../src/errors/index.js';
import { decide } from '../../src/routing/decide.js';
import { type ErrorPolicy, resolveErrorPolicy, type ResolvedErrorPolicy } from '../../src/config/error-policy.js';

const backoff = { initialMs: 100, multiplier: 2, maxMs: 10_000, jitter: 0 };

function policy(errorPolicy: ErrorPolicy): ResolvedErrorPolicy {
  return resolveErrorPolicy(errorPolicy);
}

const retry = policy({ onError: 'retry', attempts: 3, backoff, then: 'dead-letter' });
const retryThenSkip = policy({ onError: 'retry', attempts: 3, backoff, then: 'skip' });
const block = policy({ onError: 'block', backoff });
const deadLetter = policy({ onError: 'dead-letter' });
const skip = policy({ onError: 'skip' });

const noRandom = () => {
  throw new Error('random must not be drawn');
};

describe('decide with a non-retryable error', () => {
  const nonRetryableErrors: [string, unknown, string][] = [
    ['a NonRetryableError', new NonRetryableError('bad data'), 'non-retryable'],
    ['a HandlerContractError', new HandlerContractError('not a record'), 'non-retryable'],
    ['an error wrapped by nonRetryable()', nonRetryable(new Error('bad')), 'non-retryable'],
    ['an object with retryable: false', { retryable: false, message: 'nope' }, 'non-retryable'],
    ['an Error with retryable: false', Object.assign(new Error('nope'), { retryable: false }), 'non-retryable'],
    ['a DecodeError', new DecodeError('not JSON'), 'decode-failed'],
    ['an OutputRejectedError', new OutputRejectedError('partition 7 does not exist', { topic: 'out', partition: 7 }), 'output-rejected'],
  ];

  describe.each([
    ['retry', retry],
    ['retry then skip', retryThenSkip],
    ['block', block],
    ['dead-letter', deadLetter],
  ])('under the %s policy', (_name, chosen) => {
    it.each(nonRetryableErrors)('sends %s straight to the dead-letter topic', (_case, error, reason) => {
      expect(decide(chosen, error, 'orders', 1, noRandom)).toEqual({ kind: 'dead-letter', reason });
    });
  });

  it.each(nonRetryableErrors)('skips %s under the skip policy', (_case, error, reason) => {
    expect(decide(skip, error, 'orders', 1, noRandom)).toEqual({ kind: 'skip', reason });
  });

  it('does not retry a non-retryable error on a later attempt either', () => {
    expect(decide(retry, new DecodeError('x'), 'orders', 2, noRandom)).toEqual({ kind: 'dead-letter', reason: 'decode-failed' });
  });

  it.each([
    ['retryable: true', { retryable: true }],
    ['retryable: "false"', { retryable: 'false' }],
    ['null', null],
    ['a string', 'false'],
  ])('treats %s as retryable', (_case, error) => {
    expect(decide(retry, error, 'orders', 1, () => 0)).toMatchObject({ kind: 'retry' });
  });
});

describe('decide under the retry policy', () => {
  it('sends failures 1 to 3 to the retry topic of that failure with growing delays', () => {
    const outcomes = [1, 2, 3].map((attempt) => decide(retry, new Error('timeout'), 'orders', attempt));
    expect(outcomes).toEqual([
      { kind: 'retry', topic: 'orders.retry.1', delayMs: 100 },
      { kind: 'retry', topic: 'orders.retry.2', delayMs: 200 },
      { kind: 'retry', topic: 'orders.retry.3', delayMs: 400 },
    ]);
  });

  it('names retry topics after the input topic, not the topic the copy was fetched from', () => {
    expect(decide(retry, new Error('x'), 'orders.v2', 2)).toMatchObject({ topic: 'orders.v2.retry.2' });
  });

  it('sends failure 4 to the dead-letter topic as retries-exhausted', () => {
    expect(decide(retry, new Error('timeout'), 'orders', 4, noRandom)).toEqual({ kind: 'dead-letter', reason: 'retries-exhausted' });
  });

  it('sends any later failure to the dead-letter topic too', () => {
    expect(decide(retry, new Error('timeout'), 'orders', 9, noRandom)).toEqual({ kind: 'dead-letter', reason: 'retries-exhausted' });
  });

  it('skips failure 4 when then is skip, after retrying like dead-letter', () => {
    expect(decide(retryThenSkip, new Error('x'), 'orders', 3, () => 0)).toEqual({ kind: 'retry', topic: 'orders.retry.3', delayMs: 400 });
    expect(decide(retryThenSkip, new Error('x'), 'orders', 4, noRandom)).toEqual({ kind: 'skip', reason: 'retries-exhausted' });
  });

  it('retries once with attempts 1', () => {
    const once = policy({ onError: 'retry', attempts: 1, backoff, then: 'dead-letter' });
    expect(decide(once, new Error('x'), 'orders', 1)).toEqual({ kind: 'retry', topic: 'orders.retry.1', delayMs: 100 });
    expect(decide(once, new Error('x'), 'orders', 2)).toEqual({ kind: 'dead-letter', reason: 'retries-exhausted' });
  });

  it('caps the delay at maxMs', () => {
    const capped = policy({ onError: 'retry', attempts: 5, backoff: { initialMs: 100, multiplier: 10, maxMs: 5000, jitter: 0 }, then: 'dead-letter' });
    expect([1, 2, 3, 4].map((attempt) => decide(capped, new Error('x'), 'orders', attempt))).toMatchObject([
      { delayMs: 100 },
      { delayMs: 1000 },
      { delayMs: 5000 },
      { delayMs: 5000 },
    ]);
  });

  it('draws jitter from the injected random source', () => {
    const jittered = policy({ onError: 'retry', attempts: 3, backoff: { ...backoff, jitter: 0.5 }, then: 'dead-letter' });
    const random = vi.fn(() => 0.5);
    expect(decide(jittered, new Error('x'), 'orders', 1, random)).toEqual({ kind: 'retry', topic: 'orders.retry.1', delayMs: 75 });
    expect(decide(jittered, new Error('x'), 'orders', 3, random)).toEqual({ kind: 'retry', topic: 'orders.retry.3', delayMs: 300 });
    expect(random).toHaveBeenCalledTimes(2);
  });

  it('keeps jittered delays between base·(1−jitter) and base', () => {
    const jittered = policy({ onError: 'retry', attempts: 3, backoff: { ...backoff, jitter: 0.5 }, then: 'dead-letter' });
    expect(decide(jittered, new Error('x'), 'orders', 2, () => 0)).toMatchObject({ delayMs: 200 });
    expect(decide(jittered, new Error('x'), 'orders', 2, () => 0.999_999)).toMatchObject({ delayMs: 100 });
  });

  it('uses the default policy: three retries from 1 s with 10 % jitter, then the dead-letter topic', () => {
    const defaults = resolveErrorPolicy(undefined);
    expect(decide(defaults, new Error('x'), 'orders', 1, () => 0)).toEqual({ kind: 'retry', topic: 'orders.retry.1', delayMs: 1000 });
    expect(decide(defaults, new Error('x'), 'orders', 1, () => 1)).toEqual({ kind: 'retry', topic: 'orders.retry.1', delayMs: 900 });
    expect(decide(defaults, new Error('x'), 'orders', 3, () => 0)).toEqual({ kind: 'retry', topic: 'orders.retry.3', delayMs: 4000 });
    expect(decide(defaults, new Error('x'), 'orders', 4)).toEqual({ kind: 'dead-letter', reason: 'retries-exhausted' });
  });
});

describe('decide under the other policies', () => {
  it.each([1, 2, 50])('blocks on attempt %i', (attempt) => {
    expect(decide(block, new Error('db down'), 'orders', attempt, noRandom)).toEqual({ kind: 'block' });
  });

  it.each([1, 4])('dead-letters on attempt %i under the dead-letter policy', (attempt) => {
    expect(decide(deadLetter, new Error('x'), 'orders', attempt, noRandom)).toEqual({ kind: 'dead-letter', reason: 'policy-dead-letter' });
  });

  it.each([1, 4])('skips on attempt %i under the skip policy', (attempt) => {
    expect(decide(skip, new Error('x'), 'orders', attempt, noRandom)).toEqual({ kind: 'skip', reason: 'policy-skip' });
  });

  it('never retries under the block, dead-letter and skip policies', () => {
    for (const chosen of [block, deadLetter, skip]) {
      expect(decide(chosen, 'string failure', 'orders', 1, noRandom).kind).not.toBe('retry');
    }
  });
});
