import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

/**
 * Two bugs of KafkaJS 2.2.4's read_committed filtering, both of which delivered records
 * of aborted transactions (seen as duplicates in the exactly-once audit of retry topics,
 * which several producers write in interleaved transactions):
 * - it expected the broker's list of aborted transactions in first-offset order, but the
 *   broker lists them in the order they ended;
 * - it tracked one aborted transaction per message, so a fetch starting inside two of
 *   them let the second one through.
 * patches/kafkajs+2.2.4+003+read-committed-aborted-filter.patch fixes both; these tests fail on
 * the unpatched package.
 */
const require = createRequire(import.meta.url);
// The package test points this at the KafkaJS an installed txstream carries (dist/vendor/kafkajs).
const KAFKAJS = process.env.TXSTREAM_TEST_KAFKAJS ?? 'kafkajs';
const filterAbortedMessages = require(`${KAFKAJS}/src/consumer/filterAbortedMessages`) as (input: {
  messages: FakeMessage[];
  abortedTransactions: Array<{ producerId: string; firstOffset: string }>;
}) => FakeMessage[];

interface FakeMessage {
  offset: string;
  key: Buffer | null;
  batchContext: { producerId: string; inTransaction: boolean };
}

const record = (offset: number, producerId: string): FakeMessage => ({
  offset: String(offset),
  key: Buffer.from('k'),
  batchContext: { producerId, inTransaction: true },
});
const abortMarker = (offset: number, producerId: string): FakeMessage => ({
  offset: String(offset),
  key: Buffer.from([0, 0, 0, 0]),
  batchContext: { producerId, inTransaction: true },
});

describe('KafkaJS aborted-message filter (patched)', () => {
  it('drops aborted records when the broker lists the transactions in the order they ended', () => {
    // As found on a retry topic: producer 68 wrote 2-4, producer 67 wrote 5-9; 67 aborted first (10), then 68 (11).
    const messages = [record(2, '68'), record(3, '68'), record(4, '68'), record(5, '67'), record(9, '67'), abortMarker(10, '67'), abortMarker(11, '68'), record(12, '66')];
    const kept = filterAbortedMessages({
      messages,
      abortedTransactions: [
        { producerId: '67', firstOffset: '5' },
        { producerId: '68', firstOffset: '2' },
      ],
    });
    expect(kept.filter((message) => message.key?.length === 1).map((message) => message.offset)).toEqual(['12']);
  });

  it('drops the records of every aborted transaction that began before the fetch', () => {
    // Transactions of producers 1 and 2 began at offsets 10 and 11 and were both aborted;
    // the fetch starts at 12, in the middle of both; producer 3 committed.
    const messages = [record(12, '2'), record(13, '1'), record(14, '3'), abortMarker(15, '1'), abortMarker(16, '2'), record(17, '3')];
    const kept = filterAbortedMessages({
      messages,
      abortedTransactions: [
        { producerId: '1', firstOffset: '10' },
        { producerId: '2', firstOffset: '11' },
      ],
    });
    expect(kept.filter((message) => message.key?.length === 1).map((message) => message.offset)).toEqual(['14', '17']);
  });
});
