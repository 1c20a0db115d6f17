import { crc32c } from '@node-rs/crc32';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { kafkajsModule } from '../support/kafkajs-internals.js';

/**
 * KafkaJS 2.2.4 encoded each produced record into an Encoder of its own (grown by doubling past
 * 512 bytes), each header into another, every varint through an array and a Buffer.from, and
 * timestamp deltas through a dozen Long objects; then it copied the records into the batch body,
 * the body behind the CRC, that behind the first offset, and the request behind its size: about
 * a third of a busy transactional worker's JavaScript time, and much of its garbage.
 * patches/kafkajs+2.2.4+015+record-batch-one-buffer.patch writes a batch's records in place into
 * one encoder and fills its length and CRC at the end. The first test fails on the unpatched
 * package; the others hold on both (the bytes Kafka reads are the same).
 * patches/kafkajs+2.2.4+028+record-headers-in-place.patch reads each record's headers in place,
 * without an array of their names and one of key/value pairs per record (the second test fails
 * without it).
 */
interface Encoder {
  readonly buffer: Buffer;
  writeVarLong(value: unknown): Encoder;
}
type EncoderClass = (new (initialSize?: number) => Encoder) & { sizeOfVarLong(value: unknown): number };
type Message = { key?: Buffer | string | null; value: Buffer | string | null; headers?: Record<string, Buffer | string | Array<Buffer | string>>; timestamp?: string };
type ProduceRequest = (options: Record<string, unknown>) => { encode(): Promise<Encoder> };
type RequestEncoder = (options: { correlationId: number; clientId: string; request: { apiKey: number; apiVersion: number; encode(): Promise<Encoder> } }) => Promise<Encoder>;
interface DecodedRecord {
  offset: string;
  timestamp: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: Record<string, Buffer | Buffer[]>;
}

const Encoder = kafkajsModule<EncoderClass>('src/protocol/encoder');
const Decoder = kafkajsModule<new (buffer: Buffer) => unknown>('src/protocol/decoder');
const Long = kafkajsModule<{ fromNumber(value: number): unknown }>('src/utils/long');
const produceRequest = kafkajsModule<ProduceRequest>('src/protocol/requests/produce/v3/request');
const encodeRequest = kafkajsModule<RequestEncoder>('src/protocol/request');
const decodeBatch = kafkajsModule<(decoder: unknown) => Promise<{ records: DecodedRecord[] }>>('src/protocol/recordBatch/v0/decoder');

const NOW = 1_733_000_000_000;

function request(messages: Message[]) {
  return produceRequest({ acks: -1, timeout: 30_000, transactionalId: 'tx', producerId: 7, producerEpoch: 1, topicData: [{ topic: 'out', partitions: [{ partition: 0, firstSequence: 5, messages }] }] });
}

/** The record batch of a one-topic, one-partition produce request v3. */
function recordBatchOf(encoded: Buffer): Buffer {
  // transactional_id (2 + 2), acks (2), timeout (4), topics (4), topic (2 + 3), partitions (4), partition (4), size (4).
  const start = 2 + 2 + 2 + 4 + 4 + 2 + 3 + 4 + 4 + 4;
  const size = encoded.readInt32BE(start - 4);
  return encoded.subarray(start, start + size);
}

function messages(count: number): Message[] {
  return Array.from({ length: count }, (_, i) => ({
    key: `key-${i}`,
    value: Buffer.alloc(1000, i % 256),
    headers: { lineage: Buffer.from(`in:0:${i}`), tag: ['a', Buffer.from('b')] },
    timestamp: String(NOW + i),
  }));
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe('KafkaJS record batch encoding (patched)', () => {
  it('writes a batch of records into one buffer, not a buffer per record, header and varint', async () => {
    const produce = request(messages(200));
    const allocUnsafe = vi.spyOn(Buffer, 'allocUnsafe');
    const from = vi.spyOn(Buffer, 'from');
    await encodeRequest({ correlationId: 1, clientId: 'c', request: { apiKey: 0, apiVersion: 3, ...produce } });
    // Unpatched: an encoder per record and per header, grown, and a Buffer.from per varint (thousands).
    expect(allocUnsafe.mock.calls.length + from.mock.calls.length).toBeLessThan(20);
  });

  it("reads each record's headers in place: no array of their names nor of their pairs per record", async () => {
    const produce = request(messages(200));
    const keys = vi.spyOn(Object, 'keys');
    const isArray = vi.spyOn(Array, 'isArray');
    await encodeRequest({ correlationId: 1, clientId: 'c', request: { apiKey: 0, apiVersion: 3, ...produce } });
    // Unpatched (015's headerPairs): Object.keys once per record, 200 here.
    expect(keys.mock.calls.length).toBeLessThan(10);
    // Each header value is looked at where it is (twice: sized, then written).
    expect(isArray).toHaveBeenCalled();
  });

  it("writes headers as before: an array's elements in order, a missing value as null, a header named __proto__ as a header", async () => {
    const headers: Record<string, Buffer | string | Array<Buffer | string>> = { first: 'x', many: ['1', Buffer.from('2'), '3'] };
    Object.defineProperty(headers, '__proto__', { value: 'p', enumerable: true, writable: true, configurable: true });
    const inherited = Object.create({ notOwn: 'skip' }) as Record<string, string>;
    inherited.own = 'kept';
    const sent: Message[] = [
      { key: 'a', value: 'v', headers },
      { key: 'b', value: 'v', headers: inherited },
      { key: 'c', value: 'v', headers: { gone: undefined as unknown as string, last: 'l' } },
    ];
    const { records } = await decodeBatch(new Decoder(recordBatchOf((await request(sent).encode()).buffer)));
    expect(Object.keys(records[0]?.headers ?? {})).toEqual(['first', 'many', '__proto__']);
    expect((records[0]?.headers.many as Buffer[]).map(String)).toEqual(['1', '2', '3']);
    expect(Object.getOwnPropertyDescriptor(records[0]?.headers, '__proto__')?.value?.toString()).toBe('p');
    expect(Object.keys(records[1]?.headers ?? {})).toEqual(['own']);
    expect(records[2]?.headers.gone).toBeNull();
    expect(records[2]?.headers.last?.toString()).toBe('l');
  });

  it('writes a batch Kafka accepts: length, CRC32C and every record read back as sent', async () => {
    const sent = [
      ...messages(3),
      { key: null, value: 'naïve', timestamp: String(NOW - 10) },
      { value: null, headers: { 'ü': 'é' } },
    ];
    const batch = recordBatchOf((await request(sent).encode()).buffer);
    expect(batch.readInt32BE(8)).toBe(batch.length - 12);
    expect(batch.readUInt32BE(17)).toBe(crc32c(batch.subarray(21)));
    const { records } = await decodeBatch(new Decoder(batch));
    expect(records.map((record) => record.offset)).toEqual(['0', '1', '2', '3', '4']);
    expect(records[0]?.key?.toString()).toBe('key-0');
    expect(records[1]?.value?.equals(Buffer.alloc(1000, 1))).toBe(true);
    expect(records[2]?.timestamp).toBe(String(NOW + 2));
    expect(records[3]?.timestamp).toBe(String(NOW - 10));
    expect(records[3]?.key).toBeNull();
    expect(records[3]?.value?.toString()).toBe('naïve');
    expect(records[4]?.value).toBeNull();
    expect(records[4]?.headers['ü']?.toString()).toBe('é');
    expect((records[0]?.headers.tag as Buffer[]).map(String)).toEqual(['a', 'b']);
  });

  it('writes a varlong from a number exactly as from a Long, at every size', () => {
    const values = [0, 1, -1, 63, -64, 64, -65, 2 ** 31, -(2 ** 31) - 1, 2 ** 52 - 1, -(2 ** 52) + 1, 2 ** 52, -(2 ** 53), Number.MAX_SAFE_INTEGER];
    for (const value of values) {
      const fromNumber = new Encoder().writeVarLong(value).buffer;
      const fromLong = new Encoder().writeVarLong(Long.fromNumber(value)).buffer;
      expect(fromNumber, String(value)).toEqual(fromLong);
      expect(Encoder.sizeOfVarLong(value), String(value)).toBe(fromLong.length);
    }
  });
});
