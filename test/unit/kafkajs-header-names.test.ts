import { describe, expect, it } from 'vitest';
import { kafkajsModule } from '../support/kafkajs-internals.js';

/**
 * A header's name is whatever a producer sent. KafkaJS 2.2.4 folded a fetched record's headers
 * looking each name up with inherited members, so a header named like one of Object.prototype's
 * (`constructor`, `toString`, `__proto__`) came out as `[that member, its value]`: a function or
 * Object.prototype among a record's header values, which a copy (a dead-letter copy, a replay) then
 * carried or choked on. patches/kafkajs+2.2.4+021+header-names-own.patch counts only the headers'
 * own keys; the test fails on the unpatched package.
 */
type Encoder = { readonly buffer: Buffer };
const { RecordBatch } = kafkajsModule<{ RecordBatch: (options: Record<string, unknown>) => Promise<Encoder> }>('src/protocol/recordBatch/v0');
const Record = kafkajsModule<(record: Record<string, unknown>) => Encoder>('src/protocol/recordBatch/record/v0');
const Decoder = kafkajsModule<new (buffer: Buffer) => unknown>('src/protocol/decoder');
const decodeBatch = kafkajsModule<(decoder: unknown) => Promise<{ records: Array<{ headers: Record<string, unknown> }> }>>('src/protocol/recordBatch/v0/decoder');

const buf = (text: string) => Buffer.from(text);

describe('KafkaJS header names (patched)', () => {
  it('decodes a header named like a member of Object.prototype as its own value', async () => {
    const headers: Record<string, Buffer | Buffer[]> = { constructor: buf('c'), toString: buf('t'), hasOwnProperty: buf('h'), plain: [buf('1'), buf('2')] };
    Object.defineProperty(headers, '__proto__', { value: [buf('p1'), buf('p2')], enumerable: true, writable: true, configurable: true });
    const batch = await RecordBatch({ firstOffset: '0', firstTimestamp: 0, maxTimestamp: 0, lastOffsetDelta: 0, records: [Record({ offsetDelta: 0, timestampDelta: 0, key: null, value: buf('v'), headers })] });
    const { records } = await decodeBatch(new Decoder(batch.buffer));
    const decoded = records[0]?.headers ?? {};
    expect(Object.getPrototypeOf(decoded)).toBe(Object.prototype);
    expect(decoded['constructor']).toEqual(buf('c'));
    expect(decoded['toString']).toEqual(buf('t'));
    expect(decoded['hasOwnProperty']).toEqual(buf('h'));
    expect(Object.getOwnPropertyDescriptor(decoded, '__proto__')?.value).toEqual([buf('p1'), buf('p2')]);
    expect(decoded['plain']).toEqual([buf('1'), buf('2')]);
    expect(Object.keys(decoded).sort()).toEqual(['__proto__', 'constructor', 'hasOwnProperty', 'plain', 'toString']);
  });
});
