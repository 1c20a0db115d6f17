import { encodeLineage, type Lineage, parseLineage } from '../routing/lineage.js';

/**
 * The exactly-once audit: given every input and every output read with
 * read_committed, each input must appear exactly once by lineage.
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
  const seen = new Map<string, number>();
  let inputCount = 0;
  for (const input of inputs) {
    seen.set(encodeLineage(input), 0);
    inputCount++;
  }
  let outputs = 0;
  let unexpected = 0;
  for (const header of outputLineages) {
    outputs++;
    const lineage = parseLineage(header);
    const key = lineage ? encodeLineage(lineage) : undefined;
    const count = key === undefined ? undefined : seen.get(key);
    if (key === undefined || count === undefined) unexpected++;
    else seen.set(key, count + 1);
  }
  const missing: string[] = [];
  const duplicated: string[] = [];
  let duplicates = 0;
  for (const [key, count] of seen) {
    if (count === 0) missing.push(key);
    if (count > 1) {
      duplicated.push(key);
      duplicates += count - 1;
    }
  }
  return {
    inputs: inputCount,
    outputs,
    missing: missing.length,
    duplicates,
    unexpected,
    exactlyOnce: missing.length === 0 && duplicates === 0 && unexpected === 0,
    examples: { missing: missing.slice(0, 5), duplicated: duplicated.slice(0, 5) },
  };
}
