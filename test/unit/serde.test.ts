import { describe, expect, it } from 'vitest';
import { DecodeError, isNonRetryable } from '../../src/errors/index.js';
import { BUILTIN_SERDES, bytesSerde, jsonBigIntSerde, jsonSerde, stringSerde } from '../../src/serde/index.js';

const where = { topic: 'orders', partition: 3, offset: '77' };

function decodeErrorOf(run: () => unknown): DecodeError {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(DecodeError);
    return error as DecodeError;
  }
  throw new Error('expected a DecodeError');
}

describe('BUILTIN_SERDES', () => {
  it('maps each name to its serde', () => {
    expect(BUILTIN_SERDES.json).toBe(jsonSerde);
    expect(BUILTIN_SERDES.string).toBe(stringSerde);
    expect(BUILTIN_SERDES.bytes).toBe(bytesSerde);
    expect(Object.entries(BUILTIN_SERDES).map(([name, serde]) => [name, serde.name])).toEqual([
      ['json', 'json'],
      ['json-bigint', 'json-bigint'],
      ['string', 'string'],
      ['bytes', 'bytes'],
    ]);
  });
});

describe('jsonSerde', () => {
  it('round-trips objects, arrays and primitives', () => {
    for (const value of [{ a: 1, nested: { b: [1, 'two', null] } }, [1, 2], 'text', 0, false, 3.25]) {
      const bytes = jsonSerde.encode(value);
      expect(bytes).toBeInstanceOf(Buffer);
      expect(jsonSerde.decode(bytes, where)).toEqual(value);
    }
  });

  it('encodes as UTF-8 JSON text', () => {
    expect(jsonSerde.encode({ name: 'café' })?.toString('utf8')).toBe('{"name":"café"}');
  });

  it('decodes UTF-8 JSON bytes', () => {
    expect(jsonSerde.decode(Buffer.from('{"name":"café","n":[1]}'), where)).toEqual({ name: 'café', n: [1] });
  });

  it('encodes null and undefined as a null value (tombstone)', () => {
    expect(jsonSerde.encode(null)).toBeNull();
    expect(jsonSerde.encode(undefined)).toBeNull();
  });

  it('does not treat falsy values as null', () => {
    expect(jsonSerde.encode(0)?.toString()).toBe('0');
    expect(jsonSerde.encode(false)?.toString()).toBe('false');
    expect(jsonSerde.encode('')?.toString()).toBe('""');
  });

  it('decodes null bytes to null', () => {
    expect(jsonSerde.decode(null, where)).toBeNull();
  });

  it('throws a non-retryable DecodeError naming topic[partition]@offset for malformed JSON', () => {
    const error = decodeErrorOf(() => jsonSerde.decode(Buffer.from('{"a":'), where));
    expect(error.message).toContain('orders[3]@77');
    expect(error.message).toContain('not valid JSON');
    expect(error.cause).toBeInstanceOf(SyntaxError);
    expect(isNonRetryable(error)).toBe(true);
  });

  it('rejects an empty buffer', () => {
    decodeErrorOf(() => jsonSerde.decode(Buffer.alloc(0), where));
  });
});

describe('numbers JavaScript cannot hold exactly', () => {
  const big = Buffer.from('{"id":12345678901234567890,"ids":[9007199254740993,-9007199254740993],"ok":9007199254740991,"text":"12345678901234567890","x":1.5}');

  it('json refuses them, naming the number, instead of rewriting them (12345678901234567890 would read as 12345678901234567000)', () => {
    const error = decodeErrorOf(() => jsonSerde.decode(big, where));
    expect(error.message).toMatch(/orders\[3\]@77: the JSON number 12345678901234567890 \(key 'id'\) cannot be held exactly .*'json-bigint'/);
    expect(isNonRetryable(error)).toBe(true);
    expect(() => jsonSerde.decode(Buffer.from('[9007199254740993]'), where)).toThrow(/9007199254740993/);
  });

  it('json takes every safe integer, and digits inside strings, as they are', () => {
    expect(jsonSerde.decode(Buffer.from('{"ok":9007199254740991,"min":-9007199254740991,"text":"123456789012345678901234"}'), where)).toEqual({
      ok: 9007199254740991,
      min: -9007199254740991,
      text: '123456789012345678901234',
    });
  });

  it('json-bigint reads them as BigInt and writes them back digit for digit', () => {
    const value = jsonBigIntSerde.decode(big, where) as Record<string, unknown>;
    expect(value).toEqual({ id: 12345678901234567890n, ids: [9007199254740993n, -9007199254740993n], ok: 9007199254740991, text: '12345678901234567890', x: 1.5 });
    expect(String(jsonBigIntSerde.encode(value))).toBe(String(big));
  });

  it('json reads nesting deeper than the call stack, as JSON.parse does', () => {
    const depth = 200_000;
    const deep = Buffer.from(`${'['.repeat(depth)}1${']'.repeat(depth)}`);
    expect(() => jsonSerde.decode(deep, where)).not.toThrow();
    // Finding which number it is reads the text again with a reviver, which V8 runs recursively: too deep for
    // it, the record is still refused (dead-lettered as decode-failed), never rewritten.
    expect(() => jsonSerde.decode(Buffer.from(`${'['.repeat(depth)}12345678901234567890${']'.repeat(depth)}`), where)).toThrow(DecodeError);
  });

  it('json cannot write a BigInt (JSON.stringify refuses it): the output fails, it is not rounded', () => {
    expect(() => jsonSerde.encode({ id: 1n })).toThrow(TypeError);
  });
});

describe('stringSerde', () => {
  it('round-trips UTF-8 text', () => {
    const text = 'héllo wörld ✓ 🚀';
    const bytes = stringSerde.encode(text);
    expect(bytes).toEqual(Buffer.from(text, 'utf8'));
    expect(stringSerde.decode(bytes, where)).toBe(text);
  });

  it('keeps the empty string distinct from null', () => {
    expect(stringSerde.encode('')).toEqual(Buffer.alloc(0));
    expect(stringSerde.decode(Buffer.alloc(0), where)).toBe('');
  });

  it('maps null to null both ways', () => {
    expect(stringSerde.encode(null)).toBeNull();
    expect(stringSerde.decode(null, where)).toBeNull();
  });

  it('does not parse JSON', () => {
    expect(stringSerde.decode(Buffer.from('{"a":1}'), where)).toBe('{"a":1}');
  });

  it('rejects invalid UTF-8 with a DecodeError naming the record', () => {
    const error = decodeErrorOf(() => stringSerde.decode(Buffer.from([0x61, 0xff, 0xfe, 0x62]), where));
    expect(error.message).toContain('orders[3]@77');
    expect(error.message).toContain('UTF-8');
  });

  it('accepts text that really contains the replacement character', () => {
    const text = 'before \uFFFD after';
    expect(stringSerde.decode(Buffer.from(text, 'utf8'), where)).toBe(text);
  });
});

describe('bytesSerde', () => {
  it('passes buffers through untouched both ways', () => {
    const bytes = Buffer.from([0, 1, 0xff]);
    expect(bytesSerde.decode(bytes, where)).toBe(bytes);
    expect(bytesSerde.encode(bytes)).toBe(bytes);
  });

  it('passes null through both ways', () => {
    expect(bytesSerde.decode(null, where)).toBeNull();
    expect(bytesSerde.encode(null)).toBeNull();
  });
});
