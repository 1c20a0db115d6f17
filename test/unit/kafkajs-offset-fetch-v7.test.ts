import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * KafkaJS 2.2.4's OffsetFetch stops at v4, which has no require_stable: a new owner of a partition
 * could start from an offset that a pending transaction is about to move. OffsetFetch v7 (KIP-447)
 * sends require_stable and answers UNSTABLE_OFFSET_COMMIT per partition.
 * patches/kafkajs+2.2.4+005+kip447-offset-fetch-require-stable.patch adds it; these tests fail on
 * the unpatched package. Byte layouts follow Kafka's OffsetFetchRequest.json v7.
 */
const require = createRequire(import.meta.url);
// The package test points this at the KafkaJS an installed txstream carries (dist/vendor/kafkajs).
const KAFKAJS = process.env.TXSTREAM_TEST_KAFKAJS ?? 'kafkajs';

interface ProtocolDefinition {
  versions: string[];
  protocol: (options: { version: number }) => (args: Record<string, unknown>) => {
    request: { apiVersion: number; encode: () => Promise<{ buffer: Buffer }> };
    response: { decode: (raw: Buffer) => Promise<Record<string, unknown>>; parse: (data: Record<string, unknown>) => Promise<unknown> };
  };
}

const OffsetFetch = require(`${KAFKAJS}/src/protocol/requests/offsetFetch`) as ProtocolDefinition;
const Decoder = require(`${KAFKAJS}/src/protocol/decoder`) as new (buffer: Buffer) => {
  readUVarInt(): number;
  readUVarIntString(): string | null;
  readInt16(): number;
  readInt32(): number;
  readInt64(): { toString(): string };
  readInt8(): number;
};
const Encoder = require(`${KAFKAJS}/src/protocol/encoder`) as new () => {
  writeUVarInt(value: number): Encoder;
  writeUVarIntString(value: string | null): Encoder;
  writeInt16(value: number): Encoder;
  writeInt32(value: number): Encoder;
  writeInt64(value: string): Encoder;
  buffer: Buffer;
};
type Encoder = InstanceType<typeof Encoder>;

describe('OffsetFetch v7 (require_stable)', () => {
  it('is offered and sends require_stable', async () => {
    expect(OffsetFetch.versions).toContain('7');
    const { request } = OffsetFetch.protocol({ version: 7 })({ groupId: 'g', topics: [{ topic: 'in', partitions: [{ partition: 0 }, { partition: 1 }] }], requireStable: true });
    const decoder = new Decoder((await request.encode()).buffer);
    expect(decoder.readUVarInt()).toBe(0);
    expect(decoder.readUVarIntString()).toBe('g');
    expect(decoder.readUVarInt()).toBe(2);
    expect(decoder.readUVarIntString()).toBe('in');
    expect(decoder.readUVarInt()).toBe(3);
    expect([decoder.readInt32(), decoder.readInt32()]).toEqual([0, 1]);
    expect(decoder.readUVarInt()).toBe(0);
    expect(decoder.readInt8()).toBe(1); // require_stable
  });

  it('decodes to the shape of the older versions and keeps an unstable partition for the caller', async () => {
    const { response } = OffsetFetch.protocol({ version: 7 })({ groupId: 'g', topics: [], requireStable: true });
    const answer = (errorCode: number) =>
      new Encoder()
        .writeUVarInt(0)
        .writeInt32(0)
        .writeUVarInt(2)
        .writeUVarIntString('in')
        .writeUVarInt(2)
        .writeInt32(0)
        .writeInt64('77')
        .writeInt32(-1)
        .writeUVarIntString(null)
        .writeInt16(errorCode)
        .writeUVarInt(0)
        .writeUVarInt(0)
        .writeInt16(0)
        .writeUVarInt(0).buffer;
    const stable = await response.decode(answer(0));
    expect(stable).toMatchObject({ errorCode: 0, responses: [{ topic: 'in', partitions: [{ partition: 0, offset: '77', metadata: null, errorCode: 0 }] }] });
    // An unstable partition is not an error of the whole answer: the caller waits for that partition only.
    expect(await response.parse(await response.decode(answer(88)))).toMatchObject({ responses: [{ partitions: [{ partition: 0, errorCode: 88 }] }] });
    await expect(response.parse(await response.decode(answer(16)))).rejects.toMatchObject({ code: 16 });
  });
});
