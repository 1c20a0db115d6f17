import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The bounds change process-wide V8 settings, so each case runs in a Node process of its own. V8's own ceiling is set to 64 MiB semi-spaces (new_space up to 128 MiB), so the case
 * without a bound shows the young generation growing past the bound whatever the machine's memory.
 */
const MODULE = fileURLToPath(new URL('../../src/util/v8-heap.ts', import.meta.url));

/** Runs an ES module script in a Node process of its own (with `nodeFlags`) and returns the number it prints. */
function numberPrintedBy(script: string, nodeFlags: readonly string[] = []): number {
  const out = execFileSync(process.execPath, [...nodeFlags, '--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8' });
  return Number(out.trim());
}

/** The median size of new_space over the second half of a busy run, in MiB. */
function youngGenerationMiB(boundMiB: number | undefined): number {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    import { boundYoungGeneration } from ${JSON.stringify(MODULE)};
    if (${boundMiB ?? 0} > 0) boundYoungGeneration(${boundMiB ?? 0});
    const newSpace = () => getHeapSpaceStatistics().find((space) => space.space_name === 'new_space').space_size;
    // Records held across collections, as a batch in flight is: most allocations survive a scavenge or two.
    const held = [];
    const sizes = [];
    for (let round = 0; round < 400; round++) {
      for (let i = 0; i < 5000; i++) held.push({ value: 'x'.repeat(64) + i, offsets: [round, i] });
      if (held.length > 100000) held.splice(0, 50000);
      if (round >= 200) sizes.push(newSpace());
      await new Promise((resolve) => setImmediate(resolve));
    }
    sizes.sort((a, b) => a - b);
    console.log(Math.round(sizes[Math.floor(sizes.length / 2)] / 2 ** 20));
  `;
  return numberPrintedBy(script, ['--max-semi-space-size=64']);
}

describe('boundYoungGeneration', () => {
  it('stops new_space growing at the bound, where V8 would grow it to its own ceiling', () => {
    const unbounded = youngGenerationMiB(undefined);
    const bounded = youngGenerationMiB(8);
    // The observer hears of a collection after it ran: on a busy machine several can run first and grow it once
    // more (the bound then holds it there), and V8 reports a few pages above the capacity between collections.
    expect(bounded).toBeGreaterThan(0);
    expect(bounded).toBeLessThanOrEqual(16);
    expect(unbounded).toBeGreaterThanOrEqual(64);
  });
});

/** The largest old_space of a run that promotes most of what it allocates and keeps ~20 MiB live, in MiB. */
function largestOldGenerationMiB(percent: number | undefined): number {
  const script = `
    import { getHeapSpaceStatistics } from 'node:v8';
    import { boundOldGenerationGrowth } from ${JSON.stringify(MODULE)};
    if (${percent ?? 0} > 0) boundOldGenerationGrowth(${percent ?? 0});
    const oldSpace = () => getHeapSpaceStatistics().find((space) => space.space_name === 'old_space').space_size;
    let held = [];
    let largest = 0;
    for (let round = 0; round < 600; round++) {
      for (let i = 0; i < 5000; i++) held.push({ value: 'x'.repeat(64) + i, offsets: [round, i] });
      if (held.length > 60000) held = held.slice(30000);
      largest = Math.max(largest, oldSpace());
      await new Promise((resolve) => setImmediate(resolve));
    }
    console.log(Math.round(largest / 2 ** 20));
  `;
  return numberPrintedBy(script);
}

describe('boundOldGenerationGrowth', () => {
  it('collects the old generation at a fixed growth past what survived, where V8 lets it grow further', () => {
    const ownFactor = largestOldGenerationMiB(undefined);
    const bounded = largestOldGenerationMiB(20);
    // Measured on Node 24: 96 MiB with V8's own factor, 38 at 20 %.
    expect(bounded).toBeGreaterThan(0);
    expect(bounded).toBeLessThan(ownFactor * 0.7);
  });
});

/** The most ArrayBuffers seen while fetch-response-sized buffers are held for a while each and promoted, in MiB. */
function largestArrayBuffersMiB(limitMiB: number | undefined): number {
  const script = `
    import { collectBuffersAbove } from ${JSON.stringify(MODULE)};
    if (${limitMiB ?? 0} > 0) collectBuffersAbove(${limitMiB ?? 0});
    // 256 KiB responses, each held while the next 16 arrive (4 MiB live), with records' worth of garbage between them.
    const held = [];
    let largest = 0;
    let record;
    for (let round = 0; round < 3000; round++) {
      held.push(Buffer.allocUnsafe(256 * 1024));
      if (held.length > 16) held.shift();
      for (let i = 0; i < 2000; i++) record = { value: 'x'.repeat(32) + i, offsets: [round, i] };
      largest = Math.max(largest, process.memoryUsage().arrayBuffers);
      if (round % 10 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
    console.log(record ? Math.round(largest / 2 ** 20) : -1);
  `;
  return numberPrintedBy(script);
}

describe('collectBuffersAbove', () => {
  it('asks for a major collection once ArrayBuffers exceed the limit, where V8 lets them grow 64 MiB', () => {
    const ownStep = largestArrayBuffersMiB(undefined);
    const bounded = largestArrayBuffersMiB(16);
    // Measured on Node 24: 57-58 MiB with V8's own step, 25 with a 16 MiB limit (the buffers that
    // arrive before the collection heard of runs, and the 4 MiB held).
    expect(ownStep).toBeGreaterThanOrEqual(40);
    expect(bounded).toBeGreaterThan(0);
    expect(bounded).toBeLessThanOrEqual(32);
  });
});
