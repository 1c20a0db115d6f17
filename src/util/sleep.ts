/**
 * Waits `ms`, unless one of the signals aborts first. Resolves true when the time has passed,
 * false when it was cut short; never rejects, so a retry loop can always ask whether to go on.
 */
export function sleepUnless(ms: number, signals: readonly AbortSignal[]): Promise<boolean> {
  if (signals.some((signal) => signal.aborted)) return Promise.resolve(false);
  return new Promise((resolve) => {
    const stop = (slept: boolean) => {
      clearTimeout(timer);
      for (const signal of signals) signal.removeEventListener('abort', interrupted);
      resolve(slept);
    };
    const interrupted = () => stop(false);
    const timer = setTimeout(() => stop(true), ms);
    for (const signal of signals) signal.addEventListener('abort', interrupted, { once: true });
  });
}
