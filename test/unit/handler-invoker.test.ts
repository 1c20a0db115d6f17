import pino from 'pino';
import { describe, expect, it, vi } from 'vitest';
import { unscopedHandlerCall } from '../../src/commit/index.js';
import type { TopicCatalog } from '../../src/kafka/topic-catalog.js';
import type { ResolvedPipeline } from '../../src/pipeline/definition.js';
import { type CallSubject, HandlerInvoker } from '../../src/worker/handler-invoker.js';

const invoker = new HandlerInvoker({
  pipeline: { handlerTimeoutMs: 1000 } as ResolvedPipeline,
  catalog: {} as TopicCatalog,
  committer: { runHandlerCall: unscopedHandlerCall },
  logger: pino({ level: 'silent' }),
});
const context = { pipeline: 'p', signal: new AbortController().signal, heartbeat: async () => {} };

describe('HandlerInvoker', () => {
  it('gives back what a synchronous handler returned or threw, synchronously, with no timer and no names made', () => {
    const setTimer = vi.spyOn(globalThis, 'setTimeout');
    const subject: CallSubject<number> = { records: vi.fn(() => 'in/0/7'), fields: vi.fn(() => ({})) };
    try {
      expect(invoker.invoke(subject, 41, context, (n) => n + 1)).toBe(42);
      const thrown = new Error('thrown synchronously');
      expect(() =>
        invoker.invoke(subject, 41, context, () => {
          throw thrown;
        }),
      ).toThrow(thrown);
      expect(setTimer).not.toHaveBeenCalled();
      expect(subject.records).not.toHaveBeenCalled();
      expect(subject.fields).not.toHaveBeenCalled();
    } finally {
      setTimer.mockRestore();
    }
  });
});
