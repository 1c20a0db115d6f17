import { PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';

/**
 * Bounds how far V8 lets its heap run ahead of what the process holds, from inside a running
 * process: the young generation's size, and how far the old generation grows past what survived
 * its last major collection. Neither caps the heap: a process that holds more still gets it.
 *
 * Young generation (`new_space`, both semi-spaces): kept at or below a size.
 *
 * V8 sizes the young generation from the machine's memory, not from what the process is meant to
 * take: on a 24 GiB machine it grows to 128 MiB under a busy worker, half of a 200 MiB target by
 * itself, and the Buffers its garbage still references (outputs, produce requests, fetch chunks)
 * wait for its next collection on top. Node's `--max-semi-space-size` bounds it, but only on the
 * command line, before the process starts: a library cannot set it. V8 does read its growth
 * factor at every growth, so once the young generation has reached the bound, growing stops
 * (factor 1) until it is below the bound again. The old generation is not touched: a large batch
 * still fits, where a capped heap would end the process.
 *
 * The bound is on V8's capacity: between collections `new_space` reports a few pages more (up to
 * half the bound again, measured), and the observer hears of a collection after it ran, so several
 * in one turn of the event loop may grow it once past the bound until it shrinks again.
 *
 * Process-wide, like the heap itself: the smallest bound asked for wins. A `--max-semi-space-size`
 * below it still wins too (V8 never grows past its own maximum).
 */

const MiB = 1024 * 1024;
/** V8's default `--semi-space-growth-factor`. */
const DEFAULT_GROWTH_FACTOR = 2;

let boundBytes: number | undefined;
let observer: PerformanceObserver | undefined;
let growing = true;

function youngGenerationBytes(): number {
  return getHeapSpaceStatistics().find((space) => space.space_name === 'new_space')?.space_size ?? 0;
}

/** After every collection: stop growing at the bound, grow again below it (V8 shrinks the young generation when the process idles). */
function enforce(): void {
  if (boundBytes === undefined) return;
  const below = youngGenerationBytes() < boundBytes;
  if (below === growing) return;
  growing = below;
  setFlagsFromString(`--semi-space-growth-factor=${growing ? DEFAULT_GROWTH_FACTOR : 1}`);
}

/** Bounds the young generation at `maxMiB` from now on (the smallest bound asked for in this process). */
export function boundYoungGeneration(maxMiB: number): void {
  const bytes = maxMiB * MiB;
  boundBytes = boundBytes === undefined ? bytes : Math.min(boundBytes, bytes);
  if (!observer) {
    observer = new PerformanceObserver(enforce);
    observer.observe({ entryTypes: ['gc'] });
  }
  enforce();
}

let growthPercent: number | undefined;

/**
 * Old generation: the next major collection starts once it has grown `percent` past what survived
 * the last one. V8 picks that factor itself, from 1.1 up to 4 when collecting is fast next to the
 * program; a busy worker promotes every batch it holds across a few minor collections, so up to 4×
 * of garbage (and the Buffers it references, the fetch responses among them) waits for the next
 * major collection. Collecting at a fixed growth keeps the heap proportional to what is live, at
 * any size. V8 reads `--heap-growing-percent` whenever it recomputes its limits (after every major
 * collection). Process-wide: the smallest percent asked for wins.
 */
export function boundOldGenerationGrowth(percent: number): void {
  growthPercent = growthPercent === undefined ? percent : Math.min(growthPercent, percent);
  setFlagsFromString(`--heap-growing-percent=${growthPercent}`);
}

