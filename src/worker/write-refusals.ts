import type { KafkaMessage } from 'kafkajs';
import type { Logger } from 'pino';
import type { CommitUnit } from '../commit/index.js';
import { isRecordRefusal } from '../kafka/errors.js';
import { recordBatchSize } from '../kafka/record-size.js';

/**
 * The input records a unit covers, by offset: all that a failed write needs of them. A write in
 * flight keeps this, not the records, so the fetch response they are views into can go once they
 * are handled (JSON outputs are new strings; the records would have held the response until the
 * write and every write ahead of it ended).
 */
export interface UnitSpan {
  readonly firstOffset: string;
  readonly lastOffset: string;
  readonly count: number;
}

/** The span of a unit's records; undefined for a unit of no records. */
export function spanOf(records: readonly KafkaMessage[]): UnitSpan | undefined {
  const first = records[0];
  const last = records[records.length - 1];
  return first && last ? { firstOffset: first.offset, lastOffset: last.offset, count: records.length } : undefined;
}

/** A single record whose outputs the broker refused, and where. */
export interface Refusal {
  readonly error: unknown;
  readonly where: string;
  readonly topic: string;
  readonly times: number;
}

/**
 * What a partition remembers of writes the broker refused for a reason tied to a record
 * (a record too large, a corrupt one): the refused unit is written again one record per
 * unit, so the refusal falls on one record, and that record is then routed by the error
 * policy instead of being handled and refused forever.
 */
export class WriteRefusals {
  /** Offsets of a refused unit, written one record per unit until the partition is past them. */
  private isolate: { from: bigint; until: bigint } | undefined;
  private readonly refused = new Map<string, Refusal>();

  constructor(
    private readonly input: string,
    private readonly log: Logger,
  ) {}

  /** Units are being written alone (one record each) to find the refused record. */
  get isolating(): boolean {
    return this.isolate !== undefined;
  }

  /** Where the unit starting at `start` ends: one record at a time inside the isolated range. */
  unitEnd(due: readonly KafkaMessage[], start: number, recordsPerUnit: number): number {
    const end = Math.min(due.length, start + recordsPerUnit);
    const isolate = this.isolate;
    if (!isolate) return end;
    for (let index = start; index < end; index++) {
      const offset = BigInt((due[index] as KafkaMessage).offset);
      if (offset >= isolate.from && offset <= isolate.until) return index === start ? start + 1 : index;
    }
    return end;
  }

  /** A unit ending at `lastOffset` was written: isolation ends once past the refused range. */
  written(lastOffset: string): void {
    if (this.isolate && BigInt(lastOffset) >= this.isolate.until) this.isolate = undefined;
  }

  refusalOf(offset: string): Refusal | undefined {
    // Asked for every record: hashing each offset's fresh string showed in profiles, and there is rarely any refusal.
    return this.refused.size === 0 ? undefined : this.refused.get(offset);
  }

  /** How often the broker refused the outputs of the record at `offset` (0: never). */
  timesRefused(offset: string): number {
    return this.refused.get(offset)?.times ?? 0;
  }

  /** Committed past these: forgotten. */
  forgetBefore(offset: string | null): void {
    if (offset === null || this.refused.size === 0) return;
    for (const refused of this.refused.keys()) if (BigInt(refused) < BigInt(offset)) this.refused.delete(refused);
  }

  /**
   * A write failed: a refusal tied to a record isolates the unit's records, or marks the single
   * record refused when it was written alone. A unit written together with other partitions'
   * units (one produce request) may have failed for their records: even a one-record unit is
   * written again alone before its record is taken for the refused one.
   */
  writeFailed(span: UnitSpan | undefined, unit: CommitUnit, error: unknown): void {
    if (!isRecordRefusal(error) || !span) return;
    const { firstOffset, lastOffset, count } = span;
    if (count > 1 || unit.alone !== true) {
      this.isolate = { from: BigInt(firstOffset), until: BigInt(lastOffset) };
      this.log.warn({ err: error, fromOffset: firstOffset, toOffset: lastOffset }, 'the broker refused a record of this unit; writing it again one record at a time');
      return;
    }
    const largest = unit.outputs
      .flatMap(({ topic, messages }) => messages.map((message) => ({ topic, partition: message.partition, size: recordBatchSize(message) })))
      .sort((a, b) => b.size - a.size)[0];
    const where = largest
      ? `the write to topic '${largest.topic}'${largest.partition === undefined ? '' : ` partition ${largest.partition}`} (record of ${largest.size} bytes)`
      : 'the write';
    const times = this.timesRefused(firstOffset) + 1;
    this.refused.set(firstOffset, { error, where, topic: largest?.topic ?? this.input, times });
    this.log.warn({ err: error, offset: firstOffset, refusals: times }, `the broker refused ${where}; routing the record by the error policy`);
  }
}
