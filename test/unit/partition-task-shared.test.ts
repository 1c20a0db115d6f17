import { describe, expect, it } from 'vitest';
import type { Batch, EachBatchPayload } from 'kafkajs';
import { type CommitListener, type CommitUnit, noneConsumedBefore, type PartitionCommitter, unscopedHandlerCall } from '../../src/commit/index.js';
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
  readonly writesAhead: number = 1;
  readonly consumedBefore = noneConsumedBefore;
  readonly runHandlerCall = unscopedHandlerCall;
  listener!: CommitListener;
  written: string[] = [];
  /** Runs inside write(), before the unit counts as written: where a concurrent cycle lands. */
  duringWrite?: (unit: CommitUnit) => void;
  /** Awaited inside write() before it settles: a write still in flight, or one the producer fails. */
  inFlight?: (unit: CommitUnit) => Promise<void>;
  /** Units whose write has been asked for, whether or not it settled yet. */
  requested: string[] = [];
  aborts = 0;
  protected refused = false;

  async open(): Promise<void> {
    this.refused = false;
  }
  async startOffset(): Promise<string | null> {
    return '0';
  }
  async acknowledgeOnReceipt(): Promise<void> {}
  async write(unit: CommitUnit): Promise<void> {
    if (this.refused) throw new TransactionRolledBackError('in', 0);
    this.requested.push(unit.nextOffset);
    await this.inFlight?.(unit);
    this.duringWrite?.(unit);
    this.written.push(unit.nextOffset);
  }
  async commit(): Promise<void> {}
  async abort(): Promise<void> {
    this.aborts++;
  }
  async close(): Promise<void> {}

  commitThrough(nextOffset: string): void {
    this.listener.committed({ nextOffset, records: 0 });
  }
  /** Another partition's failure aborted the shared transaction. */
  rollBack(error: unknown): void {
    this.refused = true;
    this.listener.rolledBack(error);
  }
}

/**
 * The shared transaction's writes ahead: units go in one after another (each waits for the one
 * before it), and a unit handed over behind a failed one is refused until the partition re-opens,
 * as PipelineTransaction does.
 */
class QueuedCycle extends SharedCycle {
  override readonly writesAhead = 3;
  private tail: Promise<unknown> = Promise.resolve();

  override write(unit: CommitUnit): Promise<void> {
    const previous = this.tail;
    const write = (async () => {
      await previous.catch(() => {});
      if (this.refused) throw new TransactionRolledBackError('in', 0);
      this.requested.push(unit.nextOffset);
      try {
        await this.inFlight?.(unit);
      } catch (error) {
        this.refused = true;
        throw error;
      }
      this.written.push(unit.nextOffset);
    })();
    this.tail = write;
    return write;
  }
}

function taskWith(cycle: SharedCycle, onRecord: (record: InputRecord) => void = () => {}, isCurrent?: () => boolean) {
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
  return scriptedTask({ pipeline, createCommitter, isCurrent });
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

  it('stops handing units over once the member joins a newer generation, and leaves the consumer to the new task', async () => {
    // The partition may be another member's now, or this member's under a new task. KafkaJS rejoins
    // once its batches end, but the old generation's shared transaction may abort after the join
    // (its units were still waiting for the producer): a rewind's seek and pause would move or stop
    // the partition under its new task.
    const cycle = new SharedCycle();
    let current = true;
    const resolved: string[] = [];
    const { task, seeks } = taskWith(
      cycle,
      (record) => {
        if (record.offset === '15') current = false;
      },
      () => current,
    );
    await task.open();
    await task.handleBatch({ ...payloadFor(batchFrom(0, 30)), resolveOffset: (offset: string) => void resolved.push(offset) } as EachBatchPayload);
    // Unit 0-9 was handed over in its generation; 10-19, handled across the rejoin, and 20-29 are not.
    expect(cycle.requested).toEqual(['10']);
    expect(resolved).toEqual(['9']);
    // Its failure, too, leaves the consumer alone: a seek to its last commit would move the new task's position.
    cycle.rollBack(new Error('the transaction of the old generation aborted'));
    expect(seeks).toEqual([]);
    // A batch of the old generation handled after the rejoin is not processed at all.
    await task.handleBatch(payloadFor(batchFrom(30, 10)));
    expect(cycle.requested).toEqual(['10']);
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

  it('handles the next unit while the last one is still being written, and writes it only once that write is in', async () => {
    const cycle = new SharedCycle();
    const events: string[] = [];
    let release!: () => void;
    cycle.inFlight = (unit) => (unit.nextOffset === '10' ? new Promise((resolve) => (release = resolve)) : Promise.resolve());
    const { task } = taskWith(cycle, (record) => {
      if (record.offset === '10') events.push('handled 10');
    });
    await task.open();
    const batch = task.handleBatch(payloadFor(batchFrom(0, 20)));
    await until(() => events.length > 0);
    // Unit 10-19 was handled while unit 0-9 was in flight, and waits for it.
    expect(cycle.requested).toEqual(['10']);
    release();
    await batch;
    expect(cycle.requested).toEqual(['10', '20']);
    expect(cycle.written).toEqual(['10', '20']);
  });

  it('never writes the unit handled while the one before failed in flight: the partition rewinds to its last commit', async () => {
    const cycle = new SharedCycle();
    cycle.inFlight = async (unit) => {
      if (unit.nextOffset === '10') throw new Error('the produce request failed');
    };
    const { task, seeks, stats } = taskWith(cycle);
    await task.open();
    await task.handleBatch(payloadFor(batchFrom(0, 20)));
    expect(cycle.requested).toEqual(['10']);
    expect(cycle.written).toEqual([]);
    expect(seeks).toEqual(['0']);
    expect(cycle.aborts).toBe(1);
    expect(stats.handlerFailures).toBe(1);
  });

  it('hands over as many units as the committer allows ahead, then waits for the oldest', async () => {
    const cycle = new QueuedCycle();
    const releases: Array<() => void> = [];
    cycle.inFlight = () => new Promise((resolve) => releases.push(resolve));
    const handled: string[] = [];
    const { task } = taskWith(cycle, (record) => {
      if (Number(record.offset) % 10 === 0) handled.push(record.offset);
    });
    await task.open();
    const resolved: string[] = [];
    const payload = { ...payloadFor(batchFrom(0, 50)), resolveOffset: (offset: string) => void resolved.push(offset) } as EachBatchPayload;
    const batch = task.handleBatch(payload);
    // Units 0-9, 10-19 and 20-29 are handed over with the first still in flight; 30-39 is handled and waits.
    await until(() => handled.length === 4);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(cycle.requested).toEqual(['10']);
    expect(resolved).toEqual(['9', '19', '29']);
    releases[0]?.();
    await until(() => resolved.length === 4);
    expect(resolved.at(-1)).toBe('39');
    for (let unit = 1; unit < 5; unit++) {
      await until(() => releases.length > unit);
      releases[unit]?.();
    }
    await batch;
    await task.flush();
    expect(cycle.written).toEqual(['10', '20', '30', '40', '50']);
  });

  it('never writes a unit handed over behind one that failed: one rewind to the last commit, the units behind refused', async () => {
    const cycle = new QueuedCycle();
    let fail!: (error: Error) => void;
    cycle.inFlight = (unit) => (unit.nextOffset === '10' ? new Promise((_, reject) => (fail = reject)) : Promise.resolve());
    const { task, seeks, stats } = taskWith(cycle);
    await task.open();
    // The batch returns with its three units handed over, the first still in flight.
    await task.handleBatch(payloadFor(batchFrom(0, 30)));
    expect(cycle.requested).toEqual(['10']);
    fail(new Error('the produce request failed'));
    await until(() => seeks.length > 0);
    await task.flush();
    expect(cycle.written).toEqual([]);
    expect(cycle.requested).toEqual(['10']);
    expect(seeks).toEqual(['0']);
    expect(cycle.aborts).toBe(1);
    expect(stats.handlerFailures).toBe(1);
  });

  it('handles the failure of the last write of a batch even when no other batch comes', async () => {
    const cycle = new SharedCycle();
    let fail!: (error: Error) => void;
    cycle.inFlight = () => new Promise((_, reject) => (fail = reject));
    const { task, seeks } = taskWith(cycle);
    await task.open();
    // The batch returns with its unit still in flight: the consumer may fetch meanwhile.
    await task.handleBatch(payloadFor(batchFrom(0, 10)));
    expect(cycle.requested).toEqual(['10']);
    expect(seeks).toEqual([]);
    fail(new Error('the produce request failed'));
    await until(() => seeks.length > 0);
    expect(seeks).toEqual(['0']);
    expect(cycle.aborts).toBe(1);
  });

  it('only ever moves the fetch position forward, whenever the writes complete', async () => {
    const cycle = new SharedCycle();
    const releases: Array<() => void> = [];
    cycle.inFlight = () => new Promise((resolve) => releases.push(resolve));
    const { task } = taskWith(cycle);
    await task.open();
    const resolved: string[] = [];
    const payload = { ...payloadFor(batchFrom(0, 30)), resolveOffset: (offset: string) => void resolved.push(offset) } as EachBatchPayload;
    const batch = task.handleBatch(payload);
    // Each unit's write completes after the next unit was handed over.
    for (let unit = 0; unit < 3; unit++) {
      await until(() => releases.length > unit);
      releases[unit]?.();
    }
    await batch;
    await task.flush();
    expect(cycle.written).toEqual(['10', '20', '30']);
    expect(resolved.map(Number)).toEqual([...resolved.map(Number)].sort((a, b) => a - b));
    expect(resolved.at(-1)).toBe('29');
  });

  it('waits for the write in flight before a flush commits', async () => {
    const cycle = new SharedCycle();
    let release!: () => void;
    cycle.inFlight = () => new Promise((resolve) => (release = resolve));
    const { task } = taskWith(cycle);
    await task.open();
    await task.handleBatch(payloadFor(batchFrom(0, 10)));
    let flushed = false;
    const flush = task.flush().then(() => (flushed = true));
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(flushed).toBe(false);
    release();
    await flush;
    expect(cycle.written).toEqual(['10']);
  });
});

async function until(condition: () => boolean, timeoutMs = 2_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met');
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}
