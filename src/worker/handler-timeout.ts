import { HandlerTimeoutError } from '../errors/index.js';
import type { HandlerContext } from '../pipeline/records.js';
import { isPromiseLike } from '../util/promise.js';

/** What bounding an asynchronous handler call needs (made only for a call that returned a promise). */
export interface HandlerTimeoutOptions {
  /** Names the records in the timeout's error (a function: made only if the call times out). */
  readonly records: string | (() => string);
  readonly abort: () => void;
  readonly onStuck: (elapsedMs: number) => void;
  /** Called at the timeout; the function it returns is called when the abandoned call settles. */
  readonly onAbandoned?: () => () => void;
}

/**
 * Bounds one handler call, given what it returned (the call is made by the caller, which
 * handles what it throws: no closure per call). A handler promise that never settles must not
 * hold its partition, nor (KafkaJS waits for every batch of a fetch) the consumer's other
 * partitions. Past `timeoutMs` the call fails with HandlerTimeoutError and `abort` is
 * called, so the handler can see `ctx.signal` and stop; what it returns later is ignored.
 * `onStuck` runs once, half-way, while the call is still pending, so the log names
 * the stuck record before it times out.
 *
 * A call that returned synchronously is over: its result comes back as it is, with no timer
 * (none could have stopped it), no promise and no options made. Most record handlers are
 * synchronous, and the timers, promises and closures per record showed in profiles.
 */
export function boundHandlerResult<T>(result: T | Promise<T>, timeoutMs: number, options: () => HandlerTimeoutOptions): T | Promise<T> {
  if (!(timeoutMs > 0) || !isPromiseLike(result)) return result;
  return raceTimeout(Promise.resolve(result), timeoutMs, options());
}

async function raceTimeout<T>(running: Promise<T>, timeoutMs: number, { records, abort, onStuck, onAbandoned }: HandlerTimeoutOptions): Promise<T> {
  let stuckTimer: NodeJS.Timeout | undefined;
  let timeoutTimer: NodeJS.Timeout | undefined;
  const started = Date.now();
  const timedOut = new Promise<never>((_, reject) => {
    stuckTimer = setTimeout(() => onStuck(Date.now() - started), Math.floor(timeoutMs / 2));
    timeoutTimer = setTimeout(() => {
      const settled = onAbandoned?.();
      if (settled) running.then(settled, settled);
      abort();
      reject(new HandlerTimeoutError(typeof records === 'string' ? records : records(), timeoutMs));
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

/** The calls following each parent signal: one abort listener per parent, not one per call. */
const followers = new WeakMap<AbortSignal, Set<AbortController>>();

/**
 * A per-call signal that aborts when `parent` (the worker's drain) aborts or when `abort` is called
 * (the call's timeout). A plain AbortController, not `AbortSignal.any([parent, timeout])`: on Node
 * 24.16–24.21 a composite signal nobody listens to reads its sources through weak references, so once
 * the timeout's controller was garbage-collected an abandoned handler's `ctx.signal.aborted` read false
 * again (nodejs/node#65995). A listener-observed composite also stays in a long-lived source's dependant
 * set (nodejs/node#64476), one per call. Here the abort state lives on the call's own signal; the parent
 * has a single listener for all its calls (one per call made Node 20 warn MaxListenersExceeded with more
 * than 10 partitions in flight), and `release` drops the call from it.
 */
export function handlerSignal(parent: AbortSignal): HandlerSignal {
  const controller = new AbortController();
  if (parent.aborted) {
    controller.abort(parent.reason);
    return { signal: controller.signal, abort: () => {}, release: () => {} };
  }
  let calls = followers.get(parent);
  if (calls === undefined) {
    const following = new Set<AbortController>();
    followers.set(parent, following);
    parent.addEventListener(
      'abort',
      () => {
        for (const call of following) call.abort(parent.reason);
        following.clear();
      },
      { once: true },
    );
    calls = following;
  }
  const set = calls;
  set.add(controller);
  const release = (): void => {
    set.delete(controller);
  };
  return {
    signal: controller.signal,
    abort: (reason) => {
      controller.abort(reason);
      release();
    },
    release,
  };
}

/**
 * A handler call's signal, made when the handler first reads `ctx.signal`: most handlers never
 * do, and an AbortController per record showed in profiles. Read after the call timed out, it
 * is aborted already; read after the call settled, it is detached from the drain, as a signal
 * made at the start and released at the end would be.
 */
export class LazyHandlerSignal {
  private made: HandlerSignal | undefined;
  /** The signal of a call that had settled before it was read: it follows nothing. */
  private ended: AbortSignal | undefined;
  private aborted: { reason: unknown } | undefined;
  private released = false;

  constructor(private readonly parent: AbortSignal) {}

  get signal(): AbortSignal {
    if (this.made) return this.made.signal;
    if (this.released) return (this.ended ??= endedSignal(this.aborted));
    this.made = handlerSignal(this.parent);
    if (this.aborted) this.made.abort(this.aborted.reason);
    return this.made.signal;
  }

  abort(reason: unknown): void {
    this.aborted ??= { reason };
    this.made?.abort(reason);
  }

  /** The call settled: a drain from now on is not its concern (one that came during the call is). */
  release(): void {
    if (!this.made && !this.aborted && this.parent.aborted) this.aborted = { reason: this.parent.reason };
    this.released = true;
    this.made?.release();
  }
}

function endedSignal(aborted: { reason: unknown } | undefined): AbortSignal {
  const controller = new AbortController();
  if (aborted) controller.abort(aborted.reason);
  return controller.signal;
}

/**
 * The context one handler call sees: the pipeline's (and the sink's `db` and `once`), with the
 * call's own `signal`, read lazily. An own enumerable getter, so `{ ...ctx }` still carries the
 * signal, defined with one shared descriptor on an object that never had a `signal` field: a
 * `get signal()` in an object literal with a spread is built on V8's slow path (~0.5 µs per
 * record, ~2 % of a worker's CPU), and so is a data property turned into a getter.
 */
class CallContext implements HandlerContext {
  readonly pipeline: string;
  readonly heartbeat: () => Promise<void>;
  declare readonly signal: AbortSignal;
  declare readonly db?: HandlerContext['db'];
  declare readonly once?: HandlerContext['once'];
  readonly #bounded: LazyHandlerSignal;
  static readonly #signal: PropertyDescriptor = {
    get(this: CallContext): AbortSignal {
      return this.#bounded.signal;
    },
    enumerable: true,
  };

  constructor(context: HandlerContext, bounded: LazyHandlerSignal) {
    this.pipeline = context.pipeline;
    this.heartbeat = context.heartbeat;
    // Only the sink's calls have these: other contexts do not show them as undefined keys.
    if (context.db !== undefined) (this as { db?: HandlerContext['db'] }).db = context.db;
    if (context.once !== undefined) (this as { once?: HandlerContext['once'] }).once = context.once;
    this.#bounded = bounded;
    Object.defineProperty(this, 'signal', CallContext.#signal);
  }
}

/** `context` with the call's own signal in place of the drain's. */
export function callContext(context: HandlerContext, bounded: LazyHandlerSignal): HandlerContext {
  return new CallContext(context, bounded);
}
