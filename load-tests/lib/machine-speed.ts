/**
 * How fast one core of this machine is right now: a fixed piece of single-threaded integer work,
 * timed. The load average does not show a virtual machine whose host gives its cores less time
 * than they ask for: on 2026-12-06 a machine with nothing else running (load 0.2) ran this loop
 * in 49 to 137 ms from one second to the next, its broker ceiling was a third of the day before,
 * and every process's CPU time per record rose with it (the guest counts the time its core did
 * not run as the process's). A run's figures are read against the loop's times beside them.
 */

import { performance } from 'node:perf_hooks';

/** Iterations of the loop: about 50 ms on an unloaded core of the 2-core machines the results come from, at their fastest. */
const ITERATIONS = 30_000_000;

/** Milliseconds one run of the loop takes. */
export function loopMs(): number {
  const started = performance.now();
  let x = 0;
  for (let i = 0; i < ITERATIONS; i++) x = (x + (i % 7)) | 0;
  const elapsed = performance.now() - started;
  // Used, so the loop cannot be dropped as dead code.
  if (x === 0.5) throw new Error('unreachable');
  return Math.round(elapsed);
}

/** The fastest and slowest of a few runs of the loop: the fastest is the machine, the spread is how steady it is. */
export function loopMsRange(samples = 3): { fastest: number; slowest: number } {
  const times = Array.from({ length: samples }, () => loopMs());
  return { fastest: Math.min(...times), slowest: Math.max(...times) };
}
