import type { Lineage } from '../pipeline/lineage.js';
import { auditPipeline, type PipelineAudit, positionKey } from './pipeline-audit.js';

/**
 * The exactly-once audit in its simplest form: given every input and the lineage headers
 * of every output read with read_committed, each input must appear exactly once. It is
 * `auditPipeline` with every input counted as processed, so the tests, the load harness
 * and `txstream audit` count by one implementation.
 */
export interface AuditResult {
  readonly inputs: number;
  readonly outputs: number;
  /** Inputs with no output. */
  readonly missing: number;
  /** Extra copies beyond the first, summed over inputs. */
  readonly duplicates: number;
  /** Outputs whose lineage names no known input (or has none). */
  readonly unexpected: number;
  readonly exactlyOnce: boolean;
  readonly examples: { readonly missing: string[]; readonly duplicated: string[] };
}

export function auditLineage(inputs: Iterable<Lineage>, outputLineages: Iterable<string | Buffer | undefined | null>): AuditResult {
  const inputList = [...inputs];
  // Every input counts as processed: the committed offset of each partition lies past its last input.
  const committed = new Map<string, string>();
  for (const { topic, partition, offset } of inputList) {
    const key = positionKey(topic, partition);
    const next = BigInt(offset) + 1n;
    if (BigInt(committed.get(key) ?? '0') < next) committed.set(key, String(next));
  }
  const outputs = [...outputLineages].map((header, index) => ({
    topic: '(output)',
    partition: 0,
    offset: String(index),
    lineage: header === undefined || header === null ? header : header.toString(),
  }));
  const inputTopics = [...new Set(inputList.map((input) => input.topic))];
  return toAuditResult(auditPipeline({ inputTopics, inputs: inputList, committed, outputs }, { problemLimit: Number.POSITIVE_INFINITY }));
}

/** The short form of a pipeline audit; records of no audited input count as unexpected and fail it. */
export function toAuditResult(audit: PipelineAudit): AuditResult {
  const { noLineage, otherTopics, pastRead, inputGone } = audit.notCounted;
  const unexpected = noLineage + otherTopics + pastRead + inputGone;
  return {
    inputs: audit.processed,
    outputs: audit.records.outputs + audit.records.retries + audit.records.deadLetters,
    missing: audit.missing,
    duplicates: audit.duplicates,
    unexpected,
    exactlyOnce: audit.ok && unexpected === 0,
    examples: {
      missing: audit.problems.filter((p) => p.ending === 'missing' || p.ending === 'missing-or-skipped').slice(0, 5).map((p) => p.input),
      duplicated: audit.problems.filter((p) => p.duplicated).slice(0, 5).map((p) => p.input),
    },
  };
}
