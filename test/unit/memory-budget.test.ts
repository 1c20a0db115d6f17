import { describe, expect, it } from 'vitest';
import { DEFAULTS } from '../../src/config/defaults.js';
import {
  bufferCollectionMiB,
  fetchSizing,
  MEMORY_MODEL,
  MIN_MEMORY_BUDGET_MB,
  memoryBudgetProblem,
  oldGenerationGrowthPercent,
  youngGenerationMiB,
} from '../../src/config/memory-budget.js';

const MiB = 1024 * 1024;

describe('fetchSizing: fetch limits from the memory budget', () => {
  it('sizes the response from the budget less the base and the young generation, where that is more than the partitions ask for', () => {
    const budget = 240;
    const [at12] = fetchSizing(budget, [12]);
    const [at96] = fetchSizing(budget, [96]);
    const expected = Math.floor(((budget - MEMORY_MODEL.baseMiB - youngGenerationMiB(budget)) * MiB) / MEMORY_MODEL.bytesPerFetchedByte);
    expect(at12?.maxBytes).toBe(expected);
    expect(at96?.maxBytes).toBe(expected);
  });

  it('fetches 512 KiB at once for 12 partitions, the default budget share (a larger share outlives the young generation) and holds its young generation at the least', () => {
    const [sizing] = fetchSizing(DEFAULTS.memoryBudgetMb, [12]);
    expect(sizing?.maxBytes).toBe(512 * 1024);
    expect(youngGenerationMiB(DEFAULTS.memoryBudgetMb)).toBe(MEMORY_MODEL.minYoungMiB);
  });

  it('gives many partitions a larger response: 16 KiB of room each, up to twice the budget share and 1 MiB', () => {
    const at = (budget: number, partitions: readonly number[]) => fetchSizing(budget, partitions).map(({ maxBytes }) => maxBytes / 1024);
    // The default budget's share is 512 KiB: 32 partitions ask for as much, 48 for more, 64 for twice.
    expect([12, 32, 48, 64, 96, 384, 5000].map((partitions) => at(DEFAULTS.memoryBudgetMb, [partitions])[0])).toEqual([512, 512, 768, 1024, 1024, 1024, 1024]);
    // The smallest budget's share is 256 KiB: twice that at most.
    expect(at(MIN_MEMORY_BUDGET_MB, [96])).toEqual([512]);
    // A budget whose share is over 1 MiB keeps it.
    expect(at(212, [96])).toEqual([1280]);
    // Pipelines share the room the worker's partitions ask for, in proportion to theirs.
    expect(at(DEFAULTS.memoryBudgetMb, [24, 72])).toEqual([256, 768]);
  });

  it('leaves the old generation to V8 from the default budget up; below it, 100 % past what survived at the smallest, rising to 300 %', () => {
    expect(MIN_MEMORY_BUDGET_MB).toBe(164);
    expect([164, 170, 175, DEFAULTS.memoryBudgetMb, 200, 4096].map(oldGenerationGrowthPercent)).toEqual([100, 200, 283, undefined, undefined, undefined]);
  });

  it('asks for a major collection once ArrayBuffers reach twice what the budget leaves above the base and the young generation, below the 64 MiB V8 lets wait', () => {
    expect([164, DEFAULTS.memoryBudgetMb, 180, 184, 200, 4096].map(bufferCollectionMiB)).toEqual([24, 48, 56, undefined, undefined, undefined]);
  });

  it('gives the young generation a fifth to a tenth of the budget, a power of two from 16 to 128 MiB', () => {
    expect([MIN_MEMORY_BUDGET_MB, 200, 320, 400, 640, 1280, 8192].map(youngGenerationMiB)).toEqual([16, 16, 32, 32, 64, 128, 128]);
  });

  it('gives each partition an equal share of the response, so more partitions do not fetch more at once', () => {
    const [at12] = fetchSizing(400, [12]);
    const [at96] = fetchSizing(400, [96]);
    if (!at12 || !at96) throw new Error('no sizing');
    expect(at96.maxBytesPerPartition).toBe(Math.max(MEMORY_MODEL.minPartitionBytes, Math.floor(at96.maxBytes / 96)));
    expect(at12.maxBytesPerPartition).toBe(Math.min(MEMORY_MODEL.maxPartitionBytes, Math.floor(at12.maxBytes / 12)));
    expect(at96.maxBytesPerPartition).toBeLessThan(at12.maxBytesPerPartition);
  });

  it('keeps a partition share between one record batch and KafkaJS default, and never above the response', () => {
    const [one] = fetchSizing(4096, [1]);
    expect(one).toEqual({ maxBytes: MEMORY_MODEL.maxFetchBytes, maxBytesPerPartition: MEMORY_MODEL.maxPartitionBytes });
    const [many] = fetchSizing(MIN_MEMORY_BUDGET_MB, [10_000]);
    expect(many?.maxBytesPerPartition).toBe(MEMORY_MODEL.minPartitionBytes);
    for (const budget of [MIN_MEMORY_BUDGET_MB, 180, 200, 400, 4096]) {
      for (const partitions of [1, 3, 12, 96, 384, 5000]) {
        const [sizing] = fetchSizing(budget, [partitions]);
        if (!sizing) throw new Error('no sizing');
        expect(sizing.maxBytes).toBeGreaterThanOrEqual(MEMORY_MODEL.minFetchBytes);
        expect(sizing.maxBytes).toBeLessThanOrEqual(MEMORY_MODEL.maxFetchBytes);
        expect(sizing.maxBytesPerPartition).toBeLessThanOrEqual(sizing.maxBytes);
        expect(Number.isInteger(sizing.maxBytes) && Number.isInteger(sizing.maxBytesPerPartition)).toBe(true);
      }
    }
  });

  it('shares one budget among pipelines in proportion to the partitions they consume', () => {
    const budget = 220;
    const [whole] = fetchSizing(budget, [120]);
    const [small, large] = fetchSizing(budget, [24, 96]);
    if (!whole || !small || !large) throw new Error('no sizing');
    expect(small.maxBytes + large.maxBytes).toBeLessThanOrEqual(whole.maxBytes);
    expect(large.maxBytes).toBeGreaterThan(small.maxBytes * 3.9);
    expect(small.maxBytesPerPartition).toBe(large.maxBytesPerPartition);
  });

  it('grows the response with the budget up to the ceiling', () => {
    const sizes = [MIN_MEMORY_BUDGET_MB, 180, 200, 240, 1024].map((budget) => fetchSizing(budget, [12])[0]?.maxBytes ?? 0);
    for (let i = 1; i < sizes.length; i++) expect(sizes[i]).toBeGreaterThanOrEqual(sizes[i - 1] as number);
    expect(sizes.at(-1)).toBe(MEMORY_MODEL.maxFetchBytes);
  });

  it('refuses a budget below what a worker takes before it fetches, naming the setting and the accepted range', () => {
    expect(memoryBudgetProblem(MIN_MEMORY_BUDGET_MB)).toBeUndefined();
    expect(memoryBudgetProblem(MIN_MEMORY_BUDGET_MB - 1)).toMatch(new RegExp(`^memoryBudgetMb ${MIN_MEMORY_BUDGET_MB - 1} is too small; accepted: a whole number of MiB from ${MIN_MEMORY_BUDGET_MB}`));
    expect(memoryBudgetProblem(200.5)).toMatch(/memoryBudgetMb 200.5 is too small/);
    expect(() => fetchSizing(10, [12])).toThrow(/memoryBudgetMb 10 is too small/);
  });
});
