import { describe, expect, it } from 'vitest';
import { FAILURE_HEADERS } from '../../src/routing/failure-headers.js';
import { recordBatchSize, recordBatchSizeAtMost, varintSize } from '../../src/kafka/record-size.js';
import { fitCopy } from '../../src/routing/copy-fit.js';
import { checkOutput, typeProblem } from '../../src/worker/output-check.js';

const limits = { partitions: 3, maxMessageBytes: 1000 };

describe('recordBatchSize', () => {
  it('counts zigzag varints as the record format does', () => {
    expect([0, 63, 64, -1, 8191, 8192].map(varintSize)).toEqual([1, 1, 2, 1, 2, 3]);
  });

  it('is the batch overhead plus the record: 61 + length + attributes, deltas, key, value, headers', () => {
    // body: 3 + key(1+1) + value(1+3) + header count 1 + header (1+1)+(1+1) = 14; record = 1 + 14
    expect(recordBatchSize({ key: 'k', value: 'abc', headers: { h: 'v' } })).toBe(61 + 15);
    expect(recordBatchSize({ key: null, value: null })).toBe(61 + 1 + 6);
    expect(recordBatchSize({ value: 'x', headers: { h: ['a', 'b'] } })).toBe(recordBatchSize({ value: 'x', headers: { h: 'a', g: 'b' } }));
  });

  it('is never more than recordBatchSizeAtMost, the bound the output checks measure from', () => {
    const texts = ['', 'a', 'é', '€', '😀', 'x'.repeat(200), '€'.repeat(100), 'k'.repeat(20_000)];
    const values = [null, undefined, ...texts, ...texts.map((text) => Buffer.from(text))];
    let seed = 7;
    const pick = <T>(items: readonly T[]): T => items[(seed = (seed * 48271) % 2147483647) % items.length] as T;
    for (let n = 0; n < 2000; n++) {
      const headers: Record<string, string | Buffer | Array<string | Buffer>> = {};
      for (let h = pick([0, 1, 2, 5]); h > 0; h--) {
        const value = pick(values) ?? 'v';
        headers[pick(texts) + String(h)] = pick([true, false]) ? [value, pick(texts)] : value;
      }
      const message = { key: pick(values), value: pick(values) ?? null, headers };
      expect(recordBatchSizeAtMost(message)).toBeGreaterThanOrEqual(recordBatchSize(message));
    }
  });
});

describe('checkOutput', () => {
  it('accepts a well-formed record that fits', () => {
    expect(checkOutput('out', { key: 'k', value: Buffer.from('{}'), partition: 2 }, limits, true, ['out'])).toBeUndefined();
  });

  it.each([
    ['an undeclared topic', 'typo', { value: 'v' }, limits, false, "topic 'typo' is not an output of the pipeline (declared outputs: out)"],
    ['a missing topic', 'out', { value: 'v' }, undefined, true, "topic 'out' does not exist in the cluster"],
    ['a partition past the last', 'out', { value: 'v', partition: 3 }, limits, true, "topic 'out' partition 3 does not exist: the topic has partitions 0..2"],
    ['a negative partition', 'out', { value: 'v', partition: -1 }, limits, true, 'partition -1 does not exist'],
    ['a number key', 'out', { key: 5 as unknown as string, value: 'v' }, limits, true, 'key is a number'],
    ['an object value', 'out', { value: {} as unknown as string }, limits, true, 'value is a Object'],
    ['a boolean header', 'out', { value: 'v', headers: { h: true as unknown as string } }, limits, true, "header 'h' is a boolean"],
    ['a record too large', 'out', { value: 'x'.repeat(1000) }, limits, true, "record of 1070 bytes is larger than the topic's max.message.bytes (1000)"],
  ])('refuses %s', (_name, topic, message, topicLimits, declared, text) => {
    expect(checkOutput(topic, message, topicLimits, declared, ['out'])?.message).toContain(text);
  });

  it('names size and limit of a record too large', () => {
    expect(checkOutput('out', { value: 'x'.repeat(1000) }, limits, true, ['out'])).toMatchObject({ topic: 'out', sizeBytes: 1070, limitBytes: 1000 });
  });

  it('finds no type problem in strings, Buffers, nulls and header arrays', () => {
    expect(typeProblem({ key: Buffer.from('k'), value: null, headers: { a: ['x', Buffer.from('y')] } })).toBeUndefined();
  });
});

describe('fitCopy', () => {
  const copy = { key: 'k', value: 'v'.repeat(5000), headers: { [FAILURE_HEADERS.errorStack]: 's'.repeat(500), user: 'u'.repeat(200), [FAILURE_HEADERS.reason]: 'x' } };

  it('leaves a copy that fits alone', () => {
    expect(fitCopy(copy, 10_000)).toEqual({ copy, truncated: false });
  });

  it('cuts the value to fit exactly and records the original size', () => {
    const { copy: cut, truncated } = fitCopy(copy, 3000);
    expect(truncated).toBe(true);
    expect(recordBatchSize(cut)).toBeLessThanOrEqual(3000);
    expect(recordBatchSize(cut)).toBeGreaterThan(2990);
    expect(cut.headers?.[FAILURE_HEADERS.truncated]).toBe('5000');
    expect(String(cut.value)).toBe('v'.repeat(String(cut.value).length));
  });

  it('drops the value, then the stack and user headers, then the key, when even that is not enough', () => {
    const { copy: cut } = fitCopy(copy, 400);
    expect(cut.value).toBeNull();
    expect(cut.headers).not.toHaveProperty('user');
    expect(cut.headers).not.toHaveProperty(FAILURE_HEADERS.errorStack);
    expect(recordBatchSize(cut)).toBeLessThanOrEqual(400);
    expect(fitCopy(copy, 0).copy).toMatchObject({ key: null, value: null });
  });
});
