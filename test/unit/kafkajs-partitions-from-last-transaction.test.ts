import { describe, expect, it } from 'vitest';
import { scriptedTransactionalProducer } from '../support/kafkajs-internals.js';

/**
 * A producer that writes a few records to each of many partitions per send (a worker's units)
 * waited, in KafkaJS 2.2.4, for an AddPartitionsToTxn before nearly every produce request of a
 * transaction: 19 per transaction at 96 partitions.
 * patches/kafkajs+2.2.4+020+partitions-from-last-transaction.patch adds the producer option
 * `partitionsFromLastTransaction`: the partitions the
 * last committed transaction wrote to are added with the next transaction's first request. These
 * tests drive the real eosManager and sendMessages over a scripted coordinator; the first fails on
 * the unpatched package.
 */
async function producer(partitionsFromLastTransaction: boolean) {
  return scriptedTransactionalProducer([0, 1, 2, 3], { partitionsFromLastTransaction });
}

describe('KafkaJS partitions from the last transaction (patched)', () => {
  it('adds the partitions the last committed transaction wrote to with the next one’s first request', async () => {
    const { eosManager, write, added } = await producer(true);
    eosManager.beginTransaction();
    await write(0);
    await write(1, 2);
    await eosManager.commit();
    eosManager.beginTransaction();
    await write(0);
    await write(1);
    await write(2);
    await eosManager.commit();
    // Unpatched: [[0], [1, 2], [0], [1], [2]].
    expect(added).toEqual([[0], [1, 2], [0, 1, 2]]);
    // What the second transaction wrote (0, 1, 2) is passed on; 3 was never written.
    eosManager.beginTransaction();
    await write(3);
    expect(added.at(-1)).toEqual([0, 1, 2, 3]);
  });

  it('passes on only what a transaction wrote, and nothing after an abort', async () => {
    const { eosManager, write, added } = await producer(true);
    eosManager.beginTransaction();
    await write(0, 1);
    await eosManager.commit();
    eosManager.beginTransaction();
    await write(2);
    await eosManager.commit();
    // The second transaction added 0 and 1 but wrote only 2: the third is given 2 alone.
    eosManager.beginTransaction();
    await write(3);
    await eosManager.abort();
    eosManager.beginTransaction();
    await write(3);
    expect(added).toEqual([[0, 1], [0, 1, 2], [2, 3], [3]]);
  });

  it('adds only what a transaction writes without the option', async () => {
    const { eosManager, write, added } = await producer(false);
    eosManager.beginTransaction();
    await write(0, 1);
    await eosManager.commit();
    eosManager.beginTransaction();
    await write(2);
    expect(added).toEqual([[0, 1], [2]]);
  });
});
