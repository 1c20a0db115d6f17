import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * KafkaJS 2.2.4 zero-fills a new buffer for every record and header encoder and every growth of one
 * (with the copies, ~15 % of a busy worker's CPU profile), although every byte is written before the
 * encoder exposes it. patches/kafkajs+2.2.4+011+encoder-alloc-unsafe.patch allocates them with
 * allocUnsafe; the first test fails on the unpatched package, the second holds on both (same bytes).
 */
const require = createRequire(import.meta.url);
// The package test points this at the KafkaJS an installed txstream carries (dist/vendor/kafkajs).
const KAFKAJS = process.env.TXSTREAM_TEST_KAFKAJS ?? 'kafkajs';

const Encoder = require(`${KAFKAJS}/src/protocol/encoder`) as new (initialSize?: number) => {
  buf: Buffer;
  readonly buffer: Buffer;
  writeInt32(value: number): unknown;
  writeVarIntBytes(value: Buffer): unknown;
};

describe('KafkaJS encoder buffers (patched)', () => {
  it('come from Node’s pool, not a zero-filled allocation each', () => {
    expect(new Encoder().buf.buffer.byteLength).toBe(Buffer.poolSize);
  });

  it('expose only the bytes written, across growth', () => {
    // Leave non-zero bytes in the pool, so a buffer that exposed unwritten bytes would show them.
    Buffer.allocUnsafe(512).fill(0xab);
    const encoder = new Encoder(4);
    encoder.writeInt32(7);
    const value = Buffer.alloc(3000, 0x01);
    encoder.writeVarIntBytes(value);
    const bytes = encoder.buffer;
    expect(bytes.subarray(0, 4)).toEqual(Buffer.from([0, 0, 0, 7]));
    expect(bytes.length).toBe(4 + 2 + 3000); // varint(3000) takes two bytes
    expect(bytes.subarray(6).equals(value)).toBe(true);
  });
});
