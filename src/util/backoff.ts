/** Backoff delays, pure so they can be tested and reused by every retry path. */
export interface BackoffOptions {
  readonly initialMs: number;
  readonly multiplier: number;
  readonly maxMs: number;
  /** 0..1: the delay is drawn from [d·(1−jitter), d]. */
  readonly jitter?: number;
}

/** Delay before attempt `attempt` (1 = the first retry). */
export function backoffDelay(options: BackoffOptions, attempt: number, random: () => number = Math.random): number {
  const exponent = Math.max(0, attempt - 1);
  const base = Math.min(options.maxMs, options.initialMs * options.multiplier ** exponent);
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0));
  return Math.round(base * (1 - jitter * random()));
}
