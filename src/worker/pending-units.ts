import type { WorkerStats } from '../observability/stats.js';
import { noneRouted, type RoutedCounts } from './failure-router.js';

/** A written, uncommitted unit and what it counts for once committed. */
export interface PendingUnit {
  readonly nextOffset: bigint;
  readonly records: number;
  readonly outputs: number;
  readonly routed: Readonly<RoutedCounts>;
  readonly timestamps: readonly number[];
}

/**
 * A partition's units written but not committed, in offset order. A commit may land between
 * any two steps of the task (a shared cycle commits on its own timer), so what it covers is
 * decided by offset, never by timing; a unit counts in the stats only once committed.
 */
export class PendingUnits {
  private units: PendingUnit[] = [];

  add(unit: PendingUnit): void {
    this.units.push(unit);
  }

  /** The offset the last unit written commits, or null when none waits. */
  lastOffset(): string | null {
    const last = this.units[this.units.length - 1];
    return last === undefined ? null : last.nextOffset.toString();
  }

  /** Rolled back: none of them will commit. */
  drop(): void {
    this.units = [];
  }

  /** A commit reached `nextOffset`: counts the units it covers, and returns their records' timestamps. */
  commitThrough(nextOffset: string, stats: WorkerStats): number[] {
    const through = BigInt(nextOffset);
    let index = 0;
    const timestamps: number[] = [];
    for (; index < this.units.length; index++) {
      const unit = this.units[index] as PendingUnit;
      if (unit.nextOffset > through) break;
      stats.recordsIn += unit.records;
      stats.recordsOut += unit.outputs;
      stats.retried += unit.routed.retried;
      stats.deadLettered += unit.routed.deadLettered;
      stats.skipped += unit.routed.skipped;
      stats.heldBack += unit.routed.heldBack;
      timestamps.push(...unit.timestamps);
    }
    this.units.splice(0, index);
    return timestamps;
  }
}

/** A unit with nothing to count: an empty one moving the offset past filtered records. */
export function emptyPendingUnit(nextOffset: string): PendingUnit {
  return { nextOffset: BigInt(nextOffset), records: 0, outputs: 0, routed: noneRouted(), timestamps: [] };
}
