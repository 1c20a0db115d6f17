import { describe, expect, it } from 'vitest';
import { type CommitListener, type CommitUnit, noneConsumedBefore, type PartitionCommitter, unscopedHandlerCall } from '../../src/commit/index.js';
import { DEFAULT_SETTINGS } from '../../src/config/schema.js';
import { resolvePipeline } from '../../src/pipeline/definition.js';
import { defineHandler } from '../../src/pipeline/records.js';
import { batchFrom, payloadFor, scriptedTask } from '../support/partition-task-fixtures.js';

/**
 * A commit whose answer is lost may still have committed: the coordinator finishes a
 * transaction whose EndTxn it logged, whatever the client heard. After a failed commit
 * the task must not trust its own idea of the last commit, nor keep the failed producer
 * (KafkaJS leaves it in the COMMITTING state, and its sequence numbers may be stale):
 * it re-opens the committer, which fences, and resumes from the offset the broker has.
 * The committer here is scripted; the broker-side behaviour is exercised by the
 * integration audits with broker kills.
 */
class ScriptedCommitter implements PartitionCommitter {
  readonly transactionalId = 'g.in.0';
  readonly writesAhead = 0;
  readonly consumedBefore = noneConsumedBefore;
  readonly runHandlerCall = unscopedHandlerCall;
  listener!: CommitListener;
  opens = 0;
  closes = 0;
  written: string[] = [];
  failNextCommit = false;
  /** What the group coordinator holds as committed. */
  brokerOffset: string | null = null;
  private pending: CommitUnit[] = [];

  async open(): Promise<void> {
    this.opens++;
  }
  async startOffset(): Promise<string | null> {
    return this.brokerOffset;
  }
  async acknowledgeOnReceipt(): Promise<void> {}
  /** A commit interval of 0: every unit commits as it is written. */
  async write(unit: CommitUnit): Promise<void> {
    this.pending.push(unit);
    await this.commit();
  }
  async commit(): Promise<void> {
    const last = this.pending.at(-1);
    if (!last) return;
    // Either way the transaction commits on the broker; only the answer differs.
    for (const unit of this.pending) for (const { messages } of unit.outputs) this.written.push(...messages.map((m) => String(m.value)));
    this.brokerOffset = last.nextOffset;
    const records = this.pending.reduce((sum, unit) => sum + unit.records, 0);
    this.pending = [];
    if (this.failNextCommit) {
      this.failNextCommit = false;
      throw new Error('Connection closed while waiting for the EndTxn answer');
    }
    this.listener.committed({ records, nextOffset: last.nextOffset });
  }
  async abort(): Promise<void> {
    this.pending = [];
  }
  async close(): Promise<void> {
    this.closes++;
  }
}

function taskWith(committer: ScriptedCommitter) {
  const pipeline = resolvePipeline(
    { name: 'echo', input: 'in', output: 'out', handler: defineHandler({ handle: (record) => ({ value: record.value }) }) },
    { commit: DEFAULT_SETTINGS.commit },
  );
  const createCommitter = (listener: CommitListener) => {
    committer.listener = listener;
    return committer;
  };
  return scriptedTask({ pipeline, createCommitter });
}

describe('PartitionTask after a failed commit', () => {
  it('re-opens the committer and resumes from the broker’s committed offset, not its own', async () => {
    const committer = new ScriptedCommitter();
    const { task, seeks } = taskWith(committer);
    await task.open();
    expect(committer.opens).toBe(1);

    await task.handleBatch(payloadFor(batchFrom(0, 10))); // commits 0-9
    committer.failNextCommit = true;
    await task.handleBatch(payloadFor(batchFrom(10, 10))); // 10-19 commit, but the answer is lost
    expect(committer.brokerOffset).toBe('20');
    expect(seeks).toEqual(['10']); // rewound to what the task believed

    // The consumer delivers from the rewound offset; the task fences again and finds 20 committed.
    await task.handleBatch(payloadFor(batchFrom(10, 10)));
    expect(committer.closes).toBe(1);
    expect(committer.opens).toBe(2);
    expect(seeks).toEqual(['10', '20']);

    await task.handleBatch(payloadFor(batchFrom(20, 5)));
    const values = committer.written;
    expect(values).toHaveLength(25);
    expect(new Set(values).size).toBe(25);
  });

  it('keeps processing with the same committer when nothing failed', async () => {
    const committer = new ScriptedCommitter();
    const { task, seeks } = taskWith(committer);
    await task.open();
    await task.handleBatch(payloadFor(batchFrom(0, 10)));
    await task.handleBatch(payloadFor(batchFrom(10, 10)));
    expect(committer.opens).toBe(1);
    expect(committer.closes).toBe(0);
    expect(seeks).toEqual([]);
    expect(committer.written).toHaveLength(20);
  });
});
