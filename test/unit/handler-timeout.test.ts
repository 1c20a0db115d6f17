import { getEventListeners } from 'node:events';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it, vi } from 'vitest';
import { HandlerTimeoutError } from '../../src/errors/index.js';
import type { OnceFn } from '../../src/pipeline/records.js';
import { boundHandlerResult, callContext, handlerSignal, type HandlerTimeoutOptions, LazyHandlerSignal } from '../../src/worker/handler-timeout.js';
import { HandlerWatch } from '../../src/worker/handler-watch.js';

/** A call bounded as the invoker bounds it, as a promise (what the tests of asynchronous handlers await). */
function bound<T>(call: () => T | Promise<T>, { timeoutMs, ...options }: HandlerTimeoutOptions & { readonly timeoutMs: number }): Promise<T> {
  return Promise.resolve(boundHandlerResult(call(), timeoutMs, () => options));
}

describe('boundHandlerResult', () => {
  it('returns a synchronous result synchronously, with no timer and no options made; names the records only when a call times out', async () => {
    const setTimer = vi.spyOn(globalThis, 'setTimeout');
    const records = vi.fn(() => 'in/0/7');
    const options = vi.fn(() => ({ records, abort: () => {}, onStuck: () => {} }));
    try {
      expect(boundHandlerResult(42, 1000, options)).toBe(42);
      expect(options).not.toHaveBeenCalled();
      expect(setTimer).not.toHaveBeenCalled();
      await expect(boundHandlerResult(Promise.resolve(43), 1000, options)).resolves.toBe(43);
      expect(options).toHaveBeenCalledTimes(1);
      expect(setTimer).toHaveBeenCalledTimes(2);
      expect(records).not.toHaveBeenCalled();
    } finally {
      setTimer.mockRestore();
    }
  });

  it('returns what a prompt handler returns, without warning or aborting', async () => {
    const onStuck = vi.fn();
    const abort = vi.fn();
    await expect(bound(() => 42, { timeoutMs: 1000, records: 'r', abort, onStuck })).resolves.toBe(42);
    expect(onStuck).not.toHaveBeenCalled();
    expect(abort).not.toHaveBeenCalled();
  });

  it('warns half-way, then fails with HandlerTimeoutError and aborts the call', async () => {
    const onStuck = vi.fn();
    const abort = vi.fn();
    const started = Date.now();
    const error = await bound(() => new Promise(() => {}), { timeoutMs: 200, records: 'in/0/7', abort, onStuck }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(HandlerTimeoutError);
    expect((error as Error).message).toBe('handler did not settle within 200 ms (handlerTimeoutMs) on in/0/7');
    expect(Date.now() - started).toBeGreaterThanOrEqual(195);
    expect(onStuck).toHaveBeenCalledTimes(1);
    expect(abort).toHaveBeenCalledTimes(1);
  });

  it('keeps an abandoned call on the watch until it settles', async () => {
    const watch = new HandlerWatch();
    let finish: () => void = () => {};
    const slow = new Promise<void>((resolve) => {
      finish = resolve;
    });
    const options = { timeoutMs: 20, records: 'in/0/1', abort: () => {}, onStuck: () => {}, onAbandoned: () => watch.abandon('in/0/1') };
    await expect(bound(() => slow, options)).rejects.toBeInstanceOf(HandlerTimeoutError);
    expect(watch.pending().map((call) => call.records)).toEqual(['in/0/1']);
    finish();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(watch.pending()).toEqual([]);
  });

  it('passes a handler error through, and ignores a late rejection of an abandoned call', async () => {
    await expect(bound(() => Promise.reject(new Error('boom')), { timeoutMs: 1000, records: 'r', abort: () => {}, onStuck: () => {} })).rejects.toThrow('boom');
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    const late = new Promise((_, reject) => setTimeout(() => reject(new Error('late')), 50));
    await expect(bound(() => late, { timeoutMs: 10, records: 'r', abort: () => {}, onStuck: () => {} })).rejects.toBeInstanceOf(HandlerTimeoutError);
    await new Promise((resolve) => setTimeout(resolve, 100));
    process.off('unhandledRejection', unhandled);
    expect(unhandled).not.toHaveBeenCalled();
  });
});

/** A full garbage collection, without starting the test process with --expose-gc. */
function collectGarbage(): void {
  setFlagsFromString('--expose-gc');
  (runInNewContext('gc') as () => void)();
}

describe('handlerSignal', () => {
  it("an abandoned call's signal stays aborted after its timeout's closures are collected", async () => {
    // The pattern of PartitionTask.callHandler. With AbortSignal.any([parent, timeout]) instead of
    // handlerSignal, this failed on Node 24.16–24.21 (nodejs/node#65995): once nothing but the composite
    // referred to the timeout's controller, a GC made the composite read aborted === false.
    const parent = new AbortController();
    const seen: AbortSignal[] = [];
    const abandon = async (): Promise<unknown> => {
      const bounded = handlerSignal(parent.signal);
      return bound(
        () => {
          seen.push(bounded.signal);
          return new Promise(() => {});
        },
        { timeoutMs: 20, records: 'in/0/1', abort: () => bounded.abort(new HandlerTimeoutError('in/0/1', 20)), onStuck: () => {} },
      )
        .finally(() => bounded.release())
        .catch((error: unknown) => error);
    };
    expect(await abandon()).toBeInstanceOf(HandlerTimeoutError);
    await new Promise((resolve) => setImmediate(resolve));
    collectGarbage();
    expect(seen).toHaveLength(1);
    expect(seen[0]?.aborted).toBe(true);
    expect(seen[0]?.reason).toBeInstanceOf(HandlerTimeoutError);
    expect(parent.signal.aborted).toBe(false);
    // The timed-out call no longer follows the parent: a later drain leaves its timeout reason.
    parent.abort(new Error('draining'));
    expect(seen[0]?.reason).toBeInstanceOf(HandlerTimeoutError);
  });

  it('aborts with the parent (drain) while the call runs, with its reason', () => {
    const parent = new AbortController();
    const bounded = handlerSignal(parent.signal);
    const onAbort = vi.fn();
    bounded.signal.addEventListener('abort', onAbort);
    parent.abort(new Error('draining'));
    expect(bounded.signal.aborted).toBe(true);
    expect((bounded.signal.reason as Error).message).toBe('draining');
    expect(onAbort).toHaveBeenCalledTimes(1);
  });

  it('starts aborted when the parent already is', () => {
    const parent = new AbortController();
    parent.abort(new Error('gone'));
    const bounded = handlerSignal(parent.signal);
    expect(bounded.signal.aborted).toBe(true);
    expect((bounded.signal.reason as Error).message).toBe('gone');
  });

  it('puts one listener on the long-lived parent however many calls follow it, and drops settled calls', () => {
    const parent = new AbortController();
    const calls = Array.from({ length: 100 }, () => handlerSignal(parent.signal));
    // One per call made Node 20 print MaxListenersExceededWarning with more than 10 calls in flight.
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(1);
    for (const call of calls.slice(0, 60)) call.release();
    parent.abort(new Error('draining'));
    // A settled call's signal is not aborted by a later drain: the call is over. The running ones are.
    expect(calls.slice(0, 60).some((call) => call.signal.aborted)).toBe(false);
    expect(calls.slice(60).every((call) => call.signal.aborted)).toBe(true);
  });
});

describe('LazyHandlerSignal', () => {
  it('adds nothing to the parent until the handler reads its signal', () => {
    const parent = new AbortController();
    const lazy = new LazyHandlerSignal(parent.signal);
    lazy.release();
    expect(getEventListeners(parent.signal, 'abort')).toHaveLength(0);
  });

  it('is aborted when read after the call timed out, and by a drain while the call runs', () => {
    const timedOut = new LazyHandlerSignal(new AbortController().signal);
    timedOut.abort(new Error('timed out'));
    expect(timedOut.signal.aborted).toBe(true);
    expect((timedOut.signal.reason as Error).message).toBe('timed out');

    const parent = new AbortController();
    const running = new LazyHandlerSignal(parent.signal);
    const { signal } = running;
    parent.abort(new Error('draining'));
    expect(signal.aborted).toBe(true);
  });

  it('is not aborted by a drain after the call settled, read before or after', () => {
    const parent = new AbortController();
    const readBefore = new LazyHandlerSignal(parent.signal);
    const early = readBefore.signal;
    readBefore.release();
    const readAfter = new LazyHandlerSignal(parent.signal);
    readAfter.release();
    parent.abort(new Error('draining'));
    expect(early.aborted).toBe(false);
    expect(readAfter.signal.aborted).toBe(false);

    // A drain during the call: aborted, however late the handler looks.
    const drained = new LazyHandlerSignal(parent.signal);
    drained.release();
    expect(drained.signal.aborted).toBe(true);
  });
});

describe('callContext', () => {
  it("shows the call's own signal, also in a spread copy, and the sink's fields only where the context has them", () => {
    const drain = new AbortController();
    const heartbeat = async (): Promise<void> => {};
    const bounded = new LazyHandlerSignal(drain.signal);
    const context = callContext({ pipeline: 'p', signal: drain.signal, heartbeat }, bounded);
    expect(Object.keys(context)).toEqual(['pipeline', 'heartbeat', 'signal']);
    expect(context.signal).not.toBe(drain.signal);
    bounded.abort(new HandlerTimeoutError('in/0/1', 10));
    const copy = { ...context };
    expect(copy.signal.aborted).toBe(true);
    expect(copy).toMatchObject({ pipeline: 'p', heartbeat });
    expect(drain.signal.aborted).toBe(false);

    const once: OnceFn = async (_id, fn) => ({ ran: true, value: await fn() });
    const db = { query: async () => ({ rows: [], rowCount: 0, command: 'SELECT' }) };
    const sink = callContext({ pipeline: 'p', signal: drain.signal, heartbeat, db, once }, new LazyHandlerSignal(drain.signal));
    expect(Object.keys(sink).sort()).toEqual(['db', 'heartbeat', 'once', 'pipeline', 'signal']);
    expect(sink.db).toBe(db);
  });
});
