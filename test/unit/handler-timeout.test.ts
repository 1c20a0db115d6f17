import { describe, expect, it, vi } from 'vitest';
import { HandlerTimeoutError } from '../../src/errors/index.js';
import { withHandlerTimeout } from '../../src/worker/handler-timeout.js';
import { HandlerWatch } from '../../src/worker/handler-watch.js';

describe('withHandlerTimeout', () => {
  it('returns what a prompt handler returns, without warning or aborting', async () => {
    const onStuck = vi.fn();
    const abort = vi.fn();
    await expect(withHandlerTimeout(() => 42, { timeoutMs: 1000, records: 'r', abort, onStuck })).resolves.toBe(42);
    expect(onStuck).not.toHaveBeenCalled();
    expect(abort).not.toHaveBeenCalled();
  });

  it('warns half-way, then fails with HandlerTimeoutError and aborts the call', async () => {
    const onStuck = vi.fn();
    const abort = vi.fn();
    const started = Date.now();
    const error = await withHandlerTimeout(() => new Promise(() => {}), { timeoutMs: 200, records: 'in/0/7', abort, onStuck }).catch((e: unknown) => e);
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
    await expect(withHandlerTimeout(() => slow, options)).rejects.toBeInstanceOf(HandlerTimeoutError);
    expect(watch.pending().map((call) => call.records)).toEqual(['in/0/1']);
    finish();
    await new Promise((resolve) => setTimeout(resolve, 10));
    expect(watch.pending()).toEqual([]);
  });

  it('passes a handler error through, and ignores a late rejection of an abandoned call', async () => {
    await expect(withHandlerTimeout(() => Promise.reject(new Error('boom')), { timeoutMs: 1000, records: 'r', abort: () => {}, onStuck: () => {} })).rejects.toThrow('boom');
    const unhandled = vi.fn();
    process.on('unhandledRejection', unhandled);
    const late = new Promise((_, reject) => setTimeout(() => reject(new Error('late')), 50));
    await expect(withHandlerTimeout(() => late, { timeoutMs: 10, records: 'r', abort: () => {}, onStuck: () => {} })).rejects.toBeInstanceOf(HandlerTimeoutError);
    await new Promise((resolve) => setTimeout(resolve, 100));
    process.off('unhandledRejection', unhandled);
    expect(unhandled).not.toHaveBeenCalled();
  });
});
