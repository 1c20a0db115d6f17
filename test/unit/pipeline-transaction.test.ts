import type { Kafka, ProducerConfig } from 'kafkajs';
import { pino } from 'pino';
import { describe, expect, it, vi } from 'vitest';
import type { CommitListener, CommitResult, GroupMembership, PartitionCommitter } from '../../src/commit/index.js';
import { transactionalStrategy } from '../../src/commit/transactional.js';
import { MAX_REQUEST_BYTES } from '../../src/commit/request-size.js';

/**
 * The shared transaction's bookkeeping, over a scripted KafkaJS producer: which partitions a
 * commit covers, under which generation, and who hears what when one partition's write or the
 * commit fails. The broker side is exercised by the integration audits.
 */
interface Script {
  failSend?: (topics: string[]) => unknown;
  /** Awaited by every send before it answers: a produce request on its way. */
  holdSend?: () => Promise<void>;
  failOffsets?: () => unknown;
  failAddOffsets?: () => unknown;
}

function scriptedKafka(script: Script) {
  const log = { producers: 0, inits: 0, sends: [] as string[][], offsetsAdded: [] as string[], offsets: [] as unknown[], commits: 0, aborts: 0, configs: [] as ProducerConfig[] };
  const kafka = {
    producer: (config: ProducerConfig) => {
      log.producers++;
      log.configs.push(config);
      let first = true;
      return {
        connect: async () => {},
        disconnect: async () => {},
        transaction: async () => {
          if (first) {
            first = false;
            log.inits++;
            return { abort: async () => {} };
          }
          return {
            sendBatch: async ({ topicMessages }: { topicMessages: Array<{ topic: string }> }) => {
              await script.holdSend?.();
              const topics = topicMessages.map((entry) => entry.topic);
              const failure = script.failSend?.(topics);
              if (failure) throw failure;
              log.sends.push(topics);
            },
            addOffsets: async ({ consumerGroupId }: { consumerGroupId: string }) => {
              const failure = script.failAddOffsets?.();
              if (failure) throw failure;
              log.offsetsAdded.push(consumerGroupId);
            },
            sendOffsets: async (offsets: unknown) => {
              const failure = script.failOffsets?.();
              if (failure) throw failure;
              log.offsets.push(offsets);
            },
            commit: async () => void log.commits++,
            abort: async () => void log.aborts++,
          };
        },
      };
    },
  } as unknown as Kafka;
  return { kafka, log };
}

class Heard implements CommitListener {
  commits: CommitResult[] = [];
  rollbacks: unknown[] = [];
  committed(result: CommitResult): void {
    this.commits.push(result);
  }
  rolledBack(error: unknown): void {
    this.rollbacks.push(error);
  }
  commitDue(): void {}
}

function setup(script: Script = {}, timeouts = { transactionTimeoutMs: 10_000, concurrentTransactionsTimeoutMs: 10_000 }, commitIntervalMs = 60_000) {
  const { kafka, log } = scriptedKafka(script);
  let membership: GroupMembership = { generationId: 4, memberId: 'm-4', groupInstanceId: null };
  const ended: string[] = [];
  const abortCauses: Array<string | undefined> = [];
  const strategy = transactionalStrategy({
    kafka,
    groupId: 'g',
    transactionalId: 'g.w1',
    ...timeouts,
    commitIntervalMs,
    membership: () => membership,
    onTransactionEnded: (result, _durationMs, cause) => {
      ended.push(result);
      if (result === 'aborted') abortCauses.push(cause);
    },
    onOffsetsCommitted: () => {},
    commitOffsets: async () => {},
    readCommittedOffset: async () => null,
    signal: new AbortController().signal,
    logger: pino({ level: 'silent' }),
  });
  const partition = (n: number): { committer: PartitionCommitter; heard: Heard } => {
    const heard = new Heard();
    return { committer: strategy.forPartition({ topic: 'in', partition: n }, heard), heard };
  };
  return { strategy, partition, log, ended, abortCauses, setMembership: (next: GroupMembership) => (membership = next) };
}

const unit = (topic: string, nextOffset: string, records = 10) => ({ outputs: [{ topic, messages: [{ value: 'v' }] }], nextOffset, records });

describe('the shared transaction of a pipeline', () => {
  it("starts its commits an interval apart, from one commit's start to the next, a transaction open at least half of one", async () => {
    vi.useFakeTimers({ now: 0 });
    try {
      const { partition, log } = setup({}, undefined, 100);
      const a = partition(0);
      await a.committer.open();
      /** Writes a unit now: its transaction commits `afterMs` later, not a millisecond sooner. */
      const commitsAfter = async (nextOffset: string, afterMs: number) => {
        const before = log.commits;
        await a.committer.write(unit('out', nextOffset));
        await vi.advanceTimersByTimeAsync(afterMs - 1);
        expect(log.commits).toBe(before);
        await vi.advanceTimersByTimeAsync(1);
        expect(log.commits).toBe(before + 1);
      };
      // The first transaction begins at 0 and commits after half an interval.
      await commitsAfter('10', 50);
      // The next begins at 70: it commits at 150, an interval after the last commit began (not at 170).
      await vi.advanceTimersByTimeAsync(20);
      await commitsAfter('20', 80);
      // After a quiet spell, half an interval again.
      await vi.advanceTimersByTimeAsync(300);
      await commitsAfter('30', 50);
      expect(log.commits).toBe(3);
    } finally {
      vi.useRealTimers();
    }
  });

  it('commits every partition of the transaction in one cycle, under the generation their tasks were opened in', async () => {
    const { partition, log, ended } = setup();
    const a = partition(0);
    const b = partition(1);
    await a.committer.open();
    await b.committer.open();
    await a.committer.write(unit('out', '10'));
    await b.committer.write(unit('out', '20', 20));
    await a.committer.write(unit('out', '15', 5));
    expect(a.heard.commits).toEqual([]);

    await b.committer.commit();

    expect(log.producers).toBe(1);
    expect(log.offsets).toEqual([
      {
        consumerGroupId: 'g',
        topics: [{ topic: 'in', partitions: [{ partition: 0, offset: '15' }, { partition: 1, offset: '20' }] }],
        consumerGroupMetadata: { generationId: 4, memberId: 'm-4', groupInstanceId: null },
      },
    ]);
    expect(a.heard.commits.map(({ nextOffset, records }) => ({ nextOffset, records }))).toEqual([{ nextOffset: '15', records: 15 }]);
    expect(b.heard.commits.map(({ nextOffset, records }) => ({ nextOffset, records }))).toEqual([{ nextOffset: '20', records: 20 }]);
    expect(ended).toEqual(['committed']);
    // Nothing is pending after the cycle: a second one sends no offsets.
    await a.committer.commit();
    expect(log.offsets).toHaveLength(1);
  });

  it("adds the group's offsets partition with each transaction's first write, once, and aborts when that fails", async () => {
    let refuse = false;
    const { partition, log, ended } = setup({ failAddOffsets: () => (refuse ? new Error('coordinator gone') : undefined) });
    const a = partition(0);
    await a.committer.open();
    await a.committer.write(unit('out', '10'));
    await a.committer.write(unit('out', '20'));
    expect(log.offsetsAdded).toEqual(['g']);
    await a.committer.commit();
    await a.committer.write(unit('out', '30'));
    expect(log.offsetsAdded).toEqual(['g', 'g']);
    await a.committer.commit();
    expect(ended).toEqual(['committed', 'committed']);

    // Refused: the unit's outputs are in the transaction, which cannot commit its offsets; it aborts.
    refuse = true;
    await expect(a.committer.write(unit('out', '40'))).rejects.toThrow('coordinator gone');
    expect(ended).toEqual(['committed', 'committed', 'aborted']);
    expect(log.commits).toBe(2);
  });

  it('never commits the work of a task opened in a generation the member has left, not even under the new generation', async () => {
    const { partition, log, ended, setMembership } = setup();
    const stale = partition(0);
    await stale.committer.open();
    // Back from a stall, the member rejoined (UNKNOWN_MEMBER_ID) while partition 0's unit waited for
    // the producer (behind the old transaction's refused commit and abort): the coordinator accepts
    // any offsets under the new generation, and partition 0 may be another member's now, which has
    // redone the work. The unit must not begin a transaction of the new generation.
    setMembership({ generationId: 5, memberId: 'm-5', groupInstanceId: null });
    await expect(stale.committer.write(unit('out', '10'))).rejects.toMatchObject({ name: 'GenerationFencedError', generationId: 4 });
    const fresh = partition(1);
    await fresh.committer.open();
    await fresh.committer.write(unit('out', '20'));
    await fresh.committer.commit();
    expect(log.sends).toEqual([['out']]);
    expect(log.offsets).toEqual([
      { consumerGroupId: 'g', topics: [{ topic: 'in', partitions: [{ partition: 1, offset: '20' }] }], consumerGroupMetadata: { generationId: 5, memberId: 'm-5', groupInstanceId: null } },
    ]);
    expect(ended).toEqual(['committed']);
  });

  it('aborts a transaction whose generation ended while it was open, before the new generation writes into it, without sending its offsets', async () => {
    const { partition, log, ended, setMembership } = setup();
    const a = partition(0);
    await a.committer.open();
    await a.committer.write(unit('out', '10'));
    setMembership({ generationId: 5, memberId: 'm-4', groupInstanceId: null });
    const b = partition(1);
    await b.committer.open();
    await b.committer.write(unit('out', '20'));
    expect(a.heard.rollbacks).toHaveLength(1);
    expect(a.heard.rollbacks[0]).toMatchObject({ name: 'GenerationFencedError', generationId: 4, message: expect.stringContaining('joined generation 5') });
    await b.committer.commit();
    expect(log.offsets).toEqual([
      { consumerGroupId: 'g', topics: [{ topic: 'in', partitions: [{ partition: 1, offset: '20' }] }], consumerGroupMetadata: { generationId: 5, memberId: 'm-4', groupInstanceId: null } },
    ]);
    expect(ended).toEqual(['aborted', 'committed']);

    // Nor is one committed whose generation ended before its commit came.
    await b.committer.write(unit('out', '30'));
    setMembership({ generationId: 6, memberId: 'm-4', groupInstanceId: null });
    await b.committer.commit();
    expect(log.offsets).toHaveLength(1);
    expect(b.heard.rollbacks[0]).toMatchObject({ name: 'GenerationFencedError', generationId: 5 });
    expect(ended).toEqual(['aborted', 'committed', 'aborted']);
  });

  it("aborts for everyone when one partition's write fails: the writer gets the error, the others roll back, then a fresh producer", async () => {
    const refusal = Object.assign(new Error('broker went away'), { type: 'NETWORK_EXCEPTION' });
    let failing = false;
    const { partition, log, ended } = setup({ failSend: () => (failing ? refusal : undefined) });
    const a = partition(0);
    const b = partition(1);
    await a.committer.open();
    await b.committer.open();
    await b.committer.write(unit('out', '20'));
    failing = true;
    await expect(a.committer.write(unit('out', '10'))).rejects.toBe(refusal);
    failing = false;

    expect(a.heard.rollbacks).toEqual([]);
    expect(b.heard.rollbacks).toEqual([refusal]);
    expect(ended).toEqual(['aborted']);
    // What b writes next would follow work that is gone: refused until b has re-opened (re-read its offset).
    await expect(b.committer.write(unit('out', '30'))).rejects.toMatchObject({ name: 'TransactionRolledBackError' });
    await b.committer.open();
    await b.committer.write(unit('out', '20'));
    expect(log.producers).toBe(2);
    expect(log.inits).toBe(2);
  });

  it('refuses a unit handed over behind a failed write of the same partition, so it never commits without the unit before it', async () => {
    const refusal = Object.assign(new Error('broker went away'), { type: 'NETWORK_EXCEPTION' });
    let failing = true;
    let sendStarted!: () => void;
    const started = new Promise<void>((resolve) => (sendStarted = resolve));
    const { partition, log } = setup({
      failSend: () => {
        sendStarted();
        return failing ? refusal : undefined;
      },
    });
    const a = partition(0);
    await a.committer.open();
    expect(a.committer.writesAhead).toBeGreaterThan(1);
    // Unit 10 is on its way (its produce request sent), and unit 20 is handed over behind it.
    const first = a.committer.write(unit('out', '10'));
    await started;
    const second = a.committer.write(unit('out', '20'));
    failing = false;
    await expect(first).rejects.toBe(refusal);
    await expect(second).rejects.toMatchObject({ name: 'TransactionRolledBackError' });
    expect(log.sends).toEqual([]);
    await a.committer.commit();
    expect(log.offsets).toEqual([]);
    // Re-opened (its committed offset read again), the partition writes again.
    await a.committer.open();
    await a.committer.write(unit('out', '10'));
    expect(log.sends).toEqual([['out']]);
  });

  it('lets a partition write ahead until the units waiting for the producer fill a request, then one at a time', async () => {
    let release: (() => void) | undefined;
    let holding = true;
    const { partition, log } = setup({ holdSend: () => (holding ? new Promise((resolve) => (release = resolve)) : Promise.resolve()) });
    const a = partition(0);
    const b = partition(1);
    await a.committer.open();
    await b.committer.open();
    const ahead = a.committer.writesAhead;
    expect(ahead).toBeGreaterThan(1);
    const big = (nextOffset: string) => ({ outputs: [{ topic: 'out', messages: [{ value: Buffer.alloc(Math.floor(MAX_REQUEST_BYTES * 0.4)) }] }], nextOffset, records: 1 });
    // The first unit's request is on its way; the next ones wait for it.
    const writes = [a.committer.write(big('1'))];
    await until(() => release !== undefined);
    writes.push(a.committer.write(big('2')), b.committer.write(big('11')));
    expect(b.committer.writesAhead).toBe(ahead);
    writes.push(b.committer.write(big('12')));
    // 1.2 requests' worth wait: more than a produce request carries. Every partition writes one at a time.
    expect(a.committer.writesAhead).toBe(1);
    expect(b.committer.writesAhead).toBe(1);
    release?.();
    await until(() => log.sends.length === 1);
    // The waiting units went out together: room again.
    expect(a.committer.writesAhead).toBe(ahead);
    holding = false;
    release?.();
    await Promise.all(writes);
    expect(log.sends).toHaveLength(3);
  });

  it('names the cause of an abort: the Kafka error code under KafkaJS wrappers', async () => {
    // What patched KafkaJS throws when the coordinator has not ended the previous transaction in time.
    const stuck = Object.assign(new Error('AddPartitionsToTxn was answered CONCURRENT_TRANSACTIONS for 10000 ms'), {
      name: 'KafkaJSNonRetriableError',
      retriable: false,
      cause: Object.assign(new Error('There is already a transaction in progress'), { name: 'KafkaJSProtocolError', type: 'CONCURRENT_TRANSACTIONS' }),
    });
    const { partition, abortCauses } = setup({ failSend: () => stuck });
    const a = partition(0);
    await a.committer.open();
    await expect(a.committer.write(unit('out', '10'))).rejects.toBe(stuck);
    expect(abortCauses).toEqual(['CONCURRENT_TRANSACTIONS']);
  });

  it('gives the producer the CONCURRENT_TRANSACTIONS deadline, never longer than the transaction timeout', async () => {
    const longer = setup({}, { transactionTimeoutMs: 4_000, concurrentTransactionsTimeoutMs: 10_000 });
    await longer.partition(0).committer.open();
    const shorter = setup({}, { transactionTimeoutMs: 10_000, concurrentTransactionsTimeoutMs: 2_500 });
    await shorter.partition(0).committer.open();
    expect(longer.log.configs[0]).toMatchObject({ transactionTimeout: 4_000, concurrentTransactionsTimeout: 4_000 });
    expect(shorter.log.configs[0]).toMatchObject({ transactionTimeout: 10_000, concurrentTransactionsTimeout: 2_500 });
  });

  it('turns a refusal of the generation into GenerationFencedError for every partition of the transaction', async () => {
    const { partition } = setup({ failOffsets: () => Object.assign(new Error('The coordinator is not aware of this member'), { type: 'UNKNOWN_MEMBER_ID' }) });
    const a = partition(0);
    const b = partition(1);
    await a.committer.open();
    await b.committer.open();
    await a.committer.write(unit('out', '10'));
    await b.committer.write(unit('out', '20'));
    await a.committer.commit();
    for (const { heard } of [a, b]) {
      expect(heard.commits).toEqual([]);
      expect(heard.rollbacks).toHaveLength(1);
      expect(heard.rollbacks[0]).toMatchObject({ name: 'GenerationFencedError', generationId: 4 });
    }
  });

  it('turns an epoch refusal into ProducerFencedError', async () => {
    const { partition } = setup({ failOffsets: () => Object.assign(new Error('Producer attempted an operation with an old epoch'), { type: 'INVALID_PRODUCER_EPOCH' }) });
    const a = partition(0);
    await a.committer.open();
    await a.committer.write(unit('out', '10'));
    await a.committer.commit();
    expect(a.heard.rollbacks[0]).toMatchObject({ name: 'ProducerFencedError' });
  });

  it("leaves the others' work alone when a partition with nothing pending fails", async () => {
    const { partition, log, ended } = setup();
    const a = partition(0);
    const b = partition(1);
    await a.committer.open();
    await b.committer.open();
    await b.committer.write(unit('out', '20'));
    await a.committer.abort(new Error('a record of partition 0 blocked before anything of it was written'));
    expect(b.heard.rollbacks).toEqual([]);
    await b.committer.commit();
    expect(b.heard.commits.map((commit) => commit.nextOffset)).toEqual(['20']);
    expect(ended).toEqual(['committed']);
    expect(log.aborts).toBe(0);
  });

  it('writes the units of partitions handled at the same time in one request, but a unit isolating a refusal alone', async () => {
    const { partition, log } = setup();
    const [a, b, c] = [partition(0), partition(1), partition(2)];
    for (const { committer } of [a, b, c]) await committer.open();
    await Promise.all([a.committer.write(unit('out-a', '10')), b.committer.write(unit('out-b', '20')), c.committer.write({ ...unit('out-c', '30'), alone: true })]);
    await Promise.all([a.committer.write(unit('out-a', '11')), b.committer.write(unit('out-a', '21'))]);
    expect(log.sends).toEqual([['out-a', 'out-b'], ['out-c'], ['out-a']]);
    await a.committer.commit();
    expect([a, b, c].map(({ heard }) => heard.commits.map((commit) => commit.nextOffset))).toEqual([['11'], ['21'], ['30']]);
  });

  it('aborts when a partition leaves with work pending: outputs never commit without their offsets', async () => {
    const { partition, ended } = setup();
    const a = partition(0);
    await a.committer.open();
    await a.committer.write(unit('out', '10'));
    await a.committer.close();
    expect(ended).toEqual(['aborted']);
  });
});

async function until(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
