import { createRequire } from 'node:module';
import { afterEach, describe, expect, it, vi } from 'vitest';

/**
 * KafkaJS 2.2.4's request queue (src/network/requestQueue/index.js) schedules a check of its pending
 * requests after every request with `setTimeout(fn, throttledUntil - Date.now())`. Unthrottled,
 * throttledUntil is -1, so the delay is about -1.7e12 ms: Node 20 treats it as 1 ms, Node 24 also prints
 * a TimeoutNegativeWarning to stderr, which broke the CLI's one-line error output.
 * patches/kafkajs+2.2.4+008+request-queue-negative-delay.patch clamps the delay to >= 0; the first two
 * tests fail on the unpatched package.
 */
const require = createRequire(import.meta.url);
// The package test points this at the KafkaJS an installed txstream carries (dist/vendor/kafkajs).
const KAFKAJS = process.env.TXSTREAM_TEST_KAFKAJS ?? 'kafkajs';

interface RequestQueue {
  throttledUntil: number;
  scheduleCheckPendingRequests(): void;
  destroy(): void;
}
const RequestQueue = require(`${KAFKAJS}/src/network/requestQueue`) as new (options: Record<string, unknown>) => RequestQueue;

const logger = { debug: () => {}, info: () => {}, warn: () => {}, error: () => {} };
const newQueue = () =>
  new RequestQueue({ maxInFlightRequests: null, requestTimeout: 30_000, enforceRequestTimeout: false, clientId: 't', broker: 'b:9092', logger });

/** The delays the queue passed to setTimeout while `run` ran. */
function scheduledDelays(run: () => void): number[] {
  const spy = vi.spyOn(globalThis, 'setTimeout');
  try {
    run();
    return spy.mock.calls.map((call) => Number(call[1]));
  } finally {
    spy.mockRestore();
  }
}

describe('KafkaJS request queue: pending-request check delay (patched)', () => {
  const queues: RequestQueue[] = [];
  afterEach(() => {
    for (const queue of queues.splice(0)) queue.destroy();
  });

  it('never passes a negative delay to setTimeout when not throttled', () => {
    const queue = newQueue();
    queues.push(queue);
    expect(queue.throttledUntil).toBe(-1);
    const delays = scheduledDelays(() => queue.scheduleCheckPendingRequests());
    expect(delays).toHaveLength(1);
    expect(delays[0]).toBeGreaterThanOrEqual(0);
  });

  it('never passes a negative delay when a throttle has already ended', () => {
    const queue = newQueue();
    queues.push(queue);
    queue.throttledUntil = Date.now() - 5_000;
    const delays = scheduledDelays(() => queue.scheduleCheckPendingRequests());
    expect(delays).toHaveLength(1);
    expect(delays[0]).toBeGreaterThanOrEqual(0);
  });

  it('still waits out an active throttle', () => {
    const queue = newQueue();
    queues.push(queue);
    queue.throttledUntil = Date.now() + 60_000;
    const delays = scheduledDelays(() => queue.scheduleCheckPendingRequests());
    expect(delays).toHaveLength(1);
    expect(delays[0]).toBeGreaterThan(50_000);
  });
});
