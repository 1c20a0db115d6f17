import { pino } from 'pino';
import { describe, expect, it } from 'vitest';
import type { TopicPartition } from '../../src/commit/index.js';
import { watchEventLoop } from '../../src/observability/event-loop.js';
import { emptyStats } from '../../src/observability/stats.js';
import type { PartitionTask } from '../../src/worker/partition-task.js';
import { TaskManager } from '../../src/worker/task-manager.js';

/**
 * Readiness counts a partition only once its task is open (producer initialised, offset read
 * stable), and a task knows when its generation is over; liveness watches the event loop.
 */

function deferred() {
  let resolve!: () => void;
  let reject!: (error: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

function manager() {
  const opens = new Map<string, ReturnType<typeof deferred>>();
  /** Each task's view of whether it is of the member's current generation, in creation order. */
  const current: Array<{ partition: string; isCurrent: () => boolean }> = [];
  const tasks = new TaskManager({
    createTask: (partition: TopicPartition, isCurrent: () => boolean) => {
      const gate = deferred();
      opens.set(`${partition.topic}|${partition.partition}`, gate);
      current.push({ partition: `${partition.topic}|${partition.partition}`, isCurrent });
      return { topicPartition: partition, open: () => gate.promise, close: async () => {}, flush: async () => {} } as unknown as PartitionTask;
    },
    resume: () => {},
    stats: emptyStats(),
    logger: pino({ level: 'silent' }),
    fencedRetryMs: 60_000,
  });
  return { tasks, opens, current };
}

const settle = () => new Promise((resolve) => setTimeout(resolve, 10));

describe('TaskManager readiness', () => {
  it('lists assigned partitions until their task is open, and a fenced one again', async () => {
    const { tasks, opens } = manager();
    tasks.onAssignment({ in: [0, 1] });
    await settle();
    expect(tasks.unopened()).toEqual(['in|0', 'in|1']);
    opens.get('in|0')?.resolve();
    await settle();
    expect(tasks.unopened()).toEqual(['in|1']);
    opens.get('in|1')?.resolve();
    await settle();
    expect(tasks.unopened()).toEqual([]);
    const fenced = await tasks.taskFor({ topic: 'in', partition: 1 });
    tasks.onFenced(fenced as PartitionTask);
    expect(tasks.unopened()).toEqual(['in|1']);
  });

  it("tells a generation's tasks when the member has joined the next one, a partition kept included", async () => {
    const { tasks, opens, current } = manager();
    tasks.onAssignment({ in: [0, 1] });
    await settle();
    opens.get('in|0')?.resolve();
    opens.get('in|1')?.resolve();
    await settle();
    expect(current.map(({ isCurrent }) => isCurrent())).toEqual([true, true]);
    tasks.onAssignment({ in: [1, 2] });
    // At once, before the old tasks have closed: their batches in flight stop there.
    expect(current.map(({ isCurrent }) => isCurrent())).toEqual([false, false]);
    await settle();
    expect(current.slice(2).map(({ partition, isCurrent }) => [partition, isCurrent()])).toEqual([
      ['in|1', true],
      ['in|2', true],
    ]);
  });

  it('is ready with nothing assigned, and not with a partition whose open failed', async () => {
    const { tasks, opens } = manager();
    tasks.onAssignment({});
    expect(tasks.unopened()).toEqual([]);
    tasks.onAssignment({ in: [2] });
    await settle();
    opens.get('in|2')?.reject(new Error('coordinator not available'));
    await settle();
    expect(tasks.unopened()).toEqual(['in|2']);
  });
});

describe('watchEventLoop', () => {
  it('reports a blocked loop for the hold period, then recovers', async () => {
    const watch = watchEventLoop({ maxDelayMs: 100, holdMs: 300, intervalMs: 20 });
    try {
      await new Promise((resolve) => setTimeout(resolve, 60));
      expect(watch.blocked()).toBeUndefined();
      const until = Date.now() + 250;
      while (Date.now() < until) {
        // spin: the event loop is blocked
      }
      await new Promise((resolve) => setTimeout(resolve, 30));
      expect(watch.blocked()).toMatch(/event loop was blocked for \d+ ms/);
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(watch.blocked()).toBeUndefined();
    } finally {
      watch.stop();
    }
  });
});
