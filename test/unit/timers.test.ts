import { describe, expect, it } from 'vitest';
import { groupTimerProblems } from '../../src/config/timers.js';

const sound = { sessionTimeoutMs: 30_000, heartbeatIntervalMs: 3000, rebalanceTimeoutMs: 60_000, drainTimeoutMs: 30_000 };

describe('groupTimerProblems', () => {
  it('accepts the defaults within the broker defaults', () => {
    expect(groupTimerProblems(sound, { minSessionTimeoutMs: 6000, maxSessionTimeoutMs: 1_800_000 })).toEqual([]);
  });

  it('names each problem with its accepted range', () => {
    expect(groupTimerProblems({ ...sound, heartbeatIntervalMs: 30_000, drainTimeoutMs: 2 ** 31 }, { minSessionTimeoutMs: 45_000, maxSessionTimeoutMs: 60_000 })).toEqual([
      "drainTimeoutMs 2147483648 is out of range; accepted: 0..2147483647 ms (Node's timer limit)",
      'heartbeatIntervalMs 30000 must be below sessionTimeoutMs 30000; accepted: 1..29999 ms (a third of it or less is usual)',
      "sessionTimeoutMs 30000 is outside the broker's group limits; accepted: 45000..60000 ms (group.min.session.timeout.ms, group.max.session.timeout.ms)",
    ]);
  });
});
