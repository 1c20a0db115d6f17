/**
 * Which partition of an internal topic holds a group's or a transactional id's
 * state: Kafka places a key on partition `abs(key.hashCode()) % partitions` of
 * `__consumer_offsets` (groups) or `__transaction_state` (transactional ids), and
 * the leader of that partition is the coordinator. Pure, so it is unit-tested.
 */

export const GROUP_STATE_TOPIC = '__consumer_offsets';
export const TRANSACTION_STATE_TOPIC = '__transaction_state';

/** Java's String.hashCode: 32-bit, over UTF-16 code units. */
export function javaStringHash(value: string): number {
  let hash = 0;
  for (let i = 0; i < value.length; i++) hash = (Math.imul(31, hash) + value.charCodeAt(i)) | 0;
  return hash;
}

/** Kafka's Utils.abs: Integer.MIN_VALUE maps to 0, not to itself. */
function kafkaAbs(value: number): number {
  return value === -2147483648 ? 0 : Math.abs(value);
}

export function coordinatorPartition(key: string, partitions: number): number {
  if (!Number.isInteger(partitions) || partitions < 1) throw new Error(`partitions must be a positive integer, got ${partitions}`);
  return kafkaAbs(javaStringHash(key)) % partitions;
}
