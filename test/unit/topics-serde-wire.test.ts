import { describe, expect, it } from 'vitest';
import { DecodeError, isNonRetryable } from '../../src/errors/index.js';
import {
  createRegistrySerde,
  isPreparableSerde,
  protobufMessageIndexes,
  readMessageIndexes,
  SchemaNotReadyError,
  writeMessageIndexes,
} from '../../src/serde/registry.js';
import { jsonSerde } from '../../src/serde/index.js';

/**
 * The registry serdes' wire-format handling, without a registry: nothing here talks to one
 * (the URL below has nothing listening). The round trips through a real registry are in
 * test/integration/serde-registry-*.test.ts.
 */

const where = { topic: 'payments', partition: 0, offset: '7' };
const NOWHERE = 'http://127.0.0.1:9/apis/ccompat/v7';

describe('registry serde wire format', () => {
  it('is a preparable serde; the built-in ones are not', async () => {
    const serde = await createRegistrySerde({ url: NOWHERE, format: 'avro', subject: 'payments-value', prefetchSubject: false });
    expect(isPreparableSerde(serde)).toBe(true);
    expect(isPreparableSerde(jsonSerde)).toBe(false);
    expect(serde.name).toBe('avro(payments-value)');
  });

  it('gives a non-retryable DecodeError for bytes that are not in the wire format, and null for tombstones', async () => {
    const serde = await createRegistrySerde({ url: NOWHERE, format: 'avro', subject: 'payments-value', prefetchSubject: false });
    expect(serde.decode(null, where)).toBeNull();
    const short = () => serde.decode(Buffer.from([0, 0, 1]), where);
    expect(short).toThrow(DecodeError);
    expect(short).toThrow('record payments[0]@7 is not in the schema registry wire format (3 bytes); serde avro(payments-value)');
    const json = () => serde.decode(Buffer.from('{"id":"p-1"}'), where);
    expect(json).toThrow('is not in the schema registry wire format (magic byte 123, expected 0)');
    try {
      json();
    } catch (error) {
      expect(isNonRetryable(error)).toBe(true);
    }
  });

  it('fails a record whose schema was not prepared with a retryable error, never a DecodeError', async () => {
    const serde = await createRegistrySerde({ url: NOWHERE, format: 'avro', subject: 'payments-value', prefetchSubject: false });
    const record = Buffer.from([0, 0, 0, 0, 42, 2, 65]);
    let failure: unknown;
    try {
      serde.decode(record, where);
    } catch (error) {
      failure = error;
    }
    expect(failure).toBeInstanceOf(SchemaNotReadyError);
    expect(isNonRetryable(failure)).toBe(false);
    expect((failure as SchemaNotReadyError).schemaId).toBe(42);
  });

  it('fails prepare with a retryable error when the registry does not answer', async () => {
    const serde = await createRegistrySerde({ url: NOWHERE, format: 'avro', subject: 'payments-value', prefetchSubject: false });
    const failure = await serde.prepare([Buffer.from([0, 0, 0, 0, 43, 2])]).catch((error: unknown) => error);
    expect(failure).toBeInstanceOf(Error);
    expect(isNonRetryable(failure)).toBe(false);
    expect(String((failure as Error).message)).toMatch(/^schema registry http:\/\/127\.0\.0\.1:9\/apis\/ccompat\/v7: cannot fetch schema id 43/);
  });

  it('refuses to encode without a writer schema', async () => {
    const serde = await createRegistrySerde({ url: NOWHERE, format: 'avro', subject: 'payments-value', prefetchSubject: false });
    expect(serde.encode(null)).toBeNull();
    expect(() => serde.encode({ id: 'x' })).toThrow(/has no writer schema/);
  });
});

describe('protobuf message indexes', () => {
  it('writes the first message as a single 0 byte, others as zigzag varints, and reads both back', () => {
    expect(writeMessageIndexes([0])).toEqual(Buffer.from([0]));
    expect(writeMessageIndexes([2])).toEqual(Buffer.from([2, 4]));
    expect(writeMessageIndexes([1, 70])).toEqual(Buffer.from([4, 2, 140, 1]));
    for (const indexes of [[0], [2], [1, 70]]) {
      const encoded = Buffer.concat([writeMessageIndexes(indexes), Buffer.from([8, 1])]);
      expect(readMessageIndexes(encoded, where)).toEqual({ indexes, rest: Buffer.from([8, 1]) });
    }
  });

  it('fails truncated indexes with a DecodeError', () => {
    expect(() => readMessageIndexes(Buffer.from([0x80]), where)).toThrow(DecodeError);
  });

  it('finds a top-level message by name, ignoring nested ones and comments', () => {
    const proto = `syntax = "proto3";
package shop;
// message Commented {}
message Order { message Line { string sku = 1; } repeated Line lines = 1; }
message Payment { string id = 1; }`;
    expect(protobufMessageIndexes(proto, undefined)).toEqual([]);
    expect(protobufMessageIndexes(proto, 'Payment')).toEqual([1]);
    expect(protobufMessageIndexes(proto, 'shop.Order')).toEqual([0]);
    expect(() => protobufMessageIndexes(proto, 'Line')).toThrow("protobuf message 'Line' is not a top-level message of the schema (top-level: Order, Payment)");
  });
});
