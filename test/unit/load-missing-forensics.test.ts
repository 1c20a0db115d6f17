import { describe, expect, it } from 'vitest';
import { describeWhereabouts, findLineages, verdictOf } from '../../load-tests/lib/missing-forensics.js';

describe("the load harness's look-up of inputs an audit reported missing", () => {
  it("finds a lineage among kcat's headers, with the record's position", () => {
    const output = [
      'run.out 3 17 txstream-lineage=run.in/5/120',
      'run.out 3 18 other=x,txstream-lineage=run.in/5/121',
      'run.dlt 0 4 txstream-error=line one',
      'run.in/5/122 is not a record line',
      'run.out 7 2 txstream-lineage=run.in/5/120',
      '',
    ].join('\n');
    const found = findLineages(output, new Set(['run.in/5/120', 'run.in/5/121', 'run.in/5/122', 'run.in/5/999']));
    expect(found.get('run.in/5/120')).toEqual(['run.out/3/17', 'run.out/7/2']);
    expect(found.get('run.in/5/121')).toEqual(['run.out/3/18']);
    expect(found.has('run.in/5/122')).toBe(false);
    expect(found.has('run.in/5/999')).toBe(false);
  });

  it('tells a record the audit did not count from one never written, and from one only in uncommitted records', () => {
    const counted = { input: 'in/1/5', committed: ['out/2/9'], uncommitted: ['out/2/9'] };
    const aborted = { input: 'in/1/6', committed: [], uncommitted: ['out/2/10'] };
    const lost = { input: 'in/1/7', committed: [], uncommitted: [] };
    expect([counted, aborted, lost].map(verdictOf)).toEqual(['counted-by-audit-miss', 'only-uncommitted', 'not-written']);
    expect(describeWhereabouts([counted, lost])).toBe(
      'in/1/5 at out/2/9: in a committed output: the audit missed it (audit bug, not a loss); in/1/7: in no output or dead-letter record, committed or not: LOST (product bug)',
    );
  });
});
