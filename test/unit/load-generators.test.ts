import { describe, expect, it } from 'vitest';
import { avroLoadSerde, createGenerator, keyPicker, readStamp, seededRandom } from '../../load-tests/lib/generators.js';
import { DecodeError, jsonSerde } from '../../src/index.js';

const where = { topic: 't', partition: 0, offset: '0' };

describe('generators', () => {
  it('makes JSON values of about the asked size, stamped with n and sentAt first', () => {
    const generator = createGenerator({ recordBytes: 1024, seed: 1 });
    const record = generator.next(7, 1_700_000_000_123.5);
    expect(record.poison).toBe(false);
    expect(record.value.length).toBeGreaterThanOrEqual(1000);
    expect(record.value.length).toBeLessThanOrEqual(1030);
    expect(jsonSerde.decode(record.value, where)).toMatchObject({ n: 7, sentAt: 1_700_000_000_123.5 });
    expect(readStamp(record.value, 'json')).toEqual({ n: 7, sentAt: 1_700_000_000_123.5 });
  });

  it('makes Avro values the load serde decodes', () => {
    const generator = createGenerator({ recordBytes: 512, format: 'avro' });
    const record = generator.next(3, 1000);
    expect(Math.abs(record.value.length - 512)).toBeLessThan(20);
    expect(avroLoadSerde.decode(record.value, where)).toMatchObject({ n: 3, sentAt: 1000 });
    expect(readStamp(record.value, 'avro')).toEqual({ n: 3, sentAt: 1000 });
    expect(avroLoadSerde.encode(avroLoadSerde.decode(record.value, where))).toEqual(record.value);
  });

  it('mixes in poison records at the asked ratio, which neither serde decodes', () => {
    for (const format of ['json', 'avro'] as const) {
      const generator = createGenerator({ poisonRatio: 0.1, seed: 5, format, recordBytes: 200 });
      const records = Array.from({ length: 10_000 }, (_, n) => generator.next(n, n));
      const poison = records.filter((r) => r.poison);
      expect(poison.length).toBeGreaterThan(900);
      expect(poison.length).toBeLessThan(1100);
      const serde = format === 'json' ? jsonSerde : avroLoadSerde;
      for (const record of poison.slice(0, 20)) {
        expect(() => serde.decode(record.value, where)).toThrow(DecodeError);
        expect(readStamp(record.value, format)).toBeUndefined();
      }
    }
    expect(createGenerator({ poisonRatio: 0 }).next(1, 1).poison).toBe(false);
    expect(() => createGenerator({ poisonRatio: 2 })).toThrow(/poisonRatio/);
  });

  it('is deterministic for a seed', () => {
    const a = createGenerator({ seed: 9, keyDistribution: 'zipf' });
    const b = createGenerator({ seed: 9, keyDistribution: 'zipf' });
    for (let n = 0; n < 100; n++) expect(a.next(n, 0)).toEqual(b.next(n, 0));
  });

  it('spreads uniform keys evenly and concentrates zipf keys on a few hot ones', () => {
    const count = (distribution: 'uniform' | 'zipf') => {
      const pick = keyPicker(100, distribution, seededRandom(3), 1.1);
      const counts = new Array<number>(100).fill(0);
      for (let i = 0; i < 50_000; i++) {
        const key = pick();
        counts[key] = (counts[key] ?? 0) + 1;
      }
      return counts;
    };
    const uniform = count('uniform');
    expect(Math.max(...uniform)).toBeLessThan(700);
    expect(Math.min(...uniform)).toBeGreaterThan(300);
    const zipf = count('zipf');
    const hottest = zipf[0] as number;
    expect(hottest).toBeGreaterThan(zipf[9] as number);
    expect(hottest / 50_000).toBeGreaterThan(0.15); // 1/H(100, 1.1) ≈ 0.2
    expect(zipf.slice(0, 10).reduce((a, b) => a + b, 0) / 50_000).toBeGreaterThan(0.5);
    expect(() => keyPicker(0, 'uniform', Math.random)).toThrow(/keys/);
  });
});
