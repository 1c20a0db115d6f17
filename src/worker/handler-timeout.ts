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

/** The signal one handler call sees, and the two ways it ends. */
export interface HandlerSignal {
  readonly signal: AbortSignal;
  /** Aborts the call's signal (its timeout) and detaches it from the parent. */
  abort(reason: unknown): void;
  /** Detaches the call's signal from the parent once the call settled. */
  release(): void;
}

/**
 * A per-call signal that aborts when `parent` (the worker's drain) aborts or when `abort` is called
 * (the call's timeout). A plain AbortController forwarding the parent's abort, not
 * `AbortSignal.any([parent, timeout])`: on Node 24.16–24.21 a composite signal nobody listens to reads
 * its sources through weak references, so once the timeout's controller was garbage-collected an
 * abandoned handler's `ctx.signal.aborted` read false again (nodejs/node#65995). A listener-observed
 * composite also stays in a long-lived source's dependant set (nodejs/node#64476), one per call. Here
 * the abort state lives on the call's own signal, and `release` removes the parent listener, so the
 * worker's signal holds nothing per call.
 */
export function handlerSignal(parent: AbortSignal): HandlerSignal {
  const controller = new AbortController();
  if (parent.aborted) {
    controller.abort(parent.reason);
    return { signal: controller.signal, abort: () => {}, release: () => {} };
  }
  const follow = (): void => controller.abort(parent.reason);
  const release = (): void => parent.removeEventListener('abort', follow);
  parent.addEventListener('abort', follow, { once: true });
  return {
    signal: controller.signal,
    abort: (reason) => {
      controller.abort(reason);
      release();
    },
    release,
  };
}
