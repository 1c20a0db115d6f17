import { afterEach, describe, expect, it, vi } from 'vitest';
import { kafkajsModule } from '../support/kafkajs-internals.js';

/**
 * KafkaJS 2.2.4 (with patch 015) encoded a produce request as nested encoders: each partition's
 * record batch, copied into a partition encoder, that into a topic encoder, that into the
 * request's payload and the payload behind the request's header, each sized to the next power
 * of two: five copies of every record's bytes, and up to twice the bytes allocated at each.
 * patches/kafkajs+2.2.4+023+produce-request-one-copy.patch encodes the batches, then writes them
 * once into one encoder of the request's exact size, with room in front for the header that
 * request.js writes there. patches/kafkajs+2.2.4+027+produce-batches-scratch.patch encodes the
 * batches into a scratch encoder reused from request to request, so a request allocates its own
 * buffer and nothing else (at 96 partitions a request carried dozens of batches of a few KiB, each
 * a buffer of its own until the copy). The first two tests fail without their patch; the bytes on
 * the wire are the same on all (the others).
 */
interface Encoder {
  readonly buffer: Buffer;
}
type Message = { key?: Buffer | string | null; value: Buffer | string | null; headers?: Record<string, Buffer | string>; timestamp?: string };
type ProduceRequest = (options: Record<string, unknown>) => { encode(options?: { headroom?: number }): Promise<Encoder> };
type RequestEncoder = (options: { correlationId: number; clientId: string | null; request: { apiKey: number; apiVersion: number; encode(options?: { headroom?: number }): Promise<Encoder> } }) => Promise<Encoder>;
interface DecodedRecord {
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | Buffer[]>;
}

const Decoder = kafkajsModule<new (buffer: Buffer) => unknown>('src/protocol/decoder');
const produceRequest = kafkajsModule<ProduceRequest>('src/protocol/requests/produce/v3/request');
const encodeRequest = kafkajsModule<RequestEncoder>('src/protocol/request');
const decodeBatch = kafkajsModule<(decoder: unknown) => Promise<{ records: DecodedRecord[] }>>('src/protocol/recordBatch/v0/decoder');

const NOW = 1_733_000_000_000;
const TOPICS = ['out-a', 'out-b'];
const PARTITIONS = [0, 1, 2];

function messages(topic: string, partition: number, count: number): Message[] {
  return Array.from({ length: count }, (_, i) => ({
    key: `${topic}-${partition}-${i}`,
    value: Buffer.alloc(1000, (i + partition) % 256),
    headers: { lineage: `in/${partition}/${i}` },
    timestamp: String(NOW + i),
  }));
}

function produce(count: number, transactionalId: string | null = 'tx') {
  const topicData = TOPICS.map((topic) => ({ topic, partitions: PARTITIONS.map((partition) => ({ partition, firstSequence: 5, messages: messages(topic, partition, count) })) }));
  return produceRequest({ acks: -1, timeout: 30_000, transactionalId, producerId: 7, producerEpoch: 1, topicData });
}

/** Reads a produce request v3 as a broker would: its header, then each topic's partitions and their records. */
async function readRequest(bytes: Buffer) {
  let at = 0;
  const int16 = () => ((at += 2), bytes.readInt16BE(at - 2));
  const int32 = () => ((at += 4), bytes.readInt32BE(at - 4));
  const string = () => {
    const length = int16();
    if (length < 0) return null;
    at += length;
    return bytes.toString('utf8', at - length, at);
  };
  const header = { size: int32(), apiKey: int16(), apiVersion: int16(), correlationId: int32(), clientId: string() };
  const body = { transactionalId: string(), acks: int16(), timeout: int32() };
  const topics: Array<{ topic: string | null; partitions: Array<{ partition: number; records: DecodedRecord[] }> }> = [];
  for (let t = int32(); t > 0; t--) {
    const topic = string();
    const partitions = [];
    for (let p = int32(); p > 0; p--) {
      const partition = int32();
      const size = int32();
      const { records } = await decodeBatch(new Decoder(bytes.subarray(at, at + size)));
      at += size;
      partitions.push({ partition, records });
    }
    topics.push({ topic, partitions });
  }
  return { header, body, topics, end: at };
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('KafkaJS produce request encoding (patched)', () => {
  it("allocates a produce request's record bytes twice at most, the first time: its batches' scratch and the request", async () => {
    const request = produce(50);
    const allocated: number[] = [];
    const allocUnsafe = Buffer.allocUnsafe.bind(Buffer);
    vi.spyOn(Buffer, 'allocUnsafe').mockImplementation((size: number) => {
      allocated.push(size);
      return allocUnsafe(size);
    });
    const encoded = await encodeRequest({ correlationId: 9, clientId: 'c', request: { apiKey: 0, apiVersion: 3, ...request } });
    const recordBytes = TOPICS.length * PARTITIONS.length * 50 * 1000;
    // Unpatched: 2,359,296 bytes for these 300,000 (each copy rounded up to a power of two); patched 704,062 (the batches rounded up, the request exact).
    // Patched: the scratch grows by doubling from 64 KiB until it holds the batches (983,040 bytes here), then the request.
    expect(allocated.reduce((sum, size) => sum + size, 0)).toBeLessThan(recordBytes * 5);
    // The request's buffer is exactly the request: no slack from the rounding.
    expect(allocated).toContain(encoded.buffer.length);
  });

  it("allocates only the request's own buffer once the scratch has grown: no buffer per record batch", async () => {
    await encodeRequest({ correlationId: 8, clientId: 'c', request: { apiKey: 0, apiVersion: 3, ...produce(50) } });
    const allocated: number[] = [];
    const allocUnsafe = Buffer.allocUnsafe.bind(Buffer);
    vi.spyOn(Buffer, 'allocUnsafe').mockImplementation((size: number) => {
      allocated.push(size);
      return allocUnsafe(size);
    });
    const encoded = await encodeRequest({ correlationId: 9, clientId: 'c', request: { apiKey: 0, apiVersion: 3, ...produce(50) } });
    // Without patch 027: the request and one buffer per partition's batch (6 here). (Encoder.ofSize starts from an encoder of 1 byte.)
    expect(allocated.filter((size) => size > 1)).toEqual([encoded.buffer.length]);
    const read = await readRequest(encoded.buffer);
    expect(read.topics.flatMap(({ partitions }) => partitions.map(({ records }) => records.length))).toEqual(Array(6).fill(50));
  });

  it('encodes requests at the same time each into a scratch of its own, and keeps using scratches after a failed encoding', async () => {
    const bad = produceRequest({ acks: -1, timeout: 30_000, transactionalId: 'tx', producerId: 7, producerEpoch: 1, topicData: [{ topic: 'out-a', partitions: [{ partition: 0, firstSequence: 0, messages: [{ key: 'k', value: 42 }] }] }] });
    await expect(bad.encode()).rejects.toThrow();
    const sizes = [3, 40, 7];
    const encoded = await Promise.all(sizes.map((count, index) => encodeRequest({ correlationId: index, clientId: 'c', request: { apiKey: 0, apiVersion: 3, ...produce(count) } })));
    for (const [index, { buffer }] of encoded.entries()) {
      const read = await readRequest(buffer);
      expect(read.end).toBe(buffer.length);
      for (const { topic, partitions } of read.topics) {
        for (const { partition, records } of partitions) {
          expect(records.map((record) => record.key?.toString())).toEqual(Array.from({ length: sizes[index] as number }, (_, i) => `${topic}-${partition}-${i}`));
          expect(records.every((record, i) => record.value?.equals(Buffer.alloc(1000, (i + partition) % 256)))).toBe(true);
        }
      }
    }
  });

  it('writes the same request as before: header, body, every topic, partition and record as sent', async () => {
    for (const clientId of ['client-ü', null]) {
      const encoded = (await encodeRequest({ correlationId: 9, clientId, request: { apiKey: 0, apiVersion: 3, ...produce(3) } })).buffer;
      const read = await readRequest(encoded);
      expect(read.end).toBe(encoded.length);
      expect(read.header).toEqual({ size: encoded.length - 4, apiKey: 0, apiVersion: 3, correlationId: 9, clientId });
      expect(read.body).toEqual({ transactionalId: 'tx', acks: -1, timeout: 30_000 });
      expect(read.topics.map(({ topic, partitions }) => ({ topic, partitions: partitions.map(({ partition }) => partition) }))).toEqual(
        TOPICS.map((topic) => ({ topic, partitions: PARTITIONS })),
      );
      for (const { topic, partitions } of read.topics) {
        for (const { partition, records } of partitions) {
          expect(records.map((record) => record.key?.toString())).toEqual([0, 1, 2].map((i) => `${topic}-${partition}-${i}`));
          expect(records[2]?.value?.equals(Buffer.alloc(1000, (2 + partition) % 256))).toBe(true);
          expect(records[1]?.headers.lineage?.toString()).toBe(`in/${partition}/1`);
        }
      }
    }
    // Encoded on its own (no room asked for a header), a request's payload starts at its first byte.
    const payload = (await produce(1, null).encode()).buffer;
    expect(payload.readInt16BE(0)).toBe(-1);
    expect(payload.readInt16BE(2)).toBe(-1);
  });
});
