import { describe, expect, it } from 'vitest';
import { type BackoffOptions, backoffDelay } from '../../src/util/backoff.js';

const base: BackoffOptions = { initialMs: 100, multiplier: 2, maxMs: 10_000 };

describe('backoffDelay', () => {
  it('starts at initialMs for the first retry', () => {
    expect(backoffDelay(base, 1)).toBe(100);
  });

  it('grows by the multiplier with each attempt', () => {
    expect([1, 2, 3, 4, 5].map((attempt) => backoffDelay(base, attempt))).toEqual([100, 200, 400, 800, 1600]);
  });

  it('uses a non-integer multiplier', () => {
    expect(backoffDelay({ initialMs: 100, multiplier: 1.5, maxMs: 10_000 }, 3)).toBe(225);
  });

  it('treats attempt 0 and negative attempts like the first retry', () => {
    expect(backoffDelay(base, 0)).toBe(100);
    expect(backoffDelay(base, -3)).toBe(100);
  });

  it('caps the delay at maxMs', () => {
    expect(backoffDelay(base, 7)).toBe(6400);
    expect(backoffDelay(base, 8)).toBe(10_000);
    expect(backoffDelay(base, 50)).toBe(10_000);
  });

  it('caps at maxMs even when initialMs is above it', () => {
    expect(backoffDelay({ initialMs: 5000, multiplier: 2, maxMs: 1000 }, 1)).toBe(1000);
  });

  it('ignores random when no jitter is configured', () => {
    expect(backoffDelay(base, 3, () => 0.99)).toBe(400);
    expect(backoffDelay({ ...base, jitter: 0 }, 3, () => 0.99)).toBe(400);
  });

  it('draws the jittered delay from [d·(1−jitter), d]', () => {
    const options = { ...base, jitter: 0.5 };
    expect(backoffDelay(options, 3, () => 0)).toBe(400);
    expect(backoffDelay(options, 3, () => 1)).toBe(200);
    expect(backoffDelay(options, 3, () => 0.5)).toBe(300);
  });

  it('applies jitter to the capped delay', () => {
    expect(backoffDelay({ ...base, jitter: 0.2 }, 30, () => 1)).toBe(8000);
  });

  it('stays inside the jitter range for many random draws', () => {
    const options = { ...base, jitter: 0.25 };
    for (let i = 0; i <= 100; i++) {
      const delay = backoffDelay(options, 4, () => i / 100);
      expect(delay).toBeGreaterThanOrEqual(600);
      expect(delay).toBeLessThanOrEqual(800);
    }
  });

  it('clamps jitter into 0..1', () => {
    expect(backoffDelay({ ...base, jitter: 5 }, 2, () => 1)).toBe(0);
    expect(backoffDelay({ ...base, jitter: -1 }, 2, () => 1)).toBe(200);
  });

  it('returns whole milliseconds', () => {
    const delay = backoffDelay({ initialMs: 333, multiplier: 1, maxMs: 1000, jitter: 0.3 }, 1, () => 0.123);
    expect(Number.isInteger(delay)).toBe(true);
    expect(delay).toBe(Math.round(333 * (1 - 0.3 * 0.123)));
  });
});
