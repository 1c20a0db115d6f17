import { describe, expect, it } from 'vitest';
import { latencyRunOrder } from '../../load-tests/lib/latency-order.js';

describe('latencyRunOrder: the order of the fixed-load latency runs', () => {
  const contenders = ['transactional-bytes', 'streams', 'transactional', 'streams-json'];
  const first = (partitionStep: number, rate: number, a: string, b: string) => {
    const order = latencyRunOrder(contenders, [5000, 10000], partitionStep).filter((run) => run.rate === rate).map((run) => run.contender);
    return order.indexOf(a) < order.indexOf(b) ? a : b;
  };

  it('runs every contender at each offered load, one load after the other', () => {
    expect(latencyRunOrder(contenders, [5000, 10000], 0)).toEqual([
      { contender: 'transactional-bytes', rate: 5000 },
      { contender: 'streams', rate: 5000 },
      { contender: 'transactional', rate: 5000 },
      { contender: 'streams-json', rate: 5000 },
      { contender: 'streams-json', rate: 10000 },
      { contender: 'transactional', rate: 10000 },
      { contender: 'streams', rate: 10000 },
      { contender: 'transactional-bytes', rate: 10000 },
    ]);
  });

  it('lets each side of a pair, and each pair, go first at half of the (load, partition count) points', () => {
    const points = [0, 1].flatMap((step) => [5000, 10000].map((rate) => [step, rate] as const));
    const txstreamFirst = points.filter(([step, rate]) => first(step, rate, 'transactional', 'streams-json') === 'transactional');
    const bytesPairFirst = points.filter(([step, rate]) => first(step, rate, 'transactional-bytes', 'transactional') === 'transactional-bytes');
    expect(txstreamFirst).toHaveLength(2);
    expect(bytesPairFirst).toHaveLength(2);
    // The second partition count flips the first one's order at each load.
    expect(first(0, 10000, 'transactional-bytes', 'streams')).toBe('streams');
    expect(first(1, 10000, 'transactional-bytes', 'streams')).toBe('transactional-bytes');
  });

  it('has nothing to run without loads', () => {
    expect(latencyRunOrder(contenders, [], 0)).toEqual([]);
  });
});
