import type { Ordering } from '../config/concurrency.js';

/**
 * Key-ordered concurrency inside a unit: records of one lane are handled one at a time, in
 * offset order; records of different lanes at the same time, as many as the slots allow.
 * Pure scheduling: what a call does, and how its result is used, is the caller's.
 */

/** Runs `fn` when a slot is free (a p-limit function: the partition's limit, inside the worker's). */
export type Slots = <T>(fn: () => Promise<T>) => Promise<T>;

/**
 * The lane a record waits in: one lane for the partition, one per key, or none. A record
 * without a key has no key to keep order under: under `key` it runs as a lane of its own.
 */
export function laneOf(ordering: Ordering, key: Buffer | null | undefined): string | undefined {
  if (ordering === 'partition') return '';
  if (ordering === 'unordered' || key === null || key === undefined) return undefined;
  // latin1 maps every byte to one character: binary keys stay distinct.
  return key.toString('latin1');
}

export interface LaneRun {
  /** The calls to run, in offset order, and the lane of each (undefined: a lane of its own). */
  readonly count: number;
  readonly laneOf: (index: number) => string | undefined;
  readonly slots: Slots;
  /** One call; must not reject (its failure is its result). */
  readonly call: (index: number) => Promise<void>;
  /** How long a record waited for the one before it in its lane, when it had to. */
  readonly onLaneWait?: (ms: number) => void;
  /**
   * The lanes' last calls, kept across runs (a partition's units handled at the same time): a
   * key's record in a later unit waits for the same key's records of earlier ones.
   */
  readonly tails?: Map<string, Promise<void>>;
}

/** Runs every call, each lane's in order, and resolves once all have settled. */
export async function runInLanes(run: LaneRun): Promise<void> {
  const tails = run.tails ?? new Map<string, Promise<void>>();
  const all: Promise<void>[] = [];
  for (let index = 0; index < run.count; index++) {
    const lane = run.laneOf(index);
    const before = lane === undefined ? undefined : tails.get(lane);
    const queued = performance.now();
    const turn = (before ?? Promise.resolve()).then(() => {
      if (before) run.onLaneWait?.(performance.now() - queued);
      // The slot is taken once the lane is free: a record waiting for its key never holds one.
      return run.slots(() => run.call(index));
    });
    if (lane !== undefined) {
      tails.set(lane, turn);
      // A lane nobody waits on any more is forgotten: the map holds the keys in flight, not every key seen.
      const forget = () => {
        if (tails.get(lane) === turn) tails.delete(lane);
      };
      void turn.then(forget, forget);
    }
    all.push(turn);
  }
  await Promise.all(all);
}

/**
 * A batch handler under concurrency: the unit is cut into at most `groups` sub-batches, each
 * a lane's records in offset order (a key always lands in the same sub-batch: its hash picks
 * it), so sub-batches can be handled at the same time without reordering any key.
 */
export function subBatches<T>(items: readonly T[], groups: number, laneOfItem: (item: T) => string | undefined): T[][] {
  const count = Math.max(1, Math.min(groups, items.length));
  const batches: T[][] = Array.from({ length: count }, () => []);
  items.forEach((item, index) => {
    const lane = laneOfItem(item);
    // No lane (unordered, or no key): contiguous slices spread the records evenly.
    const group = lane === undefined ? Math.floor((index * count) / items.length) : hashOf(lane) % count;
    (batches[group] as T[]).push(item);
  });
  return batches.filter((batch) => batch.length > 0);
}

/** FNV-1a over the lane's characters: stable across processes, cheap, spread well enough for grouping. */
function hashOf(text: string): number {
  let hash = 0x811c9dc5;
  for (let index = 0; index < text.length; index++) {
    hash ^= text.charCodeAt(index);
    hash = Math.imul(hash, 0x01000193);
  }
  return hash >>> 0;
}
