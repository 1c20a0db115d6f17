import { Histogram, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { ElapsedHistogram } from '../../src/observability/elapsed-histogram.js';

const BUCKETS = [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const NOW = 1_733_000_000_000;

/** The same observations through prom-client's Histogram and through ElapsedHistogram, each in a registry of its own. */
async function scrapedBoth(observations: Array<{ pipeline: string; starts: number[] }>): Promise<[string, string]> {
  const reference = new Registry();
  const histogram = new Histogram({ name: 'e2e_seconds', help: 'latency', labelNames: ['pipeline'], buckets: BUCKETS, registers: [reference] });
  const ours = new Registry();
  const elapsed = new ElapsedHistogram('e2e_seconds', 'latency', ['pipeline'], BUCKETS, [ours]);
  for (const { pipeline, starts } of observations) {
    for (const start of starts) histogram.observe({ pipeline }, Math.max(0, NOW - start) / 1000);
    elapsed.observeSince({ pipeline }, NOW, starts);
  }
  return [await reference.metrics(), await ours.metrics()];
}

describe('ElapsedHistogram', () => {
  it('is scraped exactly as prom-client scrapes a Histogram fed the same values: buckets on their bounds, past the last, in the future, several series', async () => {
    const starts = [NOW - 10, NOW - 50, NOW - 51, NOW - 100, NOW - 250, NOW - 60_000, NOW - 61_000, NOW - 3_600_000, NOW + 5_000, NOW - 1, NOW];
    const [reference, ours] = await scrapedBoth([
      { pipeline: 'orders', starts },
      { pipeline: 'payments', starts: [NOW - 7, NOW - 700] },
      { pipeline: 'orders', starts: [NOW - 2_000] },
    ]);
    expect(ours).toBe(reference);
    expect(ours).toContain('e2e_seconds_bucket{le="0.05",pipeline="orders"} 5');
    expect(ours).toContain('e2e_seconds_count{pipeline="orders"} 12');
  });

  it('reports nothing before its first observation, skips a start that is not a number, and forgets everything on reset', async () => {
    const registry = new Registry();
    const elapsed = new ElapsedHistogram('e2e_seconds', 'latency', ['pipeline'], BUCKETS, [registry]);
    expect(await registry.metrics()).toBe(await emptyHistogramText());
    elapsed.observeSince({ pipeline: 'p' }, NOW, [Number.NaN, NOW - 20]);
    expect(await registry.metrics()).toContain('e2e_seconds_count{pipeline="p"} 1');
    expect(await registry.metrics()).toContain('e2e_seconds_sum{pipeline="p"} 0.02');
    registry.resetMetrics();
    expect(await registry.metrics()).toBe(await emptyHistogramText());
  });

  it('refuses a second metric of its name in a registry, as prom-client does', () => {
    const registry = new Registry();
    new ElapsedHistogram('e2e_seconds', 'latency', ['pipeline'], BUCKETS, [registry]);
    expect(() => new Histogram({ name: 'e2e_seconds', help: 'again', registers: [registry] })).toThrow(/already been registered/);
  });
});

async function emptyHistogramText(): Promise<string> {
  const registry = new Registry();
  new Histogram({ name: 'e2e_seconds', help: 'latency', labelNames: ['pipeline'], buckets: BUCKETS, registers: [registry] });
  return registry.metrics();
}
