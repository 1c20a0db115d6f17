import { describe, expect, it } from 'vitest';
import type { ReadRecord } from '../support/kafka.js';
import { compareReaders } from '../support/dual-audit.js';

const record = (partition: number, offset: number, lineage = `in:${partition}:${offset}`): ReadRecord => ({
  topic: 'out',
  partition,
  offset: String(offset),
  timestamp: 0,
  key: null,
  value: null,
  headers: { 'txstream-lineage': lineage },
});

describe('compareReaders (do kcat and KafkaJS read the same committed records?)', () => {
  it('agrees on the same records in any order', () => {
    expect(compareReaders([record(0, 1), record(1, 5)], [record(1, 5), record(0, 1)]).agree).toBe(true);
  });

  it('names records only one reader returned', () => {
    const result = compareReaders([record(0, 1), record(0, 2)], [record(0, 1), record(1, 3)]);
    expect(result).toMatchObject({ agree: false, onlyFirst: ['out/0@2'], onlySecond: ['out/1@3'] });
  });

  it('flags a record read with a different lineage', () => {
    const result = compareReaders([record(0, 1)], [record(0, 1, 'in:9:9')]);
    expect(result).toMatchObject({ agree: false, differentLineage: ['out/0@1'] });
  });

  it('does not agree when one reader returned a record twice', () => {
    expect(compareReaders([record(0, 1), record(0, 1)], [record(0, 1)]).agree).toBe(false);
  });
});
