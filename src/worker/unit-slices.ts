import type { Batch, KafkaMessage } from 'kafkajs';
import { dueAtOf } from '../routing/failure-copy.js';

/** How a fetched batch becomes units: what is due on a retry tier, and where each unit ends. */

/** A unit of a fetched batch, before it is handled. */
export interface Slice {
  readonly records: KafkaMessage[];
  readonly last: KafkaMessage;
  /** The offset its commit moves the partition to. */
  readonly nextOffset: string;
  /** When its handling started, for the processing-time metric. */
  started: number;
}

/**
 * On a retry tier, the records due now, and the first one that is not (the partition pauses
 * until then: the retry consumer never sleeps in the handler). A record whose due time is not
 * `trusted` is due at once.
 */
export function dueMessages(
  messages: KafkaMessage[],
  now: number,
  trusted: (message: KafkaMessage) => boolean,
): { due: KafkaMessage[]; waitFor?: { offset: string; dueAt: number } } {
  const index = messages.findIndex((message) => dueAtOf(message) > now && trusted(message));
  if (index < 0) return { due: messages };
  const head = messages[index] as KafkaMessage;
  return { due: messages.slice(0, index), waitFor: { offset: head.offset, dueAt: dueAtOf(head) } };
}

/** The due records in units, each ending where `unitEnd(start)` says. */
export function sliceUnits(batch: Batch, due: KafkaMessage[], endsBatch: boolean, unitEnd: (start: number) => number): Slice[] {
  const slices: Slice[] = [];
  for (let start = 0, end = 0; start < due.length; start = end) {
    end = unitEnd(start);
    const records = due.slice(start, end);
    const last = records[records.length - 1] as KafkaMessage;
    slices.push({ records, last, nextOffset: nextOffsetAfter(batch, last, endsBatch && end >= due.length), started: 0 });
  }
  return slices;
}

/** The offset to commit after `last`: past trailing control records when it ends the batch. */
function nextOffsetAfter(batch: Batch, last: KafkaMessage, endsBatch: boolean): string {
  const through = endsBatch ? batch.lastOffset() : last.offset;
  return (BigInt(through) + 1n).toString();
}
