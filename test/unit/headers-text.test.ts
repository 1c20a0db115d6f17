import { describe, expect, it } from 'vitest';
import { headersAsText, headerText } from '../../src/kafka/headers.js';

describe('headersAsText', () => {
  it('gives every header as text, a repeated one by its last value, and skips what has none', () => {
    expect(headersAsText({ a: Buffer.from('1'), b: [Buffer.from('x'), Buffer.from('y')], gone: undefined })).toEqual({ a: '1', b: 'y' });
    expect(headersAsText(undefined)).toEqual({});
    expect(headerText([])).toBeUndefined();
  });

  it('keeps a header named __proto__ or constructor (any name a producer sends) as a header', () => {
    const headers: Record<string, Buffer> = { constructor: Buffer.from('c') };
    Object.defineProperty(headers, '__proto__', { value: Buffer.from('p'), enumerable: true, writable: true, configurable: true });
    const text = headersAsText(headers);
    expect(Object.getPrototypeOf(text)).toBe(Object.prototype);
    expect(Object.getOwnPropertyDescriptor(text, '__proto__')?.value).toBe('p');
    expect(text.constructor).toBe('c');
  });
});
