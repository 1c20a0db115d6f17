import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * KafkaJS 2.2.4 checksums every produced record batch with a CRC32C in a JavaScript table loop
 * (11 % of a busy worker's CPU profile at ~29,000 rec/s).
 * patches/kafkajs+2.2.4+010+crc32c-native.patch computes it with @node-rs/crc32 (native); the first
 * test fails on the unpatched package, the second holds on both (same checksums).
 */
const require = createRequire(import.meta.url);
// The package test points this at the KafkaJS an installed txstream carries (dist/vendor/kafkajs).
const KAFKAJS = process.env.TXSTREAM_TEST_KAFKAJS ?? 'kafkajs';

const crc32C = require(`${KAFKAJS}/src/protocol/recordBatch/crc32C`) as ((buffer: Buffer) => number) & { implementation?: string };
const javascriptCrc32C = require(`${KAFKAJS}/src/protocol/recordBatch/crc32C/crc32C`) as (buffer: Buffer) => number;

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
