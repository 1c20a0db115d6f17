import { describe, expect, it, vi } from 'vitest';
import { kafkajsModule } from '../support/kafkajs-internals.js';

/**
 * KafkaJS 2.2.4 decoded every fetched record's offset and timestamp by parsing the batch's first
 * offset and timestamp from decimal strings into Longs, adding the record's deltas and printing
 * the sums back (and read the timestamp delta as a varlong built from Longs), and folded each
 * record's headers with reduce and object spread: a notable share of a busy worker's CPU and
 * garbage. patches/kafkajs+2.2.4+017+record-decode-numbers.patch reads the batch's values once,
 * as numbers when they are safe integers, adds in numbers when the sum is one too (Long
 * otherwise), reads the delta as a number when it fits and builds the headers in one loop. The
 * first two tests fail on the unpatched package; the others hold on both (the same records).
 * patches/kafkajs+2.2.4+029+record-decode-in-place.patch decodes each record where it is in its
 * batch, not from a Buffer slice and a Decoder of its own (the two tests named so fail without it).
 */

interface EncodedRecord {
  size(): number;
}
interface EncoderInstance extends EncodedRecord {
  readonly buffer: Buffer;
  writeInt8(value: number): EncoderInstance;
  writeVarInt(value: number): EncoderInstance;
  writeVarLong(value: number | string): EncoderInstance;
  writeVarIntBytes(value: Buffer | null): EncoderInstance;
  writeVarIntArray(values: EncodedRecord[]): EncoderInstance;
  writeEncoder(value: EncodedRecord): EncoderInstance;
}
interface DecoderInstance {
  offset: number;
  readVarLong(): { toString(): string };
  readVarLongNumber(): number | { toString(): string };
}
interface RecordBatchInput {
  compression?: number;
  firstOffset: string;
  firstTimestamp: string | number;
  maxTimestamp: string | number;
  lastOffsetDelta: number;
  records: EncodedRecord[];
}
type HeaderValues = Record<string, Buffer | null | Array<Buffer | null>>;
interface DecodedRecord {
  magicByte: number;
  attributes: number;
  timestamp: string;
  offset: string;
  key: Buffer | null;
  value: Buffer | null;
  headers: HeaderValues;
  isControlRecord: boolean;
  batchContext: Record<string, unknown>;
}
type LongStatics = Record<'fromValue' | 'fromString' | 'fromNumber' | 'fromInt' | 'fromBits', (value: unknown) => unknown>;

const Encoder = kafkajsModule<new () => EncoderInstance>('src/protocol/encoder');
const Decoder = kafkajsModule<new (buffer: Buffer) => DecoderInstance>('src/protocol/decoder');
const { RecordBatch } = kafkajsModule<{ RecordBatch: (batch: RecordBatchInput) => Promise<EncoderInstance> }>('src/protocol/recordBatch/v0');
const Record = kafkajsModule<(record: { offsetDelta: number; timestampDelta: number | string; key: Buffer | null; value: Buffer | null; headers?: Record<string, string | string[]> }) => EncodedRecord>(
  'src/protocol/recordBatch/record/v0',
);
const Header = kafkajsModule<(header: { key: string; value: Buffer | null }) => EncodedRecord>('src/protocol/recordBatch/header/v0');
const decodeBatch = kafkajsModule<(decoder: DecoderInstance) => Promise<{ records: DecodedRecord[] }>>('src/protocol/recordBatch/v0/decoder');
const crc32C = kafkajsModule<(buffer: Buffer) => number>('src/protocol/recordBatch/crc32C');
const Long = kafkajsModule<LongStatics>('src/utils/long');
const GZIP = 1;

/** A record with its headers in the given order (record/v0 takes an object, so repeats come out together). */
function orderedRecord(offsetDelta: number, timestampDelta: number | string, key: Buffer | null, value: Buffer | null, headers: Array<[string, Buffer | null]>): EncodedRecord {
  const body = new Encoder()
    .writeInt8(0)
    .writeVarLong(timestampDelta)
    .writeVarInt(offsetDelta)
    .writeVarIntBytes(key)
    .writeVarIntBytes(value)
    .writeVarIntArray(headers.map(([headerKey, headerValue]) => Header({ key: headerKey, value: headerValue })));
  return new Encoder().writeVarInt(body.size()).writeEncoder(body);
}

async function encode(batch: RecordBatchInput, logAppendTime = false): Promise<Buffer> {
  const bytes = Buffer.from((await RecordBatch(batch)).buffer);
  if (logAppendTime) {
    // KafkaJS's encoder always writes create time; set the attribute and checksum as a broker would.
    bytes.writeInt16BE(bytes.readInt16BE(21) | 0x08, 21);
    bytes.writeUInt32BE(crc32C(bytes.subarray(21)), 17);
  }
  return bytes;
}

const decode = async (bytes: Buffer) => (await decodeBatch(new Decoder(bytes))).records;
const plus = (first: string, delta: number | string) => String(BigInt(first) + BigInt(delta));
const buf = (text: string) => Buffer.from(text);

describe('KafkaJS record decoding (patched)', () => {
  it('reads the batch’s first offset and timestamp once, not through Long for every record', async () => {
    const records = Array.from({ length: 200 }, (_, n) => Record({ offsetDelta: n, timestampDelta: n * 7, key: buf(`k${n}`), value: buf(`v${n}`), headers: { h: `${n}` } }));
    const bytes = await encode({ firstOffset: '1234567', firstTimestamp: 1_733_300_000_000, maxTimestamp: 1_733_300_001_393, lastOffsetDelta: 199, records });
    const spies = (['fromValue', 'fromString', 'fromNumber', 'fromInt', 'fromBits'] as const).map((name) => vi.spyOn(Long, name));
    try {
      const decoded = await decode(bytes);
      expect(decoded).toHaveLength(200);
      expect(decoded[199]?.offset).toBe('1234766');
      // unpatched: 1,990 (fromValue and fromString for both values of every record, fromInt per varlong byte)
      expect(spies.reduce((calls, spy) => calls + spy.mock.calls.length, 0)).toBeLessThanOrEqual(2);
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
  });

  it('decodes each record in place in its batch: no slice of its own (patch 029)', async () => {
    const records = Array.from({ length: 200 }, (_, n) => Record({ offsetDelta: n, timestampDelta: n, key: buf(`k${n}`), value: buf(`v${n}`) }));
    const bytes = await encode({ firstOffset: '0', firstTimestamp: 1_733_300_000_000, maxTimestamp: 1_733_300_000_199, lastOffsetDelta: 199, records });
    const slice = vi.spyOn(Buffer.prototype, 'slice');
    try {
      const decoded = await decode(bytes);
      expect(decoded.map((record) => record.value?.toString())).toEqual(Array.from({ length: 200 }, (_, n) => `v${n}`));
      // A key and a value per record (unpatched: the record itself too, 600).
      expect(slice.mock.calls.length).toBeLessThanOrEqual(2 * 200 + 2);
    } finally {
      slice.mockRestore();
    }
  });

  it('fails on a record that reads past its own length instead of cutting it short (patch 029)', async () => {
    const bytes = await encode({ firstOffset: '0', firstTimestamp: 1_733_300_000_000, maxTimestamp: 1_733_300_000_000, lastOffsetDelta: 0, records: [Record({ offsetDelta: 0, timestampDelta: 0, key: buf('k'), value: buf('a value') })] });
    // The first record's length, a one-byte zigzag varint right after the 61-byte batch header: 3 bytes shorter.
    const length = bytes.readUInt8(61) >> 1;
    bytes.writeUInt8((length - 3) << 1, 61);
    await expect(decode(bytes)).rejects.toThrow(/Corrupt record batch: a record of \d+ bytes reads/);
  });

  it('reads a varlong as a number while its zigzag value fits in 53 bits, and as readVarLong’s Long past that', () => {
    const values = ['0', '1', '-1', '63', '-64', '1733300000000', '-1733300000001', String(2 ** 52 - 1), String(-(2 ** 52)), String(2 ** 52), String(-(2 ** 52) - 1), String(2 ** 60), '-9223372036854775808', '9223372036854775807'];
    for (const value of values) {
      const bytes = Buffer.concat([new Encoder().writeVarLong(value).buffer, Buffer.from([0x55])]);
      const fast = new Decoder(bytes);
      const read = fast.readVarLongNumber();
      const long = new Decoder(bytes);
      expect(String(read), value).toBe(long.readVarLong().toString());
      expect(String(read), value).toBe(value);
      expect(typeof read, value).toBe(BigInt(value) >= -(2n ** 52n) && BigInt(value) < 2n ** 52n ? 'number' : 'object');
      expect(fast.offset, value).toBe(long.offset);
    }
  });

  it('decodes offsets, timestamps, keys, values and headers (repeated keys as arrays, in order) as before', async () => {
    const firstOffset = '1234567';
    const firstTimestamp = '1733300000000';
    const records = [
      Record({ offsetDelta: 0, timestampDelta: 0, key: buf('a'), value: buf('{"n":1}'), headers: { 'txstream-lineage': 'in/0/7', x: ['1', '2', '3'] } }),
      Record({ offsetDelta: 1, timestampDelta: 5, key: null, value: buf('no key') }),
      Record({ offsetDelta: 2, timestampDelta: -5, key: buf('tombstone'), value: null }),
      orderedRecord(4, 1000, buf(''), buf(''), [
        ['b', buf('1')],
        ['a', buf('2')],
        ['b', null],
        ['c', buf('3')],
        ['b', buf('4')],
      ]),
    ];
    const batch = { firstOffset, firstTimestamp, maxTimestamp: '1733300001000', lastOffsetDelta: 4, records };
    for (const compression of [undefined, GZIP]) {
      const decoded = await decode(await encode({ ...batch, compression }));
      expect(decoded.map(({ offset, timestamp, key, value, headers }) => ({ offset, timestamp, key, value, headers }))).toEqual([
        { offset: firstOffset, timestamp: firstTimestamp, key: buf('a'), value: buf('{"n":1}'), headers: { 'txstream-lineage': buf('in/0/7'), x: [buf('1'), buf('2'), buf('3')] } },
        { offset: plus(firstOffset, 1), timestamp: plus(firstTimestamp, 5), key: null, value: buf('no key'), headers: {} },
        { offset: plus(firstOffset, 2), timestamp: plus(firstTimestamp, -5), key: buf('tombstone'), value: null, headers: {} },
        { offset: plus(firstOffset, 4), timestamp: plus(firstTimestamp, 1000), key: buf(''), value: buf(''), headers: { b: [buf('1'), null, buf('4')], a: buf('2'), c: buf('3') } },
      ]);
      expect(Object.keys(decoded[3]?.headers ?? {})).toEqual(['b', 'a', 'c']);
      const [record] = decoded;
      expect(record?.magicByte).toBe(2);
      expect(record?.attributes).toBe(0);
      expect(record?.isControlRecord).toBe(false);
      // The batch's context as KafkaJS gives it, nothing added.
      expect(Object.keys(record?.batchContext ?? {})).toEqual([
        'firstOffset',
        'firstTimestamp',
        'partitionLeaderEpoch',
        'inTransaction',
        'isControlBatch',
        'lastOffsetDelta',
        'producerId',
        'producerEpoch',
        'firstSequence',
        'maxTimestamp',
        'timestampType',
        'magicByte',
      ]);
      expect(record?.batchContext).toMatchObject({ firstOffset, firstTimestamp, maxTimestamp: '1733300001000', timestampType: 0 });
      for (const each of decoded) expect(each.batchContext).toBe(record?.batchContext);
    }
  });

  it('falls back to Long for offsets and timestamps past 2^53, and for large or negative timestamp deltas', async () => {
    const deltas = [0, 1, 2, 3];
    const bigDeltas = ['0', '-1733300000001', String(2 ** 60), '-4611686018427387904', String(2 ** 53)];
    const cases = [
      { firstOffset: '9007199254740990', firstTimestamp: '1733300000000' }, // offsets cross 2^53
      { firstOffset: '9223372036854775800', firstTimestamp: '-1' }, // near 2^63; no timestamp
      { firstOffset: '42', firstTimestamp: '9007199254740991' },
      { firstOffset: '-9007199254740993', firstTimestamp: '-4611686018427387904' },
    ];
    for (const { firstOffset, firstTimestamp } of cases) {
      const records = bigDeltas.map((timestampDelta, n) => Record({ offsetDelta: deltas[n % deltas.length] ?? 0, timestampDelta, key: buf(`${n}`), value: buf(`${n}`) }));
      const decoded = await decode(await encode({ firstOffset, firstTimestamp, maxTimestamp: firstTimestamp, lastOffsetDelta: 3, records }));
      expect(decoded.map(({ offset, timestamp }) => ({ offset, timestamp })), firstOffset).toEqual(
        bigDeltas.map((timestampDelta, n) => ({ offset: plus(firstOffset, deltas[n % deltas.length] ?? 0), timestamp: plus(firstTimestamp, timestampDelta) })),
      );
    }
  });

  it('gives every record the batch’s max timestamp under LOG_APPEND_TIME', async () => {
    const records = [0, 1, 2].map((n) => Record({ offsetDelta: n, timestampDelta: n * 10 - 10, key: null, value: buf(`${n}`) }));
    for (const firstOffset of ['100', '9223372036854775000']) {
      const decoded = await decode(await encode({ firstOffset, firstTimestamp: '1733300000000', maxTimestamp: '1733300009999', lastOffsetDelta: 2, records }, true));
      expect(decoded.map(({ offset, timestamp, batchContext }) => ({ offset, timestamp, type: batchContext['timestampType'] }))).toEqual(
        [0, 1, 2].map((n) => ({ offset: plus(firstOffset, n), timestamp: '1733300009999', type: 1 })),
      );
    }
  });
});
