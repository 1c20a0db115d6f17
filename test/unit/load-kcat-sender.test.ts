import { describe, expect, it } from 'vitest';
import { createGenerator } from '../../load-tests/lib/generators.js';
import { kcatLine } from '../../load-tests/lib/kcat-sender.js';

describe('the kcat sender of the latency runs', () => {
  it('frames a record as key, tab, value, newline', () => {
    expect(kcatLine('key-1', Buffer.from('{"n":1}')).toString()).toBe('key-1\t{"n":1}\n');
  });

  it('refuses a record the line framing cannot carry rather than splitting it', () => {
    expect(() => kcatLine('key-1', Buffer.from('a\nb'))).toThrow(/tab or newline/);
    expect(() => kcatLine('key\t1', Buffer.from('a'))).toThrow(/tab or newline/);
  });

  it('carries every record the load generator makes, poison included', () => {
    const generator = createGenerator({ poisonRatio: 0.2, seed: 7 });
    let poison = 0;
    for (let n = 0; n < 2_000; n++) {
      const record = generator.next(n, 1_700_000_000_000 + n);
      if (record.poison) poison++;
      expect(() => kcatLine(record.key, record.value)).not.toThrow();
    }
    expect(poison).toBeGreaterThan(0);
  });
});
