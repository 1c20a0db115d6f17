import { describe, expect, it } from 'vitest';
import { scriptedTransactionalProducer } from '../support/kafkajs-internals.js';

/**
 * A worker's transaction writes to the output partitions of the input partitions it fetched in
 * that commit interval; a fetch response carries only some of them (its byte limit), so each
 * transaction misses a few of the partitions the last one wrote and writes a few it did not. With
 * patch 020 alone every such partition cost an AddPartitionsToTxn round trip that the produce
 * waited for: 3–12 per transaction at 96 partitions (a transaction wrote 60–94 of 96).
 * patches/kafkajs+2.2.4+025+partitions-from-recent-transactions.patch lets
 * `partitionsFromLastTransaction` be a number N: the partitions written by any of the last N
 * committed transactions are added with the next one's first request. These tests drive the real
 * eosManager and sendMessages over a scripted coordinator; the first fails without the patch.
 */
async function producer(partitionsFromLastTransaction: boolean | number) {
  const { eosManager, write, added } = await scriptedTransactionalProducer([0, 1, 2, 3, 4], { partitionsFromLastTransaction });
  const transaction = async (...partitions: number[]) => {
    eosManager.beginTransaction();
    for (const partition of partitions) await write(partition);
    await eosManager.commit();
  };
  return { eosManager, write, transaction, added };
}

describe('KafkaJS partitions from recent transactions (patched)', () => {
  it('adds the partitions written by any of the last N committed transactions with the first request', async () => {
    const { transaction, added } = await producer(3);
    await transaction(0, 1);
    await transaction(2);
    await transaction(3);
    // Written in the last three: 0 and 1 (first), 2, 3; 4 is new.
    await transaction(4);
    expect(added.at(-1)).toEqual([0, 1, 2, 3, 4]);
    // The first transaction is now four back: 0 and 1 drop out.
    await transaction(4);
    expect(added.at(-1)).toEqual([2, 3, 4]);
  });

  it('passes nothing on after an abort, and keeps to the last transaction when the option is true', async () => {
    const recent = await producer(3);
    await recent.transaction(0);
    recent.eosManager.beginTransaction();
    await recent.write(1);
    await recent.eosManager.abort();
    await recent.transaction(2);
    expect(recent.added).toEqual([[0], [0, 1], [2]]);

    const last = await producer(true);
    await last.transaction(0);
    await last.transaction(1);
    await last.transaction(2);
    // true keeps patch 020's meaning: the last transaction only (1), not 0.
    expect(last.added).toEqual([[0], [0, 1], [1, 2]]);
  });
});
