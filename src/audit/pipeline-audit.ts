import { DEFAULTS } from '../config/defaults.js';
import { encodeLineage, parseLineage } from '../pipeline/lineage.js';

/**
 * The exactly-once audit of a pipeline, by lineage: what became of every input record,
 * given what a read_committed reader found in the input, output, retry and dead-letter
 * topics and the group's committed offsets. Pure: the reading is in pipeline-audit-read.ts.
 *
 * Each input the group has committed past must have exactly one ending: one output
 * record, or one dead-letter copy, or a retry copy still waiting in a tier. The audit
 * assumes one output per input (as the lineage-per-output contract makes it for a 1:1
 * handler); a handler that returns several outputs for one input shows as duplicated,
 * and one that returns none as missing.
 */

/** Where a record sits. */
export interface Position {
  readonly topic: string;
  readonly partition: number;
  readonly offset: string;
}

/** A record found in an output, retry or dead-letter topic, with its raw lineage header. */
export interface Trace extends Position {
  readonly lineage: string | null | undefined;
}

export interface RetryTrace extends Trace {
  /** 1 for `<input>.retry.1`, … */
  readonly tier: number;
}

export interface AuditSnapshot {
  /** The pipeline's input topics (lineages naming other topics are not its own). */
  readonly inputTopics: readonly string[];
  /** Every input record read (read_committed). */
  readonly inputs: Iterable<Position>;
  /**
   * The group's committed offset per partition of the inputs and the retry tiers, by
   * `positionKey(topic, partition)`; a partition without one has processed nothing.
   * Read before the outputs: what was committed then has its outputs in the read.
   */
  readonly committed: ReadonlyMap<string, string>;
  readonly outputs: Iterable<Trace>;
  readonly retries?: Iterable<RetryTrace>;
  readonly deadLetters?: Iterable<Trace>;
  /**
   * Where the read of each input partition stopped (exclusive), by `positionKey`: a record
   * whose lineage lies at or past it names an input the read did not cover (written after
   * the read began, or past the committed offset when only the committed range is read).
   */
  readonly inputReadEnds?: ReadonlyMap<string, string>;
}

/** The topics one audit reads, and the group whose committed offsets say what was processed. */
export interface AuditTopics {
  readonly groupId: string;
  readonly inputs: readonly string[];
  readonly retryTiers: ReadonlyArray<{ readonly topic: string; readonly tier: number }>;
  readonly outputs: readonly string[];
  readonly deadLetters: readonly string[];
}

/**
 * Sorts records read from the audit's topics into their parts (input, output, retry tier,
 * dead letter) by topic; a topic can play several parts. Any reader's records fit: the
 * tests feed kcat's here, so both readers are counted by the same code.
 */
export function snapshotOf(
  topics: AuditTopics,
  committed: ReadonlyMap<string, string>,
  records: Iterable<Trace>,
  inputReadEnds?: ReadonlyMap<string, string>,
): AuditSnapshot {
  const inputSet = new Set(topics.inputs);
  const outputSet = new Set(topics.outputs);
  const deadLetterSet = new Set(topics.deadLetters);
  const tierOf = new Map(topics.retryTiers.map(({ topic, tier }) => [topic, tier]));
  const inputs: Position[] = [];
  const outputs: Trace[] = [];
  const retries: RetryTrace[] = [];
  const deadLetters: Trace[] = [];
  for (const record of records) {
    const { topic, partition, offset } = record;
    if (inputSet.has(topic)) inputs.push({ topic, partition, offset });
    if (outputSet.has(topic)) outputs.push(record);
    if (deadLetterSet.has(topic)) deadLetters.push(record);
    const tier = tierOf.get(topic);
    if (tier !== undefined) retries.push({ ...record, tier });
  }
  return { inputTopics: topics.inputs, inputs, committed, outputs, retries, deadLetters, ...(inputReadEnds ? { inputReadEnds } : {}) };
}

export interface AuditOptions {
  /** The pipeline's policy can skip a failed record (`onError: skip` or `then: skip`): an input without trace may be a skip. */
  readonly policyMaySkip?: boolean;
  /** Inputs that may have been skipped by the policy do not fail the audit (they are still reported). */
  readonly allowSkipped?: boolean;
  /** How many problem inputs to describe (0: none; default 20). */
  readonly problemLimit?: number;
}

/**
 * Where one input ended:
 * - `output`, `dead-letter`: its ending is committed;
 * - `in-retry`: its latest copy waits in a retry tier, past the group's committed offset there;
 * - `not-yet-processed`: at or past the group's committed offset of its partition, without trace yet;
 * - `missing`: committed past, but no output, dead-letter copy or pending retry copy
 *   (or, when the policy can skip, `missing-or-skipped`: a skip leaves no trace).
 */
export type Ending = 'output' | 'dead-letter' | 'in-retry' | 'not-yet-processed' | 'missing' | 'missing-or-skipped';

export interface InputFinding {
  readonly input: string;
  readonly ending: Ending;
  /** Set when a record was written more than once (two outputs, two copies in one tier, output and dead letter). */
  readonly duplicated: boolean;
  readonly outputs: readonly string[];
  readonly deadLetters: readonly string[];
  /** Retry copies, `<tier>:<topic>/<partition>/<offset>`. */
  readonly retries: readonly string[];
}

export interface PipelineAudit {
  /** Input records read. */
  readonly inputs: number;
  /** Inputs below the group's committed offset. */
  readonly processed: number;
  readonly endings: {
    readonly output: number;
    readonly deadLetter: number;
    readonly inRetry: number;
    /** In retry, by tier of the latest copy. */
    readonly inRetryByTier: Readonly<Record<string, number>>;
    readonly notYetProcessed: number;
    readonly missing: number;
    readonly missingOrSkipped: number;
  };
  /** Processed inputs with exactly one ending (output, dead letter or pending retry) and no duplicate. */
  readonly covered: number;
  /** Processed inputs without ending (missing, or missing-or-skipped). */
  readonly missing: number;
  /** Inputs written more than once somewhere. */
  readonly duplicated: number;
  /** Records beyond the first, summed over duplicated inputs. */
  readonly duplicates: number;
  readonly records: { readonly outputs: number; readonly retries: number; readonly deadLetters: number };
  /**
   * Records not counted: no lineage header, lineage of another topic, of an input past where
   * the read of its partition stopped, or of an input no longer in the log (retention).
   */
  readonly notCounted: { readonly noLineage: number; readonly otherTopics: number; readonly pastRead: number; readonly inputGone: number };
  readonly policyMaySkip: boolean;
  /** No missing and no duplicated input (and no missing-or-skipped one unless allowed). */
  readonly ok: boolean;
  /** Missing and duplicated inputs, up to the problem limit, in input order. */
  readonly problems: readonly InputFinding[];
  /** Missing or duplicated inputs in all (problems lists the first of them). */
  readonly problemCount: number;
}

function byPosition(a: Position, b: Position): number {
  if (a.topic !== b.topic) return a.topic < b.topic ? -1 : 1;
  if (a.partition !== b.partition) return a.partition - b.partition;
  const difference = BigInt(a.offset) - BigInt(b.offset);
  return difference < 0n ? -1 : difference > 0n ? 1 : 0;
}

export function positionKey(topic: string, partition: number): string {
  return `${topic}/${partition}`;
}

interface Traces {
  outputs: Position[];
  deadLetters: Position[];
  /** Copies per tier. */
  retries: Map<number, Position[]>;
}

export function auditPipeline(snapshot: AuditSnapshot, options: AuditOptions = {}): PipelineAudit {
  const { policyMaySkip = false, allowSkipped = false, problemLimit = DEFAULTS.auditProblems } = options;
  const inputTopics = new Set(snapshot.inputTopics);
  const traces = new Map<string, Traces>();
  // Readers interleave partitions as they like: sort, so the report (and its problem list) does not depend on the reader.
  const inputOrder = [...snapshot.inputs].sort(byPosition);
  for (const input of inputOrder) traces.set(encodeLineage(input), { outputs: [], deadLetters: [], retries: new Map() });
  const notCounted = { noLineage: 0, otherTopics: 0, pastRead: 0, inputGone: 0 };
  const traceOf = (record: Trace): Traces | undefined => {
    const lineage = parseLineage(record.lineage);
    if (!lineage) {
      notCounted.noLineage++;
      return undefined;
    }
    if (!inputTopics.has(lineage.topic)) {
      notCounted.otherTopics++;
      return undefined;
    }
    const found = traces.get(encodeLineage(lineage));
    if (found) return found;
    const readEnd = snapshot.inputReadEnds?.get(positionKey(lineage.topic, lineage.partition));
    if (readEnd !== undefined && BigInt(lineage.offset) >= BigInt(readEnd)) notCounted.pastRead++;
    // Else the input is not in the log (deleted by retention, or the header was written by hand).
    else notCounted.inputGone++;
    return undefined;
  };
  const records = { outputs: 0, retries: 0, deadLetters: 0 };
  for (const output of snapshot.outputs) {
    records.outputs++;
    traceOf(output)?.outputs.push(output);
  }
  for (const dead of snapshot.deadLetters ?? []) {
    records.deadLetters++;
    traceOf(dead)?.deadLetters.push(dead);
  }
  for (const copy of snapshot.retries ?? []) {
    records.retries++;
    const found = traceOf(copy);
    if (!found) continue;
    const tier = found.retries.get(copy.tier) ?? [];
    tier.push(copy);
    found.retries.set(copy.tier, tier);
  }

  const pendingIn = (position: Position): boolean => {
    const committed = snapshot.committed.get(positionKey(position.topic, position.partition));
    return committed === undefined || BigInt(position.offset) >= BigInt(committed);
  };
  const endings = { output: 0, deadLetter: 0, inRetry: 0, notYetProcessed: 0, missing: 0, missingOrSkipped: 0 };
  const inRetryByTier: Record<string, number> = {};
  let processed = 0;
  let covered = 0;
  let duplicated = 0;
  let duplicates = 0;
  const problems: InputFinding[] = [];
  let problemCount = 0;
  for (const input of inputOrder) {
    const lineage = encodeLineage(input);
    const found = traces.get(lineage) as Traces;
    const isProcessed = !pendingIn(input);
    if (isProcessed) processed++;
    // A record written twice: every ending beyond the first, and every extra copy within one retry tier.
    let extra = Math.max(0, found.outputs.length + found.deadLetters.length - 1);
    for (const copies of found.retries.values()) extra += copies.length - 1;
    const ending = endingOf(found, isProcessed, pendingIn, policyMaySkip);
    if (ending.kind === 'in-retry') inRetryByTier[String(ending.tier)] = (inRetryByTier[String(ending.tier)] ?? 0) + 1;
    endings[ENDING_COUNTER[ending.kind]]++;
    const isMissing = ending.kind === 'missing' || ending.kind === 'missing-or-skipped';
    if (extra > 0) {
      duplicated++;
      duplicates += extra;
    }
    if (isProcessed && !isMissing && extra === 0) covered++;
    if (isMissing || extra > 0) problemCount++;
    if ((isMissing || extra > 0) && problems.length < problemLimit) {
      problems.push({
        input: lineage,
        ending: ending.kind,
        duplicated: extra > 0,
        outputs: [...found.outputs].sort(byPosition).map(encodeLineage),
        deadLetters: [...found.deadLetters].sort(byPosition).map(encodeLineage),
        retries: [...found.retries]
          .sort(([a], [b]) => a - b)
          .flatMap(([tier, copies]) => [...copies].sort(byPosition).map((copy) => `${tier}:${encodeLineage(copy)}`)),
      });
    }
  }
  const missing = endings.missing + endings.missingOrSkipped;
  return {
    inputs: inputOrder.length,
    processed,
    endings: { ...endings, inRetryByTier },
    covered,
    missing,
    duplicated,
    duplicates,
    records,
    notCounted,
    policyMaySkip,
    ok: endings.missing === 0 && (allowSkipped || endings.missingOrSkipped === 0) && duplicated === 0,
    problems,
    problemCount,
  };
}

const ENDING_COUNTER = {
  output: 'output',
  'dead-letter': 'deadLetter',
  'in-retry': 'inRetry',
  'not-yet-processed': 'notYetProcessed',
  missing: 'missing',
  'missing-or-skipped': 'missingOrSkipped',
} as const satisfies Record<Ending, string>;

function endingOf(
  found: Traces,
  isProcessed: boolean,
  pendingIn: (position: Position) => boolean,
  policyMaySkip: boolean,
): { kind: Ending; tier?: number } {
  if (found.outputs.length > 0) return { kind: 'output' };
  if (found.deadLetters.length > 0) return { kind: 'dead-letter' };
  // The latest tier holding a copy the group has not committed past: the record waits there.
  const pendingTiers = [...found.retries]
    .filter(([, copies]) => copies.some(pendingIn))
    .map(([tier]) => tier)
    .sort((a, b) => b - a);
  if (pendingTiers.length > 0) return { kind: 'in-retry', tier: pendingTiers[0] };
  // Under an at-least-once strategy an output can precede the commit; without any trace,
  // a record at or past the committed offset has simply not been processed yet.
  if (!isProcessed && found.retries.size === 0) return { kind: 'not-yet-processed' };
  return { kind: policyMaySkip ? 'missing-or-skipped' : 'missing' };
}

/** The lines `txstream audit` prints (without --json). */
export function formatPipelineAudit(audit: PipelineAudit, context: { pipeline: string; groupId: string; topics: string }): string {
  const n = (value: number) => value.toLocaleString('en-US');
  const e = audit.endings;
  const tiers = Object.entries(audit.endings.inRetryByTier)
    .map(([tier, count]) => `tier ${tier}: ${n(count)}`)
    .join(', ');
  const lines = [
    `pipeline ${context.pipeline} (group ${context.groupId}), read_committed: ${context.topics}`,
    `  inputs read:          ${n(audit.inputs)}`,
    `  processed:            ${n(audit.processed)} (below the group's committed offsets)`,
    `    ended in output:      ${n(e.output)}`,
    `    ended in dead-letter: ${n(e.deadLetter)}`,
    `    in retry (pending):   ${n(e.inRetry)}${tiers ? ` (${tiers})` : ''}`,
    audit.policyMaySkip ? `    missing or skipped:   ${n(e.missingOrSkipped + e.missing)}` : `    missing:              ${n(e.missing)}`,
    `  not yet processed:    ${n(e.notYetProcessed)} (at or past the group's committed offset; not counted as missing)`,
    `  covered:              ${n(audit.covered)} of ${n(audit.processed)} processed`,
    `  duplicated:           ${n(audit.duplicated)} input(s), ${n(audit.duplicates)} extra record(s)`,
    `  records read:         ${n(audit.records.outputs)} output, ${n(audit.records.retries)} retry, ${n(audit.records.deadLetters)} dead-letter`,
  ];
  const { noLineage, otherTopics, pastRead, inputGone } = audit.notCounted;
  if (noLineage + otherTopics + pastRead + inputGone > 0) {
    lines.push(
      `  not counted:          ${n(noLineage)} without lineage header, ${n(otherTopics)} from other topics, ` +
        `${n(pastRead)} of inputs written after the read began, ${n(inputGone)} whose input is no longer in the log`,
    );
  }
  lines.push(
    audit.policyMaySkip
      ? '  note: this pipeline\'s error policy can skip records, and a skipped record leaves no trace in Kafka: a "missing or skipped" input is either (the worker logs and counts skips).'
      : '  note: a record skipped by an error policy leaves no trace in Kafka; this pipeline\'s policy does not skip.',
  );
  for (const problem of audit.problems) {
    const where = [
      ...problem.outputs.map((p) => `output ${p}`),
      ...problem.retries.map((p) => `retry tier ${p}`),
      ...problem.deadLetters.map((p) => `dead-letter ${p}`),
    ];
    const what = problem.duplicated ? 'duplicated' : problem.ending.replace(/-/g, ' ');
    lines.push(`  ${what}: ${problem.input}${where.length > 0 ? ` -> ${where.join(', ')}` : ': no output, retry or dead-letter copy'}`);
  }
  if (audit.problems.length < audit.problemCount) lines.push(`  … and ${n(audit.problemCount - audit.problems.length)} more (--problems <count> lists more)`);
  lines.push(
    audit.ok
      ? audit.missing > 0
        ? `OK: no duplicate; ${n(audit.missing)} input(s) without ending, allowed as skipped by the policy`
        : `OK: every processed input has exactly one ending`
      : `FAILED: ${n(audit.missing)} ${audit.policyMaySkip ? 'missing or skipped' : 'missing'}, ${n(audit.duplicated)} duplicated`,
  );
  return lines.join('\n');
}
