/**
 * Liveness from the event loop's point of view: a timer that should fire every `intervalMs`
 * measures how late it fires. A process whose loop was blocked longer than `maxDelayMs` (a
 * synchronous handler spinning, a runaway regex) stays "blocked" for `holdMs` afterwards, so a
 * probe that arrives once the loop is free still sees it. (A probe that arrives while the loop is
 * blocked gets no answer at all, which a probe counts as a failure too.)
 */
export interface EventLoopWatch {
  /** undefined while healthy; otherwise what was seen. */
  blocked(now?: number): string | undefined;
  stop(): void;
}

export interface EventLoopWatchOptions {
  readonly maxDelayMs: number;
  readonly holdMs: number;
  readonly intervalMs?: number;
}

export function watchEventLoop(options: EventLoopWatchOptions): EventLoopWatch {
  const intervalMs = options.intervalMs ?? Math.min(500, Math.max(10, Math.floor(options.maxDelayMs / 4)));
  let expected = Date.now() + intervalMs;
  let last: { at: number; delayMs: number } | undefined;
  const timer = setInterval(() => {
    const now = Date.now();
    const delayMs = now - expected;
    expected = now + intervalMs;
    if (delayMs > options.maxDelayMs) last = { at: now, delayMs };
  }, intervalMs);
  // The watch never keeps a draining process alive.
  timer.unref();
  return {
    blocked(now = Date.now()) {
      // Late right now (the timer has not run since the loop came back)?
      const current = now - expected;
      if (current > options.maxDelayMs) return `event loop blocked for ${current} ms (limit ${options.maxDelayMs} ms)`;
      if (last && now - last.at < options.holdMs) {
        return `event loop was blocked for ${last.delayMs} ms ${now - last.at} ms ago (limit ${options.maxDelayMs} ms)`;
      }
      return undefined;
    },
    stop() {
      clearInterval(timer);
    },
  };
}
