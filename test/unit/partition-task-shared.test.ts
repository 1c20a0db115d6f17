import { describe, expect, it } from 'vitest';
import type { Batch, EachBatchPayload } from 'kafkajs';
import type { CommitListener, CommitResult, CommitUnit, PartitionCommitter } from '../../src/commit/index.js';
import { DEFAULT_SETTINGS } from '../../src/config/schema.js';
import { TransactionRolledBackError } from '../../src/errors/index.js';
import { resolvePipeline } from '../../src/pipeline/definition.js';
import { defineHandler, type InputRecord } from '../../src/pipeline/records.js';
import { batchFrom, payloadFor, scriptedTask } from '../support/partition-task-fixtures.js';

/**
 * A partition task under the shared commit cycle: commits and rollbacks reach it as a
 * listener, at any moment between two of its steps. Scripted here; the strategy's own
 * bookkeeping is in pipeline-transaction.test.ts, the broker's in the integration audits.
 */
class SharedCycle implements PartitionCommitter {
  readonly sharedCommitCycle = true;
  listener!: CommitListener;
  written: string[] = [];
  /** Runs inside write(), before the unit counts as written: where a concurrent cycle lands. */
  duringWrite?: (unit: CommitUnit) => void;
  private refused = false;

  async open(): Promise<void> {
    this.refused = false;
  }
  async acknowledgeOnReceipt(): Promise<void> {}
  async write(unit: CommitUnit): Promise<void> {
    if (this.refused) throw new TransactionRolledBackError('in', 0);
    this.duringWrite?.(unit);
    this.written.push(unit.nextOffset);
  }
  pendingForMs(): number | undefined {
    return undefined;
  }
  async commit(): Promise<CommitResult | undefined> {
    return undefined;
  }
  async abort(): Promise<void> {}
  async close(): Promise<void> {}

  commitThrough(nextOffset: string): void {
    this.listener.committed({ nextOffset, records: 0, durationMs: 1 });
  }
  /** Another partition's failure aborted the shared transaction. */
  rollBack(error: unknown): void {
    this.refused = true;
    this.listener.rolledBack(error);
  }
}

function taskWith(cycle: SharedCycle, onRecord: (record: InputRecord) => void = () => {}) {
  const pipeline = resolvePipeline(
    {
      name: 'echo',
      input: 'in',
      output: 'out',
      handler: defineHandler({
        handle: (record) => {
          onRecord(record);
          return { value: record.value };
        },
      }),
    },
    { commit: DEFAULT_SETTINGS.commit },
  );
  const createCommitter = (listener: CommitListener) => {
    cycle.listener = listener;
    return cycle;
  };
  return scriptedTask({ pipeline, createCommitter, readCommittedOffset: async () => '0' });
}

describe('PartitionTask under the shared commit cycle', () => {
  it('counts what a commit covers by offset, even when the commit lands while a later unit is being written', async () => {
    const cycle = new SharedCycle();
    const { task, stats } = taskWith(cycle);
    await task.open();
    cycle.duringWrite = (unit) => {
      if (unit.nextOffset === '20') cycle.commitThrough('10');
    };
    await task.handleBatch(payloadFor(batchFrom(0, 20)));
    expect(cycle.written).toEqual(['10', '20']);
    expect(stats.recordsIn).toBe(10);
    cycle.commitThrough('20');
    expect(stats.recordsIn).toBe(20);
    expect(stats.recordsOut).toBe(20);
  });

  it('commits past a batch whose every record was filtered out, unless a seek made it stale', async () => {
    const cycle = new SharedCycle();
    const { task, stats } = taskWith(cycle);
    await task.open();
    // Offsets 0-3: an aborted transaction's records, 4: its abort marker. KafkaJS hands over no message.
    const filtered = (from: number, last: number) =>
      ({ topic: 'in', partition: 0, messages: [], fetchedOffset: String(from), firstOffset: () => String(from), lastOffset: () => String(last) }) as unknown as Batch;
    await task.handleBatch(payloadFor(filtered(0, 4)));
    expect(cycle.written).toEqual(['5']);
    cycle.commitThrough('5');
    expect(stats.recordsIn).toBe(0);

    // Fetched before a seek that is still pending: it must not move the offset.
    const stale = { ...payloadFor(filtered(5, 9)), isStale: () => true } as EachBatchPayload;
    await task.handleBatch(stale);
    // Nothing past what is committed already: nothing to write.
    await task.handleBatch(payloadFor(filtered(3, 4)));
    expect(cycle.written).toEqual(['5']);
  });

  it("stops the batch and rewinds to its last commit when another partition's failure rolls the transaction back", async () => {
    const cycle = new SharedCycle();
    const failure = new Error('a write of another partition failed');
    const { task, seeks, stats } = taskWith(cycle, (record) => {
      // Units are 0-9, 10-19, 20-29: 0-9 is written (pending) when the transaction holding it aborts.
      if (record.offset === '15') cycle.rollBack(failure);
    });
    await task.open();
    await task.handleBatch(payloadFor(batchFrom(0, 30)));

    // Units 10-19 and 20-29 never reach the transaction that replaced the aborted one, and 0-9 is redone.
    expect(cycle.written).toEqual(['10']);
    expect(seeks).toEqual(['0']);
    expect(stats.recordsIn).toBe(0);
    // Not this partition's failure: no handler failure counted, no backoff escalation.
    expect(stats.handlerFailures).toBe(0);
  });
});
