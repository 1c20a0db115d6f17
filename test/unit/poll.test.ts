import { describe, expect, it, vi } from 'vitest';
import { pollUntil } from '../../src/util/poll.js';

describe('pollUntil', () => {
  it('reads every interval until an answer, false included, and resolves it', async () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const answers = [undefined, undefined, false];
      const reads: number[] = [];
      const polled = pollUntil(10_000, async () => {
        reads.push(Date.now());
        return answers.shift();
      });
      await vi.advanceTimersByTimeAsync(1_000);
      await expect(polled).resolves.toBe(false);
      expect(reads).toEqual([0, 200, 400]);
    } finally {
      vi.useRealTimers();
    }
  });

  it('gives up with undefined once a read at or past the deadline has no answer', async () => {
    vi.useFakeTimers({ now: 0 });
    try {
      let reads = 0;
      const polled = pollUntil(500, async () => {
        reads++;
        return undefined;
      });
      await vi.advanceTimersByTimeAsync(5_000);
      await expect(polled).resolves.toBeUndefined();
      // At 0, 200, 400 and 600: the last is the first at or past 500.
      expect(reads).toBe(4);
      // A deadline already passed: one read.
      let once = 0;
      await expect(pollUntil(0, async () => void once++)).resolves.toBeUndefined();
      expect(once).toBe(1);
    } finally {
      vi.useRealTimers();
    }
  });
});
