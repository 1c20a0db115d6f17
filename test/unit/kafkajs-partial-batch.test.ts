import { describe, expect, it, vi } from 'vitest';
import { kafkajsModule } from '../support/kafkajs-internals.js';

/**
 * A fetch response carries each partition's record batches up to maxBytesPerPartition, so the
 * last batch of a partition's data is usually cut short. KafkaJS 2.2.4 decoded that partial
 * batch into a KafkaJSPartialMessageError (an Error with a captured stack trace) and caught it
 * to stop: one per partition per fetch response, 1 % of a busy consumer's CPU.
 * patches/kafkajs+2.2.4+022+partial-batch-no-error.patch reads the batch's length first and
 * stops before a batch whose bytes are not all there. The first test fails on the unpatched
 * package; the records decoded are the same on both.
 */

interface EncodedRecord {
  size(): number;
}
interface DecoderInstance {
  offset: number;
}
interface DecodedRecord {
  offset: string;
  value: Buffer | null;
}

const Decoder = kafkajsModule<new (buffer: Buffer) => DecoderInstance>('src/protocol/decoder');
const { RecordBatch } = kafkajsModule<{
  RecordBatch: (batch: { firstOffset: string; firstTimestamp: number; maxTimestamp: number; lastOffsetDelta: number; records: EncodedRecord[] }) => Promise<{ buffer: Buffer }>;
}>('src/protocol/recordBatch/v0');
const Record = kafkajsModule<(record: { offsetDelta: number; timestampDelta: number; key: Buffer | null; value: Buffer | null }) => EncodedRecord>('src/protocol/recordBatch/record/v0');
const decodeMessages = kafkajsModule<(decoder: DecoderInstance) => Promise<DecodedRecord[]>>('src/protocol/requests/fetch/v4/decodeMessages');

/** A batch of `count` 100-byte records from `firstOffset`. */
async function batch(firstOffset: number, count: number): Promise<Buffer> {
  const records = Array.from({ length: count }, (_, n) => Record({ offsetDelta: n, timestampDelta: n, key: null, value: Buffer.alloc(100, 97 + n) }));
  return Buffer.from((await RecordBatch({ firstOffset: String(firstOffset), firstTimestamp: 1_733_300_000_000, maxTimestamp: 1_733_300_000_000 + count, lastOffsetDelta: count - 1, records })).buffer);
}

/** A partition's record set in a fetch response: its size, then the batches, the last cut to `cut` bytes. */
function recordSet(batches: Buffer[], cut: number): Buffer {
  const last = batches.at(-1) as Buffer;
  const bytes = Buffer.concat([...batches.slice(0, -1), last.subarray(0, cut)]);
  const size = Buffer.alloc(4);
  size.writeInt32BE(bytes.length);
  return Buffer.concat([size, bytes]);
}

describe('KafkaJS fetch decoding of a partial last batch (patched)', () => {
  it('stops before a partial last batch without making an error', async () => {
    const full = [await batch(0, 5), await batch(5, 5)];
    const partial = await batch(10, 5);
    const captured = vi.spyOn(Error, 'captureStackTrace');
    try {
      const records = await decodeMessages(new Decoder(recordSet([...full, partial], partial.length - 30)));
      expect(records.map((record) => record.offset)).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
      // unpatched: 1 (the KafkaJSPartialMessageError of the cut batch)
      expect(captured).not.toHaveBeenCalled();
    } finally {
      captured.mockRestore();
    }
  });

  it('decodes every batch when the last one is whole, and none when the first is cut past its length field', async () => {
    const batches = [await batch(0, 3), await batch(3, 2)];
    const whole = await decodeMessages(new Decoder(recordSet(batches, (batches[1] as Buffer).length)));
    expect(whole.map((record) => record.offset)).toEqual(['0', '1', '2', '3', '4']);
    expect(whole[4]?.value).toEqual(Buffer.alloc(100, 98));
    const first = await batch(0, 5);
    expect(await decodeMessages(new Decoder(recordSet([first], 60)))).toEqual([]);
  });
});
