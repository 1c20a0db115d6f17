import type { Lineage } from '../routing/lineage.js';
import { auditPipeline, positionKey } from './pipeline-audit.js';

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
  const audit = auditPipeline({ inputTopics, inputs: inputList, committed, outputs }, { problemLimit: Number.POSITIVE_INFINITY });
  const unexpected = audit.notCounted.noLineage + audit.notCounted.otherTopics + audit.notCounted.inputGone;
  return {
    inputs: audit.inputs,
    outputs: audit.records.outputs,
    missing: audit.missing,
    duplicates: audit.duplicates,
    unexpected,
    exactlyOnce: audit.ok && unexpected === 0,
    examples: {
      missing: audit.problems.filter((p) => p.ending === 'missing').slice(0, 5).map((p) => p.input),
      duplicated: audit.problems.filter((p) => p.duplicated).slice(0, 5).map((p) => p.input),
    },
  };
}
