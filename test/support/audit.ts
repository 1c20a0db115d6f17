import { type AuditOptions, type AuditTopics, auditPipeline, type PipelineAudit, positionKey, snapshotOf } from '../../src/audit/pipeline-audit.js';
import { LINEAGE_HEADER } from '../../src/pipeline/lineage.js';
import { committedOffsets, type ReadRecord } from './kafka.js';
import { type KcatReadOptions, readWithKcat } from './kcat.js';

/**
 * The audit of `txstream audit`, fed by the independent reader: the group's committed
 * offsets (read first, with the KafkaJS admin), then every topic of the audit read with
 * kcat (read_committed), classified by the same code. For a quiesced pipeline; on a live
 * one, records of inputs written after kcat read the input count as `inputGone`.
 */
export async function auditWithKcat(
  brokers: string[],
  topics: AuditTopics,
  options: { readonly kcat?: KcatReadOptions; readonly audit?: AuditOptions } = {},
): Promise<{ audit: PipelineAudit; records: ReadRecord[] }> {
  const committed = new Map<string, string>();
  for (const topic of [...topics.inputs, ...topics.retryTiers.map((retry) => retry.topic)]) {
    for (const [partition, offset] of await committedOffsets(brokers, topics.groupId, topic)) {
      if (BigInt(offset) >= 0n) committed.set(positionKey(topic, partition), offset);
    }
  }
  const all = [...new Set([...topics.inputs, ...topics.retryTiers.map((retry) => retry.topic), ...topics.outputs, ...topics.deadLetters])];
  const records = await readWithKcat(brokers, all, options.kcat);
  const traces = records.map(({ topic, partition, offset, headers }) => ({ topic, partition, offset, lineage: headers[LINEAGE_HEADER] ?? null }));
  return { audit: auditPipeline(snapshotOf(topics, committed, traces), options.audit), records };
}
