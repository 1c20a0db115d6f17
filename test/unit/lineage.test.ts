import { describe, expect, it } from 'vitest';
import { encodeLineage, LINEAGE_HEADER, parseLineage } from '../../src/pipeline/lineage.js';

describe('lineage header', () => {
  it('has a stable header name', () => {
    expect(LINEAGE_HEADER).toBe('txstream-lineage');
  });

  it('encodes topic/partition/offset', () => {
    expect(encodeLineage({ topic: 'orders', partition: 3, offset: '42' })).toBe('orders/3/42');
  });

  it('round-trips through encode and parse', () => {
    const source = { topic: 'orders', partition: 7, offset: '123456' };
    expect(parseLineage(encodeLineage(source))).toEqual(source);
  });

  it.each(['orders.v2', 'orders-eu', 'orders_raw', 'a.b-c_d.E9', '__consumer_offsets', 'x'])('round-trips topic name %s', (topic) => {
    const source = { topic, partition: 0, offset: '0' };
    expect(parseLineage(encodeLineage(source))).toEqual(source);
  });

  it('keeps 64-bit offsets exact as strings', () => {
    const source = { topic: 't', partition: 1, offset: '9223372036854775807' };
    expect(parseLineage(encodeLineage(source))).toEqual(source);
  });

  it('parses a Buffer header value', () => {
    expect(parseLineage(Buffer.from('payments/12/99'))).toEqual({ topic: 'payments', partition: 12, offset: '99' });
  });

  it('returns a number partition and a string offset', () => {
    const parsed = parseLineage('t/5/6');
    expect(typeof parsed?.partition).toBe('number');
    expect(typeof parsed?.offset).toBe('string');
  });

  it('returns undefined for a missing header', () => {
    expect(parseLineage(undefined)).toBeUndefined();
    expect(parseLineage(null)).toBeUndefined();
  });

  it.each([
    '',
    'orders',
    'orders/1',
    'orders/1/',
    '/1/2',
    'orders//2',
    'orders/1/2/3',
    'orders/-1/2',
    'orders/1/-2',
    'orders/a/2',
    'orders/1/2x',
    'orders/1.5/2',
    'ord ers/1/2',
    'orders#/1/2',
    ' orders/1/2',
    'orders/1/2\n',
  ])('rejects malformed value %j', (value) => {
    expect(parseLineage(value)).toBeUndefined();
  });
});
