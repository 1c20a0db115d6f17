import { describe, expect, it } from 'vitest';
import { Coalescer, takeTogether } from '../../src/util/coalescer.js';

describe('Coalescer', () => {
  it('runs one operation at a time, each over everything that arrived while the one before ran', async () => {
    const operations: number[][] = [];
    let running = 0;
    const coalescer = new Coalescer<number>(async (items) => {
      running++;
      expect(running).toBe(1);
      operations.push([...items]);
      await new Promise((resolve) => setTimeout(resolve, 2));
      running--;
    });
    const first = coalescer.run(1);
    const waiting = [coalescer.run(2), coalescer.run(3)];
    await first;
    const late = coalescer.run(4);
    await Promise.all([...waiting, late]);
    expect(operations).toEqual([[1], [2, 3], [4]]);
  });

  it('gives every item of an operation its outcome, and goes on after a failure (a synchronous throw too)', async () => {
    let calls = 0;
    const coalescer = new Coalescer<string>((items) => {
      calls++;
      if (items.includes('bad')) throw new Error(`refused ${items.join(',')}`);
      return new Promise((resolve) => setTimeout(resolve, 1));
    });
    const first = coalescer.run('ok');
    const together = [coalescer.run('bad'), coalescer.run('other')];
    await first;
    const results = await Promise.allSettled(together);
    expect(results.map((result) => (result.status === 'rejected' ? (result.reason as Error).message : 'ok'))).toEqual(['refused bad,other', 'refused bad,other']);
    await expect(coalescer.run('after')).resolves.toBeUndefined();
    expect(calls).toBe(3);
  });

  it('sends an item that must go alone by itself, and the ones around it together', async () => {
    const operations: string[][] = [];
    const coalescer = new Coalescer<string>(
      async (items) => {
        operations.push([...items]);
        await new Promise((resolve) => setTimeout(resolve, 1));
      },
      (item) => item.startsWith('alone'),
    );
    await Promise.all(['a', 'b', 'c', 'alone-1', 'd', 'alone-2', 'alone-3', 'e'].map((item) => coalescer.run(item)));
    expect(operations).toEqual([['a'], ['b', 'c'], ['alone-1'], ['d'], ['alone-2'], ['alone-3'], ['e']]);
  });

  it('takeTogether: up to the first item that goes alone, or that item by itself', () => {
    const queue = [1, 2, 0, 3];
    expect(takeTogether(queue, (n) => n === 0)).toEqual([1, 2]);
    expect(takeTogether(queue, (n) => n === 0)).toEqual([0]);
    expect(takeTogether(queue, (n) => n === 0)).toEqual([3]);
    expect(takeTogether(queue, (n) => n === 0)).toEqual([]);
  });
});
