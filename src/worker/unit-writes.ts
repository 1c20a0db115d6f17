import type { CommitUnit, PartitionCommitter } from '../commit/index.js';
import { TransactionRolledBackError } from '../errors/index.js';
import type { TopicCatalog } from '../kafka/topic-catalog.js';
import type { Serial } from '../util/serial.js';
import { type PendingUnit, PendingUnits } from './pending-units.js';
import type { UnitSpan, WriteRefusals } from './write-refusals.js';

export interface UnitWritesDeps {
  readonly committer: Pick<PartitionCommitter, 'write' | 'writesAhead'>;
  readonly catalog: Pick<TopicCatalog, 'refresh'>;
  readonly refusals: Pick<WriteRefusals, 'writeFailed'>;
  /** The partition task's lock: a failed write nobody waits for is handled under it. */
  readonly serial: Serial;
  /** After every write that succeeded. */
  readonly onWritten: () => void;
  /** A write failed: the partition rolls back to its last commit (once per failed write). */
  readonly onFailed: (error: unknown) => Promise<void>;
}

/**
 * A partition's unit writes, in offset order. Up to the committer's `writesAhead` may still be in
 * flight while the task handles its next unit (and the consumer fetches), as Kafka Streams' thread
 * goes on processing while its producer sends. A unit goes out only behind units that succeeded
 * or are still on their way; a write handed over behind one that fails is refused by the committer
 * (see PartitionCommitter.writesAhead), so a failed write never has a successor in a later commit.
 * Every written unit waits in `pending` until a commit covers it.
 */
export class UnitWrites {
  readonly pending = new PendingUnits();
  /** Writes handed over and not yet settled, oldest first. */
  private inFlight: ReadonlyArray<Promise<void>> = [];

  constructor(private readonly deps: UnitWritesDeps) {}

  /**
   * Hands a unit over to be written; call room() first. Resolves false when this write failed and
   * was waited for: it is waited for when it must stand alone, or when the committer allows no
   * write ahead. A write not waited for is settled before a later one needs its room, or on its
   * own when it fails and nothing comes after it.
   */
  hand(unit: CommitUnit, pending: PendingUnit, span: UnitSpan | undefined, wait: boolean, onWritten: () => void): Promise<boolean> {
    const write = this.write(unit, pending, span, onWritten);
    this.inFlight = [...this.inFlight, write];
    // A failure is handled even when no further batch comes to wait for it (the end of the input).
    write.catch(() => void this.deps.serial.run(() => this.settle()).catch(() => {}));
    return wait || this.deps.committer.writesAhead === 0 ? this.settle() : Promise.resolve(true);
  }

  /**
   * Waits until another unit may be handed over: fewer writes in flight than the committer allows
   * ahead (none, where it allows one). False when one of them failed: the failure has then been
   * handled (the partition rolled back to its last commit) and nothing handled since may be written.
   */
  async room(): Promise<boolean> {
    // Asked again after every write that settles: the committer may allow fewer while its producer is behind.
    while (this.inFlight.length >= Math.max(1, this.deps.committer.writesAhead)) if (!(await this.settleOldest())) return false;
    return true;
  }

  /** Writes one unit; the committer reports through the listener whatever it commits. */
  private async write(unit: CommitUnit, pending: PendingUnit, span: UnitSpan | undefined, onWritten: () => void): Promise<void> {
    // Queued before the write: a commit may land between the write and our next step.
    this.pending.add(pending);
    try {
      await this.deps.committer.write(unit);
    } catch (error) {
      if (!(error instanceof TransactionRolledBackError) && span) {
        // The topics are read again (a config or partition change is then seen by the checks).
        await this.deps.catalog.refresh(unit.outputs.map((entry) => entry.topic)).catch(() => {});
        this.deps.refusals.writeFailed(span, unit, error);
      }
      throw error;
    }
    onWritten();
    this.deps.onWritten();
  }

  /**
   * Waits for every write in flight. False when one failed: the failure has then been handled
   * (the partition rolled back to its last commit) and nothing handled since may be written.
   */
  async settle(): Promise<boolean> {
    while (this.inFlight.length > 0) if (!(await this.settleOldest())) return false;
    return true;
  }

  private async settleOldest(): Promise<boolean> {
    const write = this.inFlight[0];
    if (!write) return true;
    try {
      await write;
    } catch (error) {
      // The first to see the failure handles it; the other waiter only learns the unit is gone.
      if (this.inFlight[0] !== write) return false;
      const behind = this.inFlight.slice(1);
      this.inFlight = [];
      // The writes handed over behind it are refused, or end with its transaction: let them end
      // before the partition rewinds, or one could still be on its way when it starts again.
      await Promise.allSettled(behind);
      await this.deps.onFailed(error);
      return false;
    }
    if (this.inFlight[0] === write) this.inFlight = this.inFlight.slice(1);
    return true;
  }

  /** Waits for the writes in flight to end, whatever their outcome, and forgets them (their failure is being handled, or is moot). */
  async land(): Promise<void> {
    const writes = this.inFlight;
    this.inFlight = [];
    await Promise.allSettled(writes);
  }
}
