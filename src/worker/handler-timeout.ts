import { HandlerTimeoutError } from '../errors/index.js';

/**
 * Bounds one handler call. A handler promise that never settles must not hold its
 * partition, nor (KafkaJS waits for every batch of a fetch) the consumer's other
 * partitions. Past `timeoutMs` the call fails with HandlerTimeoutError and `abort` is
 * called, so the handler can see `ctx.signal` and stop; what it returns later is ignored.
 * `onStuck` runs once, half-way, while the call is still pending, so the log names
 * the stuck record before it times out.
 */
export async function withHandlerTimeout<T>(
  call: () => T | Promise<T>,
  options: {
    readonly timeoutMs: number;
    readonly records: string;
    readonly abort: () => void;
    readonly onStuck: (elapsedMs: number) => void;
    /** Called at the timeout; the function it returns is called when the abandoned call settles. */
    readonly onAbandoned?: () => () => void;
  },
): Promise<T> {
  const { timeoutMs, records, abort, onStuck, onAbandoned } = options;
  if (!(timeoutMs > 0)) return call();
  let stuckTimer: NodeJS.Timeout | undefined;
  let timeoutTimer: NodeJS.Timeout | undefined;
  const started = Date.now();
  const running = Promise.resolve().then(call);
  const timedOut = new Promise<never>((_, reject) => {
    stuckTimer = setTimeout(() => onStuck(Date.now() - started), Math.floor(timeoutMs / 2));
    timeoutTimer = setTimeout(() => {
      const settled = onAbandoned?.();
      if (settled) running.then(settled, settled);
      abort();
      reject(new HandlerTimeoutError(records, timeoutMs));
    }, timeoutMs);
  });
  // The abandoned call may still reject later: that must not become an unhandled rejection.
  running.catch(() => {});
  try {
    return await Promise.race([running, timedOut]);
  } finally {
    clearTimeout(stuckTimer);
    clearTimeout(timeoutTimer);
  }
}
