import { describe, expect, it } from 'vitest';
import { auditLineage } from '../../src/audit/lineage-audit.js';
import { type AuditSnapshot, auditPipeline, formatPipelineAudit, positionKey, type RetryTrace, type Trace } from '../../src/audit/pipeline-audit.js';

const inputs = (topic: string, partition: number, count: number) =>
  Array.from({ length: count }, (_, offset) => ({ topic, partition, offset: String(offset) }));
const out = (offset: number, lineage: string | null): Trace => ({ topic: 'in.out', partition: 0, offset: String(offset), lineage });
const dlt = (offset: number, lineage: string): Trace => ({ topic: 'in.dlt', partition: 0, offset: String(offset), lineage });
const retry = (tier: number, offset: number, lineage: string): RetryTrace => ({ topic: `in.retry.${tier}`, partition: 0, offset: String(offset), lineage, tier });

function snapshot(overrides: Partial<AuditSnapshot>): AuditSnapshot {
  return {
    inputTopics: ['in'],
    inputs: inputs('in', 0, 4),
    committed: new Map([[positionKey('in', 0), '4']]),
    outputs: [],
    ...overrides,
  };
}

describe('auditPipeline', () => {
  it('counts every committed input with one output as covered', () => {
    const audit = auditPipeline(snapshot({ outputs: [0, 1, 2, 3].map((n) => out(n, `in/0/${n}`)) }));
    expect(audit).toMatchObject({ inputs: 4, processed: 4, covered: 4, missing: 0, duplicated: 0, duplicates: 0, ok: true, problems: [] });
    expect(audit.endings).toMatchObject({ output: 4, deadLetter: 0, inRetry: 0, notYetProcessed: 0 });
  });

  it('tells inputs past the committed offset apart from missing ones', () => {
    // Committed up to 2: offsets 2 and 3 are not yet processed, offset 1 has no trace: missing.
    const audit = auditPipeline(snapshot({ committed: new Map([[positionKey('in', 0), '2']]), outputs: [out(0, 'in/0/0')] }));
    expect(audit).toMatchObject({ processed: 2, covered: 1, missing: 1, ok: false });
    expect(audit.endings).toMatchObject({ output: 1, notYetProcessed: 2, missing: 1 });
    expect(audit.problems).toEqual([{ input: 'in/0/1', ending: 'missing', duplicated: false, outputs: [], deadLetters: [], retries: [] }]);
  });

  it('treats a partition without committed offset as not yet processed', () => {
    const audit = auditPipeline(snapshot({ committed: new Map() }));
    expect(audit).toMatchObject({ processed: 0, missing: 0, ok: true });
    expect(audit.endings.notYetProcessed).toBe(4);
  });

  it('follows retries: pending in a tier, then output or dead letter; a consumed copy without next hop is missing', () => {
    const audit = auditPipeline(
      snapshot({
        committed: new Map([
          [positionKey('in', 0), '4'],
          [positionKey('in.retry.1', 0), '2'],
          [positionKey('in.retry.2', 0), '0'],
        ]),
        // in/0/0 -> retry 1 (consumed) -> retry 2 (pending); in/0/1 -> retry 1 (consumed) -> dead letter;
        // in/0/2 and in/0/3 -> retry 1 (pending: offsets 2 and 3 are past the committed 2).
        outputs: [],
        retries: [retry(1, 0, 'in/0/0'), retry(1, 1, 'in/0/1'), retry(1, 2, 'in/0/2'), retry(1, 3, 'in/0/3'), retry(2, 0, 'in/0/0')],
        deadLetters: [dlt(0, 'in/0/1')],
      }),
    );
    expect(audit.endings).toMatchObject({ output: 0, deadLetter: 1, inRetry: 3, inRetryByTier: { '1': 2, '2': 1 }, missing: 0 });
    expect(audit.missing).toBe(0);
    const consumed = auditPipeline(
      snapshot({
        committed: new Map([
          [positionKey('in', 0), '4'],
          [positionKey('in.retry.1', 0), '4'],
        ]),
        outputs: [out(0, 'in/0/0'), out(1, 'in/0/1'), out(2, 'in/0/2')],
        retries: [retry(1, 3, 'in/0/3')],
      }),
    );
    expect(consumed).toMatchObject({ missing: 1, ok: false });
    expect(consumed.problems[0]).toMatchObject({ input: 'in/0/3', ending: 'missing', retries: ['1:in.retry.1/0/3'] });
  });

  it('counts duplicates: two outputs, output and dead letter, two copies in one tier', () => {
    const audit = auditPipeline(
      snapshot({
        committed: new Map([
          [positionKey('in', 0), '4'],
          [positionKey('in.retry.1', 0), '10'],
        ]),
        outputs: [out(0, 'in/0/0'), out(1, 'in/0/0'), out(2, 'in/0/1'), out(3, 'in/0/2'), out(4, 'in/0/3')],
        deadLetters: [dlt(0, 'in/0/1')],
        retries: [retry(1, 0, 'in/0/2'), retry(1, 1, 'in/0/2')],
      }),
    );
    expect(audit).toMatchObject({ duplicated: 3, duplicates: 3, missing: 0, covered: 1, ok: false });
    expect(audit.problems.map((p) => p.input)).toEqual(['in/0/0', 'in/0/1', 'in/0/2']);
    expect(audit.problems[0]).toMatchObject({ duplicated: true, outputs: ['in.out/0/0', 'in.out/0/1'] });
  });

  it('says "missing or skipped" when the policy can skip', () => {
    const audit = auditPipeline(snapshot({ outputs: [out(0, 'in/0/0')] }), { policyMaySkip: true });
    expect(audit.endings).toMatchObject({ missing: 0, missingOrSkipped: 3 });
    expect(audit.missing).toBe(3);
    expect(formatPipelineAudit(audit, { pipeline: 'p', groupId: 'g', topics: 'in' })).toMatch(/leaves no trace[\s\S]*FAILED: 3 missing or skipped, 0 duplicated/);
    const allowed = auditPipeline(snapshot({ outputs: [out(0, 'in/0/0')] }), { policyMaySkip: true, allowSkipped: true });
    expect(allowed).toMatchObject({ ok: true, missing: 3 });
    expect(formatPipelineAudit(allowed, { pipeline: 'p', groupId: 'g', topics: 'in' })).toMatch(/OK: no duplicate; 3 input\(s\) without ending, allowed as skipped by the policy$/);
    // A definite miss (policy cannot skip) is never allowed.
    expect(auditPipeline(snapshot({ outputs: [] }), { allowSkipped: true }).ok).toBe(false);
  });

  it('does not count records without lineage, of other topics, or of inputs gone from the log', () => {
    const audit = auditPipeline(
      snapshot({ outputs: [0, 1, 2, 3].map((n) => out(n, `in/0/${n}`)).concat([out(4, null), out(5, 'other/0/1'), out(6, 'in/0/99'), out(7, 'garbage')]) }),
    );
    expect(audit).toMatchObject({ ok: true, covered: 4, notCounted: { noLineage: 2, otherTopics: 1, pastRead: 0, inputGone: 1 }, records: { outputs: 8 } });
  });

  it('tells records of inputs past the read apart from inputs gone from the log', () => {
    // Only offsets 0..1 were read (the committed range, or the end when the read began).
    const audit = auditPipeline(
      snapshot({
        inputs: inputs('in', 0, 2),
        committed: new Map([[positionKey('in', 0), '2']]),
        inputReadEnds: new Map([[positionKey('in', 0), '2']]),
        outputs: [out(0, 'in/0/0'), out(1, 'in/0/1'), out(2, 'in/0/2'), out(3, 'in/0/7')],
      }),
    );
    expect(audit).toMatchObject({ ok: true, covered: 2, notCounted: { pastRead: 2, inputGone: 0 } });
    const gone = auditPipeline(snapshot({ inputs: inputs('in', 0, 4).slice(2), inputReadEnds: new Map([[positionKey('in', 0), '4']]), outputs: [out(0, 'in/0/0')] }));
    expect(gone.notCounted).toMatchObject({ pastRead: 0, inputGone: 1 });
  });

  it('gives the same report whatever order a reader delivered the records in', () => {
    const two = [...inputs('in', 0, 12), ...inputs('in', 1, 12)];
    const outputs = two.flatMap((input, index) => [out(index, `in/${input.partition}/${input.offset}`), ...(index % 5 === 0 ? [out(100 + index, `in/${input.partition}/${input.offset}`)] : [])]);
    const committed = new Map([
      [positionKey('in', 0), '12'],
      [positionKey('in', 1), '12'],
    ]);
    const ordered = auditPipeline(snapshot({ inputs: two, committed, outputs }), { problemLimit: 3 });
    const reversed = auditPipeline(snapshot({ inputs: [...two].reverse(), committed, outputs: [...outputs].reverse() }), { problemLimit: 3 });
    expect(reversed).toEqual(ordered);
    expect(ordered.problems.map((p) => p.input)).toEqual(['in/0/0', 'in/0/5', 'in/0/10']);
    expect(ordered.problems[0]?.outputs).toEqual(['in.out/0/0', 'in.out/0/100']);
  });

  it('keeps 64-bit offsets exact', () => {
    const big = '9223372036854775806';
    const audit = auditPipeline({
      inputTopics: ['in'],
      inputs: [{ topic: 'in', partition: 0, offset: big }],
      committed: new Map([[positionKey('in', 0), '9223372036854775807']]),
      outputs: [out(0, `in/0/${big}`)],
    });
    expect(audit).toMatchObject({ processed: 1, covered: 1, ok: true });
  });

  it('formats a readable report with the problems', () => {
    const audit = auditPipeline(snapshot({ outputs: [out(0, 'in/0/0'), out(1, 'in/0/0'), out(2, 'in/0/1'), out(3, 'in/0/2')] }), { problemLimit: 1 });
    const text = formatPipelineAudit(audit, { pipeline: 'echo', groupId: 'g.echo', topics: 'in, in.out' });
    expect(text).toContain('pipeline echo (group g.echo)');
    expect(text).toContain('duplicated: in/0/0 -> output in.out/0/0, output in.out/0/1');
    expect(text).toContain('… and 1 more');
    expect(text).toMatch(/FAILED: 1 missing, 1 duplicated$/);
  });
});

describe('auditLineage (the same counting, every input processed)', () => {
  it('finds missing, duplicated and unexpected', () => {
    const result = auditLineage(inputs('in', 0, 3), ['in/0/0', 'in/0/0', 'in/0/2', 'x/0/0', undefined]);
    expect(result).toEqual({
      inputs: 3,
      outputs: 5,
      missing: 1,
      duplicates: 1,
      unexpected: 2,
      exactlyOnce: false,
      examples: { missing: ['in/0/1'], duplicated: ['in/0/0'] },
    });
    expect(auditLineage(inputs('in', 0, 2), ['in/0/1', Buffer.from('in/0/0')]).exactlyOnce).toBe(true);
  });
});
