import { describe, expect, it } from 'vitest';
import { commitDelayMs } from '../../src/commit/cadence.js';

describe('commitDelayMs', () => {
  it('starts a commit an interval after the previous one started, whatever the commit took', () => {
    // The previous commit began at 1,000 and took 23 ms; the next transaction begins at 1,023.
    expect(commitDelayMs(100, 1_000, 1_023)).toBe(77);
    expect(1_023 + commitDelayMs(100, 1_000, 1_023)).toBe(1_100);
  });

  it('keeps a transaction open at least half an interval when the previous commit took longer', () => {
    // A commit of 400 ms (hundreds of partitions): the next transaction is not committed at once.
    expect(commitDelayMs(100, 1_000, 1_400)).toBe(50);
    expect(commitDelayMs(101, 1_000, 1_400)).toBe(51);
  });

  it('commits the first transaction, and the first after a quiet spell, after half an interval', () => {
    expect(commitDelayMs(100, undefined, 5_000)).toBe(50);
    expect(commitDelayMs(100, 1_000, 60_000)).toBe(50);
    expect(commitDelayMs(1_000, 0, 10)).toBe(990);
  });
});
