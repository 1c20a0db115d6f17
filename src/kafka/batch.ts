import type { Batch } from 'kafkajs';

/**
 * The offset the consumer fetched this batch from. KafkaJS 2.2 keeps it on every
 * Batch but leaves it out of its type declarations; the first record's offset is
 * no substitute, because aborted records and control markers are filtered out.
 */
export function fetchedOffsetOf(batch: Batch): string {
  const fetched = (batch as Batch & { fetchedOffset?: string | number }).fetchedOffset;
  if (fetched === undefined)
    throw new Error('this KafkaJS version does not expose Batch.fetchedOffset; txstream needs it to detect stale batches');
  return String(fetched);
}
