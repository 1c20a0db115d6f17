import pLimit from 'p-limit';
import { describe, expect, it } from 'vitest';
import { laneOf, runInLanes, subBatches } from '../../src/worker/lanes.js';

/** Calls that each take one turn of a manual clock, recording what ran when. */
function recorder() {
  const started: number[] = [];
  const finished: number[] = [];
  let active = 0;
  let peak = 0;
  const waiting = new Map<number, () => void>();
  return {
    started,
    finished,
    get peak() {
      return peak;
    },
    call: (index: number) =>
      new Promise<void>((resolve) => {
        started.push(index);
        active++;
        peak = Math.max(peak, active);
        waiting.set(index, () => {
          active--;
          finished.push(index);
          resolve();
        });
      }),
    /** Lets every running call finish; resolves once the next ones have started. */
    async tick(): Promise<void> {
      const now = [...waiting.values()];
      waiting.clear();
      for (const finish of now) finish();
      await new Promise((resolve) => setImmediate(resolve));
    },
    get running(): number[] {
      return [...waiting.keys()].sort((a, b) => a - b);
    },
  };
}

const keys = (...names: Array<string | null>) => names.map((name) => (name === null ? null : Buffer.from(name)));

describe('runInLanes', () => {
  it('runs one key at a time in offset order, other keys at the same time', async () => {
    const key = keys('a', 'b', 'a', 'c', 'b', 'a');
    const calls = recorder();
    const run = runInLanes({ count: key.length, laneOf: (i) => laneOf('key', key[i]), slots: pLimit(10), call: calls.call });
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls.running).toEqual([0, 1, 3]);
    await calls.tick();
    expect(calls.running).toEqual([2, 4]);
    await calls.tick();
    expect(calls.running).toEqual([5]);
    await calls.tick();
    await run;
    // Per key, in offset order.
    const order = (name: string) => calls.started.filter((i) => key[i]?.toString() === name);
    expect(order('a')).toEqual([0, 2, 5]);
    expect(order('b')).toEqual([1, 4]);
  });

  it('gives a slot only to a record whose key is free: a waiting record never holds one', async () => {
    const key = keys('a', 'a', 'b');
    const calls = recorder();
    const run = runInLanes({ count: 3, laneOf: (i) => laneOf('key', key[i]), slots: pLimit(2), call: calls.call });
    await new Promise((resolve) => setImmediate(resolve));
    // a@1 waits for a@0 without a slot, so b@2 runs beside a@0.
    expect(calls.running).toEqual([0, 2]);
    await calls.tick();
    expect(calls.running).toEqual([1]);
    await calls.tick();
    await run;
  });

  it('never runs more than the slots allow', async () => {
    const calls = recorder();
    const run = runInLanes({ count: 20, laneOf: () => undefined, slots: pLimit(4), call: calls.call });
    for (let i = 0; i < 6; i++) await calls.tick();
    await run;
    expect(calls.peak).toBe(4);
    expect(calls.finished).toHaveLength(20);
  });

  it('runs records without a key as lanes of their own under key ordering', async () => {
    const key = keys(null, null, null);
    const calls = recorder();
    const run = runInLanes({ count: 3, laneOf: (i) => laneOf('key', key[i]), slots: pLimit(10), call: calls.call });
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls.running).toEqual([0, 1, 2]);
    await calls.tick();
    await run;
  });

  it('runs everything in one lane under partition ordering', async () => {
    const key = keys('a', 'b', 'c');
    const calls = recorder();
    const run = runInLanes({ count: 3, laneOf: (i) => laneOf('partition', key[i]), slots: pLimit(10), call: calls.call });
    await new Promise((resolve) => setImmediate(resolve));
    expect(calls.running).toEqual([0]);
    await calls.tick();
    expect(calls.running).toEqual([1]);
    await calls.tick();
    await calls.tick();
    await run;
  });

  it('tells binary keys apart', () => {
    expect(laneOf('key', Buffer.from([0xff, 0x00]))).not.toBe(laneOf('key', Buffer.from([0xfe, 0x00])));
    expect(laneOf('unordered', Buffer.from('a'))).toBeUndefined();
  });
});

describe('subBatches', () => {
  it('keeps every key in one sub-batch, in offset order, and loses no record', () => {
    const records = Array.from({ length: 200 }, (_, offset) => ({ offset, key: `k${offset % 37}` }));
    const batches = subBatches(records, 8, (record) => record.key);
    expect(batches.length).toBeLessThanOrEqual(8);
    expect(batches.flat().map((record) => record.offset).sort((a, b) => a - b)).toEqual(records.map((record) => record.offset));
    for (const batch of batches) {
      const offsets = batch.map((record) => record.offset);
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    }
    const home = new Map<string, number>();
    batches.forEach((batch, index) => {
      for (const record of batch) {
        expect(home.get(record.key) ?? index).toBe(index);
        home.set(record.key, index);
      }
    });
  });

  it('cuts records without a lane into even contiguous slices', () => {
    const batches = subBatches([1, 2, 3, 4, 5, 6], 3, () => undefined);
    expect(batches).toEqual([
      [1, 2],
      [3, 4],
      [5, 6],
    ]);
  });
});
