import { describe, expect, it } from 'vitest';
import { splitIntoRequests } from '../../src/commit/request-size.js';
import { recordSizeInBatch } from '../../src/kafka/record-size.js';

const kb = (n: number) => ({ key: 'k', value: Buffer.alloc(n * 1024), headers: { 'txstream-lineage': 'orders/0/1' } });

describe('splitIntoRequests', () => {
  it('keeps a small unit in one request', () => {
    const requests = splitIntoRequests([{ topic: 'out', messages: [kb(1), kb(1)] }, { topic: 'out.dlt', messages: [kb(1)] }]);
    expect(requests).toHaveLength(1);
    expect(requests[0]?.map((r) => [r.topic, r.messages.length])).toEqual([
      ['out', 2],
      ['out.dlt', 1],
    ]);
  });

  it('splits 1,000 records of 1 KB into requests under the limit, keeping every record once and in order', () => {
    const messages = Array.from({ length: 1000 }, (_, i) => ({ ...kb(1), key: `k${i}` }));
    const requests = splitIntoRequests([{ topic: 'out', messages }], 256 * 1024);
    expect(requests.length).toBeGreaterThan(3);
    for (const request of requests) {
      expect(request.flatMap((r) => r.messages).reduce((sum, m) => sum + recordSizeInBatch(m), 0)).toBeLessThanOrEqual(256 * 1024);
    }
    expect(requests.flatMap((request) => request.flatMap((r) => r.messages.map((m) => m.key)))).toEqual(messages.map((m) => m.key));
  });

  it('sends a single record larger than the limit alone rather than dropping it', () => {
    const requests = splitIntoRequests([{ topic: 'out', messages: [kb(1), kb(600), kb(1)] }], 512 * 1024);
    expect(requests.map((request) => request.flatMap((r) => r.messages).length)).toEqual([1, 1, 1]);
  });
});
