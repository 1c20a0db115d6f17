import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * KafkaJS 2.2.4 spends a busy worker's CPU encoding produce requests: a CRC32C in a JavaScript
 * table loop (11 % of a profile at ~29,000 rec/s) and a zero-filled Buffer.alloc for every record
 * encoder and every growth of it (~15 %). patches/kafkajs+2.2.4.patch computes the CRC32C with
 * @node-rs/crc32 (native) and allocates encoder buffers with allocUnsafe; the first test of each
 * pair fails on the unpatched package, the second holds on both (same bytes, same checksums).
 */
const require = createRequire(import.meta.url);
// The package test points this at the KafkaJS an installed txstream carries (dist/vendor/kafkajs).
const KAFKAJS = process.env.TXSTREAM_TEST_KAFKAJS ?? 'kafkajs';

const crc32C = require(`${KAFKAJS}/src/protocol/recordBatch/crc32C`) as ((buffer: Buffer) => number) & { implementation?: string };
const javascriptCrc32C = require(`${KAFKAJS}/src/protocol/recordBatch/crc32C/crc32C`) as (buffer: Buffer) => number;
const Encoder = require(`${KAFKAJS}/src/protocol/encoder`) as new (initialSize?: number) => {
  buf: Buffer;
  readonly buffer: Buffer;
  writeInt32(value: number): unknown;
  writeVarIntBytes(value: Buffer): unknown;
};

describe('KafkaJS record-batch checksum (patched)', () => {
  it('is computed natively', () => {
    expect(crc32C.implementation).toBe('@node-rs/crc32');
  });

  it('gives the CRC-32C check value and the same checksums as the JavaScript loop, unsigned', () => {
    expect(crc32C(Buffer.from('123456789'))).toBe(0xe3069283);
    const data = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 31) & 0xff));
    for (const slice of [data.subarray(0, 0), data.subarray(1, 2), data.subarray(3, 1027), data]) expect(crc32C(slice)).toBe(javascriptCrc32C(slice) >>> 0);
    expect(crc32C(Buffer.alloc(16, 0xff))).toBeGreaterThan(0x7fffffff);
  });
});

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
