import type { ReadRecord } from './kafka.js';

/**
 * Outputs that came before an output of an earlier input of the same key: the per-key order
 * audit of concurrency inside a partition. `records` are one output topic's committed records in
 * partition order (a key's outputs share a partition); each names its input by its lineage header
 * `<topic>/<partition>/<offset>`, and a key lives in one input partition, so its offsets compare.
 */
export function keyOrderViolations(records: readonly ReadRecord[]): { keys: number; violations: string[] } {
  const lastOffset = new Map<string, bigint>();
  const violations: string[] = [];
  for (const record of records) {
    const [, partition, offset] = (record.headers['txstream-lineage'] ?? '').split('/');
    if (offset === undefined) continue;
    const key = `${record.key}|${partition}`;
    const previous = lastOffset.get(key);
    if (previous !== undefined && BigInt(offset) <= previous) violations.push(`${record.key}: input offset ${offset} after ${previous}`);
    lastOffset.set(key, BigInt(offset));
  }
  return { keys: lastOffset.size, violations };
}
