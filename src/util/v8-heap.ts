import { constants, type PerformanceEntry, PerformanceObserver } from 'node:perf_hooks';
import { getHeapSpaceStatistics, setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

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
 *
 * ArrayBuffers (collectBuffersAbove): a major collection is asked for once they exceed a size.
 */

const MiB = 1024 * 1024;
/** V8's default `--semi-space-growth-factor`. */
const DEFAULT_GROWTH_FACTOR = 2;

let boundBytes: number | undefined;
let observer: PerformanceObserver | undefined;
let growing = true;

/** Hears of every collection V8 runs (started once, for the process). */
function observeCollections(): void {
  if (observer) return;
  observer = new PerformanceObserver((list) => {
    enforce();
    const major = list.getEntries().some((entry) => (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR);
    checkBuffers(major);
  });
  observer.observe({ entryTypes: ['gc'] });
}

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
  observeCollections();
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

/** The limits asked for by the callers that have not released theirs (collectBuffersAbove). */
const bufferLimits = new Set<{ readonly bytes: number }>();
let collectMajor: (() => Promise<void>) | undefined;
let collecting = false;
/** A major collection ran: measure what it left at the next check (V8 frees ArrayBuffers' memory after the collection, concurrently). */
let measureLeft = false;
/** ArrayBuffers that outlived the last major collection: held, not garbage. */
let leftBytes = 0;

/**
 * ArrayBuffers: a major collection is asked for once they exceed `maxMiB`.
 *
 * Every record KafkaJS decodes from a fetch response is a view into the response's buffer, so the
 * buffer lives until the last of its records is written. On a busy worker many responses live
 * through two minor collections, are promoted, and then wait for a major one, which V8 starts
 * by itself only once ArrayBuffers have grown 64 MiB since the last (a JSON worker at 96
 * partitions: 50-64 MiB of them at its RSS peak, against 11-15 at 12 partitions, where responses
 * die young). Asking for a collection sooner bounds them at a size, at the cost of more major
 * collections when, and only when, they pile up.
 *
 * Checked after each collection V8 runs (a worker that allocates collects its young generation
 * every few tens of milliseconds; an idle one is not checked, and has nothing piling up). What
 * outlives a major collection (V8's own or one asked for here) is held, not garbage: the next is
 * asked for only once ArrayBuffers have grown half the limit past it, so a worker holding more
 * than the limit (large records) does not collect on every check. The collection is V8's full
 * one, as `gc()` runs it (--expose-gc is set from inside the process: a library cannot put it on
 * Node's command line), posted as a task rather than run inside the check.
 *
 * Process-wide: the smallest limit of the callers that have not released theirs wins. Returns the
 * release (a stopped worker's limit no longer counts).
 */
export function collectBuffersAbove(maxMiB: number): () => void {
  const limit = { bytes: maxMiB * MiB };
  bufferLimits.add(limit);
  if (!collectMajor) {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as (options: { type: 'major'; execution: 'async' }) => Promise<void>;
    collectMajor = () => gc({ type: 'major', execution: 'async' });
  }
  observeCollections();
  return () => bufferLimits.delete(limit);
}

/** After each batch of collections heard of (`major`: one of them was a major collection). */
function checkBuffers(major: boolean): void {
  // Noted even while no limit is asked for, so a worker started later never counts as held what an
  // earlier one held before the last major collection.
  if (major) {
    measureLeft = true;
    return;
  }
  if (bufferLimits.size === 0 || !collectMajor || collecting) return;
  const { arrayBuffers } = process.memoryUsage();
  if (measureLeft) {
    measureLeft = false;
    leftBytes = arrayBuffers;
    return;
  }
  let limitBytes = Infinity;
  for (const { bytes } of bufferLimits) limitBytes = Math.min(limitBytes, bytes);
  if (arrayBuffers < Math.max(limitBytes, leftBytes + limitBytes / 2)) return;
  collecting = true;
  void collectMajor().finally(() => {
    collecting = false;
  });
}
