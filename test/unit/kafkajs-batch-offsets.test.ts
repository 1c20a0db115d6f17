import { afterEach, describe, expect, it, vi } from 'vitest';
import { kafkajsModule } from '../support/kafkajs-internals.js';

/**
 * KafkaJS 2.2.4's Batch keeps the fetched records at or past the offset the fetch asked for
 * (a fetch may start earlier, e.g. inside a compressed batch) by parsing every record's offset
 * into a Long: one per fetched record, in every consumer's profile.
 * patches/kafkajs+2.2.4+024+batch-offsets-as-text.patch compares plain decimal offsets as text
 * (the longer is larger, then the text), and anything else as before. The first test fails on
 * the unpatched package; the records kept are the same on both.
 */
interface Message {
  offset: string;
  isControlRecord: boolean;
  key: Buffer | null;
  batchContext: { producerId: string; inTransaction: boolean };
}
type BatchClass = new (topic: string, fetchedOffset: string, partitionData: { partition: number; highWatermark: string; messages: Message[]; abortedTransactions: unknown[] }) => {
  messages: Message[];
  messagesWithinOffset: Message[];
};

const Batch = kafkajsModule<BatchClass>('src/consumer/batch');
const Long = kafkajsModule<{ fromValue(value: unknown): unknown }>('src/utils/long');

const message = (offset: string): Message => ({ offset, isControlRecord: false, key: null, batchContext: { producerId: '-1', inTransaction: false } });
const offsetsKept = (fetchedOffset: string, offsets: string[]) =>
  new Batch('in', fetchedOffset, { partition: 0, highWatermark: '99999999999999999999', messages: offsets.map(message), abortedTransactions: [] }).messages.map((kept) => kept.offset);

afterEach(() => {
  vi.restoreAllMocks();
});

describe('KafkaJS Batch offsets (patched)', () => {
  it('keeps the records from the fetched offset on without a Long per record', () => {
    const fromValue = vi.spyOn(Long, 'fromValue');
    const offsets = Array.from({ length: 500 }, (_, n) => String(9_990 + n));
    expect(offsetsKept('10000', offsets)).toEqual(offsets.slice(10));
    // unpatched: 501 (the fetched offset, then every record's)
    expect(fromValue.mock.calls.length).toBeLessThanOrEqual(1);
  });

  it('keeps the same records as a Long comparison would, past 2^53 and across lengths', () => {
    const cases: Array<[string, string[]]> = [
      ['0', ['0', '1', '9', '10']],
      ['10', ['8', '9', '10', '11', '100']],
      ['999', ['998', '999', '1000', '10000']],
      ['9007199254740993', ['9007199254740992', '9007199254740993', '9007199254740994', '10000000000000000000']],
      ['9223372036854775806', ['9223372036854775805', '9223372036854775806', '9223372036854775807']],
      // not plain decimal text: the Long comparison as before
      ['007', ['6', '7', '8']],
    ];
    for (const [fetched, offsets] of cases) {
      const byLong = offsets.filter((offset) => BigInt(offset) >= BigInt(fetched));
      expect(offsetsKept(fetched, offsets), fetched).toEqual(byLong);
    }
  });
});
