import { describe, expect, it } from 'vitest';
import { DEFAULT_BACKOFF, DEFAULT_ERROR_POLICY, type ErrorPolicy, errorPolicySchema, resolveErrorPolicy } from '../../src/config/error-policy.js';
import { retryTopicOf } from '../../src/pipeline/topic-names.js';

function issuesOf(input: unknown) {
  const result = errorPolicySchema.safeParse(input);
  expect(result.success, `expected ${JSON.stringify(input)} to be rejected`).toBe(false);
  return result.error?.issues ?? [];
}

describe('errorPolicySchema', () => {
  it('accepts retry with attempts alone and defaults then to dead-letter', () => {
    expect(errorPolicySchema.parse({ onError: 'retry', attempts: 3 })).toEqual({ onError: 'retry', attempts: 3, then: 'dead-letter' });
  });

  it('accepts retry with a partial backoff and then skip', () => {
    expect(errorPolicySchema.parse({ onError: 'retry', attempts: 20, backoff: { initialMs: 50, jitter: 0 }, then: 'skip' })).toEqual({
      onError: 'retry',
      attempts: 20,
      backoff: { initialMs: 50, jitter: 0 },
      then: 'skip',
    });
  });

  it('accepts block with or without a backoff', () => {
    expect(errorPolicySchema.parse({ onError: 'block' })).toEqual({ onError: 'block' });
    expect(errorPolicySchema.parse({ onError: 'block', backoff: { maxMs: 5000 } })).toEqual({ onError: 'block', backoff: { maxMs: 5000 } });
  });

  it('accepts dead-letter and skip', () => {
    expect(errorPolicySchema.parse({ onError: 'dead-letter' })).toEqual({ onError: 'dead-letter' });
    expect(errorPolicySchema.parse({ onError: 'skip' })).toEqual({ onError: 'skip' });
  });

  it('accepts a full backoff at its bounds', () => {
    const backoff = { initialMs: 0, multiplier: 1, maxMs: 86_400_000, jitter: 1 };
    expect(errorPolicySchema.parse({ onError: 'retry', attempts: 1, backoff })).toMatchObject({ backoff });
  });

  it.each([
    [{ onError: 'retry', attempts: 3, extra: true }, 'extra'],
    [{ onError: 'skip', attempts: 3 }, 'attempts'],
    [{ onError: 'dead-letter', then: 'skip' }, 'then'],
    [{ onError: 'block', attempts: 2 }, 'attempts'],
  ])('rejects the unknown key of %j by name', (input, key) => {
    const [issue, ...rest] = issuesOf(input);
    expect(rest).toEqual([]);
    expect(issue).toMatchObject({ code: 'unrecognized_keys', keys: [key], path: [] });
    expect(issue?.message).toContain(key);
  });

  it('rejects an unknown backoff key at its path', () => {
    const [issue] = issuesOf({ onError: 'retry', attempts: 3, backoff: { initialMs: 5, delay: 1 } });
    expect(issue).toMatchObject({ code: 'unrecognized_keys', keys: ['delay'], path: ['backoff'] });
  });

  it.each([0, -1])('rejects attempts %i as too small', (attempts) => {
    const [issue] = issuesOf({ onError: 'retry', attempts });
    expect(issue).toMatchObject({ code: 'too_small', path: ['attempts'], minimum: 1 });
    expect(issue?.message).toMatch(/>=\s*1/);
  });

  it('rejects more than 20 attempts', () => {
    expect(issuesOf({ onError: 'retry', attempts: 21 })[0]).toMatchObject({ code: 'too_big', path: ['attempts'], maximum: 20 });
  });

  it('rejects fractional and missing attempts under retry', () => {
    expect(issuesOf({ onError: 'retry', attempts: 2.5 })[0]?.path).toEqual(['attempts']);
    expect(issuesOf({ onError: 'retry' })[0]).toMatchObject({ code: 'invalid_type', path: ['attempts'] });
  });

  it.each([{ onError: 'requeue' }, { attempts: 3 }, { onError: 'Retry', attempts: 3 }])(
    'rejects %j naming the valid onError values',
    (input) => {
      const [issue] = issuesOf(input);
      expect(issue?.path).toEqual(['onError']);
      for (const option of ['retry', 'block', 'dead-letter', 'skip']) expect(issue?.message).toContain(option);
    },
  );

  it('rejects then other than dead-letter or skip', () => {
    expect(issuesOf({ onError: 'retry', attempts: 3, then: 'block' })[0]?.path).toEqual(['then']);
  });

  it.each([
    [{ jitter: 1.5 }, 'jitter'],
    [{ jitter: -0.1 }, 'jitter'],
    [{ multiplier: 0.5 }, 'multiplier'],
    [{ initialMs: -1 }, 'initialMs'],
    [{ maxMs: 86_400_001 }, 'maxMs'],
    [{ initialMs: 1.5 }, 'initialMs'],
  ])('rejects backoff %j at backoff.%s', (backoff, key) => {
    expect(issuesOf({ onError: 'retry', attempts: 3, backoff })[0]?.path).toEqual(['backoff', key]);
  });

  it('rejects non-objects', () => {
    expect(issuesOf('retry').length).toBeGreaterThan(0);
    expect(issuesOf(null).length).toBeGreaterThan(0);
  });
});

describe('DEFAULT_ERROR_POLICY', () => {
  it('retries three times with exponential backoff, then dead-letters', () => {
    expect(DEFAULT_BACKOFF).toEqual({ initialMs: 1000, multiplier: 2, maxMs: 60_000, jitter: 0.1 });
    expect(DEFAULT_ERROR_POLICY).toEqual({ onError: 'retry', attempts: 3, backoff: DEFAULT_BACKOFF, then: 'dead-letter' });
  });

  it('is a valid policy', () => {
    expect(errorPolicySchema.parse(DEFAULT_ERROR_POLICY)).toEqual(DEFAULT_ERROR_POLICY);
  });
});

describe('resolveErrorPolicy', () => {
  it('uses the default policy when none is given', () => {
    expect(resolveErrorPolicy(undefined)).toEqual({ onError: 'retry', attempts: 3, backoff: DEFAULT_BACKOFF, then: 'dead-letter', keyOrderOnRetry: 'overtake' });
  });

  it('fills a missing backoff from the defaults', () => {
    expect(resolveErrorPolicy(errorPolicySchema.parse({ onError: 'retry', attempts: 5 }))).toEqual({
      onError: 'retry',
      attempts: 5,
      backoff: DEFAULT_BACKOFF,
      then: 'dead-letter',
      keyOrderOnRetry: 'overtake',
    });
  });

  it('fills the missing fields of a partial backoff', () => {
    const resolved = resolveErrorPolicy(errorPolicySchema.parse({ onError: 'retry', attempts: 2, backoff: { initialMs: 250, jitter: 0 }, then: 'skip' }));
    expect(resolved).toEqual({
      onError: 'retry',
      attempts: 2,
      backoff: { initialMs: 250, multiplier: 2, maxMs: 60_000, jitter: 0 },
      then: 'skip',
      keyOrderOnRetry: 'overtake',
    });
  });

  it('keeps the block backoff and gives block no retry attempts', () => {
    expect(resolveErrorPolicy({ onError: 'block', backoff: { maxMs: 5000 } })).toEqual({
      onError: 'block',
      attempts: 0,
      backoff: { ...DEFAULT_BACKOFF, maxMs: 5000 },
      then: 'dead-letter',
      keyOrderOnRetry: 'overtake',
    });
  });

  it.each<ErrorPolicy>([{ onError: 'dead-letter' }, { onError: 'skip' }, { onError: 'block' }])(
    'gives %j no retry attempts and the default backoff',
    (chosen) => {
      expect(resolveErrorPolicy(chosen)).toEqual({ onError: chosen.onError, attempts: 0, backoff: DEFAULT_BACKOFF, then: 'dead-letter', keyOrderOnRetry: 'overtake' });
    },
  );

  it('does not share or modify the default backoff', () => {
    const resolved = resolveErrorPolicy(undefined);
    expect(resolved.backoff).not.toBe(DEFAULT_BACKOFF);
    resolveErrorPolicy({ onError: 'retry', attempts: 1, backoff: { initialMs: 1 }, then: 'dead-letter' });
    expect(DEFAULT_BACKOFF.initialMs).toBe(1000);
  });

  it('holds a key behind its retries only when asked, and only under retry', () => {
    expect(resolveErrorPolicy(errorPolicySchema.parse({ onError: 'retry', attempts: 2, keyOrderOnRetry: 'hold' })).keyOrderOnRetry).toBe('hold');
    expect(errorPolicySchema.safeParse({ onError: 'block', keyOrderOnRetry: 'hold' }).success).toBe(false);
    expect(errorPolicySchema.safeParse({ onError: 'retry', attempts: 2, keyOrderOnRetry: 'always' }).success).toBe(false);
  });

  // A backoff key present with the value undefined must not wipe its default (delays would become NaN).
  it('keeps the default for a backoff key given as undefined', () => {
    const parsed = errorPolicySchema.parse({ onError: 'retry', attempts: 3, backoff: { initialMs: undefined, maxMs: 5000 } });
    expect(resolveErrorPolicy(parsed).backoff).toEqual({ ...DEFAULT_BACKOFF, maxMs: 5000 });
  });
});

describe('retryTopicOf', () => {
  it('names one topic per attempt after the input topic', () => {
    expect(retryTopicOf('orders', 1)).toBe('orders.retry.1');
    expect(retryTopicOf('orders', 3)).toBe('orders.retry.3');
    expect(retryTopicOf('orders.v2', 12)).toBe('orders.v2.retry.12');
  });
});
