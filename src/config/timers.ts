/**
 * Timer settings as Node and the broker take them. Node clamps a setTimeout past
 * 2^31-1 ms to 1 ms (with a warning), so an enormous timeout would fire at once; the
 * broker refuses a session timeout outside its group limits at JoinGroup, after start.
 */

export const MAX_TIMER_MS = 2_147_483_647;

export interface GroupTimers {
  readonly sessionTimeoutMs: number;
  readonly heartbeatIntervalMs: number;
  readonly rebalanceTimeoutMs: number;
  readonly drainTimeoutMs: number;
}

/** The broker's group.min.session.timeout.ms and group.max.session.timeout.ms. */
export interface BrokerGroupLimits {
  readonly minSessionTimeoutMs: number;
  readonly maxSessionTimeoutMs: number;
}

/** Every problem, each naming the setting and the accepted range (empty when all are sound). */
export function groupTimerProblems(timers: GroupTimers, limits?: BrokerGroupLimits): string[] {
  const problems: string[] = [];
  for (const [name, value] of Object.entries(timers)) {
    if (!Number.isInteger(value) || value < 0 || value > MAX_TIMER_MS) {
      problems.push(`${name} ${String(value)} is out of range; accepted: 0..${MAX_TIMER_MS} ms (Node's timer limit)`);
    }
  }
  if (timers.heartbeatIntervalMs >= timers.sessionTimeoutMs) {
    problems.push(
      `heartbeatIntervalMs ${timers.heartbeatIntervalMs} must be below sessionTimeoutMs ${timers.sessionTimeoutMs}; accepted: 1..${timers.sessionTimeoutMs - 1} ms (a third of it or less is usual)`,
    );
  }
  if (limits && (timers.sessionTimeoutMs < limits.minSessionTimeoutMs || timers.sessionTimeoutMs > limits.maxSessionTimeoutMs)) {
    problems.push(
      `sessionTimeoutMs ${timers.sessionTimeoutMs} is outside the broker's group limits; accepted: ${limits.minSessionTimeoutMs}..${limits.maxSessionTimeoutMs} ms (group.min.session.timeout.ms, group.max.session.timeout.ms)`,
    );
  }
  return problems;
}
