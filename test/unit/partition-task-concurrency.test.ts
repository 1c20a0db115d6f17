import type { Batch, KafkaMessage } from 'kafkajs';
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_SETTINGS } from '../../src/config/schema.js';
import { pipelineProblems } from '../../src/pipeline/checks.js';
import { type PipelineDefinition, resolvePipeline } from '../../src/pipeline/definition.js';
import { defineHandler, type InputRecord } from '../../src/pipeline/records.js';
import { CommittingCommitter, payloadFor, scriptedTask } from '../support/partition-task-fixtures.js';

/**
 * Concurrency inside a partition, on a scripted committer that commits every unit as it is
 * written: calls overlap across keys, never within one, and a unit's outputs are written
 * together, each key's in input order. The broker-side audits are in the integration suite.
 */

/** `keys.length` records of in[0] from offset 0, record n keyed keys[n] with value "r<n>". */
function keyedBatch(keys: Array<string | null>): Batch {
  const messages = keys.map(
    (key, offset) => ({ offset: String(offset), key: key === null ? null : Buffer.from(key), value: Buffer.from(`"r${offset}"`), timestamp: '0', attributes: 0, headers: {} }) as KafkaMessage,
  );
  return { topic: 'in', partition: 0, messages, fetchedOffset: '0', lastOffset: () => String(keys.length - 1) } as unknown as Batch;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function taskWith(definition: Omit<PipelineDefinition, 'name' | 'input' | 'output'>, batchSize = 100) {
  const committer = new CommittingCommitter();
  const pipeline = resolvePipeline({ name: 'echo', input: 'in', output: 'out', ...definition }, { commit: { ...DEFAULT_SETTINGS.commit, batchSize } });
  const { task, seeks, stats } = scriptedTask({
    pipeline,
    createCommitter: committer.create,
  });
  return { task, seeks, stats, committer };
}

describe('PartitionTask with concurrency inside the partition', () => {
  it('runs other keys at the same time, one call per key at a time, and writes each key in input order', async () => {
    const keys = Array.from({ length: 60 }, (_, n) => `k${n % 6}`);
    const running = new Map<string, number>();
    let active = 0;
    let peak = 0;
    const { task, committer } = taskWith({
      concurrency: { ordering: 'key', maxInFlight: 4 },
      handler: defineHandler({
        handle: async (record: InputRecord) => {
          expect(running.get(record.key as string) ?? 0).toBe(0);
          running.set(record.key as string, 1);
          peak = Math.max(peak, ++active);
          // Later records finish sooner: only the lanes keep them in order.
          await sleep(1 + ((60 - Number(record.offset)) % 7));
          active--;
          running.set(record.key as string, 0);
          return { value: record.value };
        },
      }),
    });
    await task.open();
    await task.handleBatch(payloadFor(keyedBatch(keys)));
    expect(peak).toBe(4);
    // Units of ten records (the fixture's): each written whole, in offset order.
    expect(committer.units.map((unit) => unit.nextOffset)).toEqual(['10', '20', '30', '40', '50', '60']);
    const values = committer.values;
    expect(values).toHaveLength(60);
    for (let key = 0; key < 6; key++) {
      const expected = keys.flatMap((k, n) => (k === `k${key}` ? [`"r${n}"`] : []));
      expect(values.filter((value) => expected.includes(value))).toEqual(expected);
    }
  });

  it('keeps a key in offset order across the units of a batch handled at once, whatever their decoding waits on', async () => {
    const called: number[] = [];
    let prepares = 0;
    // A serde that fetches something before decoding (as a registry serde fetches schemas): the first unit's fetch is slow.
    const slowFirst = {
      name: 'slow-first',
      prepare: async () => {
        if (prepares++ === 0) await sleep(30);
      },
      decode: (bytes: Buffer | null) => JSON.parse(String(bytes)) as unknown,
      encode: (value: unknown) => Buffer.from(JSON.stringify(value)),
    };
    const { task, committer } = taskWith({
      concurrency: { ordering: 'key', maxInFlight: 8 },
      serde: { input: slowFirst },
      handler: defineHandler({
        handle: async (record: InputRecord) => {
          called.push(Number(record.offset));
          return { value: record.value };
        },
      }),
    });
    await task.open();
    await task.handleBatch(payloadFor(keyedBatch(Array.from({ length: 30 }, () => 'a'))));
    expect(called).toEqual(Array.from({ length: 30 }, (_, n) => n));
    expect(committer.units.map((unit) => unit.nextOffset)).toEqual(['10', '20', '30']);
  });

  it('runs records without a key at the same time under key ordering, and records of one key one by one', async () => {
    let active = 0;
    let peak = 0;
    const handle = async (record: InputRecord) => {
      peak = Math.max(peak, ++active);
      await sleep(5);
      active--;
      return { value: record.value };
    };
    const keyless = taskWith({ concurrency: { ordering: 'key', maxInFlight: 8 }, handler: defineHandler({ handle }) });
    await keyless.task.open();
    await keyless.task.handleBatch(payloadFor(keyedBatch([null, null, null, null])));
    expect(peak).toBe(4);
    expect(keyless.committer.values).toEqual(['"r0"', '"r1"', '"r2"', '"r3"']);

    peak = 0;
    const oneKey = taskWith({ concurrency: { ordering: 'key', maxInFlight: 8 }, handler: defineHandler({ handle }) });
    await oneKey.task.open();
    await oneKey.task.handleBatch(payloadFor(keyedBatch(['a', 'a', 'a', 'a'])));
    expect(peak).toBe(1);
  });

  it('under block, retries a failing record in place while other keys go on, and writes the unit once it succeeds', async () => {
    let failures = 0;
    const handled: string[] = [];
    const { task, committer, seeks, stats } = taskWith({
      concurrency: { ordering: 'key', maxInFlight: 4 },
      errors: { onError: 'block', backoff: { initialMs: 20, maxMs: 20, jitter: 0 } },
      handler: defineHandler({
        handle: async (record: InputRecord) => {
          if (record.offset === '0' && failures < 2) {
            failures++;
            throw new Error('downstream unavailable');
          }
          handled.push(record.offset);
          return { value: record.value };
        },
      }),
    });
    await task.open();
    await task.handleBatch(payloadFor(keyedBatch(['a', 'b', 'c', 'a', 'b'])));
    // b and c went on while a waited; a's second record waited for the first.
    expect(handled.indexOf('1')).toBeLessThan(handled.indexOf('0'));
    expect(handled.indexOf('2')).toBeLessThan(handled.indexOf('0'));
    expect(handled.indexOf('0')).toBeLessThan(handled.indexOf('3'));
    expect(failures).toBe(2);
    expect(seeks).toEqual([]);
    expect(committer.values).toEqual(['"r0"', '"r1"', '"r2"', '"r3"', '"r4"']);
    expect(stats.recordsIn).toBe(5);
  });

  it('gives up a key blocked in place when the partition is flushed (a rebalance): the unit rolls back unwritten', async () => {
    const { task, committer, seeks } = taskWith({
      concurrency: { ordering: 'key', maxInFlight: 4 },
      errors: { onError: 'block', backoff: { initialMs: 60_000, maxMs: 60_000, jitter: 0 } },
      handler: defineHandler({
        handle: async (record: InputRecord) => {
          if (record.key === 'a') throw new Error('always');
          return { value: record.value };
        },
      }),
    });
    await task.open();
    const handling = task.handleBatch(payloadFor(keyedBatch(['a', 'b'])));
    await sleep(20);
    await task.flush();
    await handling;
    expect(committer.units).toEqual([]);
    expect(seeks).toEqual(['0']);
  });

  it('splits a batch handler into sub-batches of whole keys, handled at the same time', async () => {
    const batches: string[][] = [];
    let active = 0;
    let peak = 0;
    const { task, committer } = taskWith({
      concurrency: { ordering: 'key', maxInFlight: 3 },
      handler: defineHandler({
        handleBatch: async (records: readonly InputRecord[]) => {
          batches.push(records.map((record) => `${record.key}@${record.offset}`));
          peak = Math.max(peak, ++active);
          await sleep(5);
          active--;
          return records.map((record) => ({ value: record.value }));
        },
      }),
    });
    await task.open();
    // One unit of ten records, five keys.
    const keys = Array.from({ length: 10 }, (_, n) => `k${n % 5}`);
    await task.handleBatch(payloadFor(keyedBatch(keys)));
    expect(peak).toBeGreaterThan(1);
    expect(batches.length).toBeLessThanOrEqual(3);
    for (const key of new Set(keys)) {
      const holding = batches.filter((batch) => batch.some((entry) => entry.startsWith(`${key}@`)));
      expect(holding).toHaveLength(1);
      const offsets = (holding[0] as string[]).filter((entry) => entry.startsWith(`${key}@`)).map((entry) => Number(entry.split('@')[1]));
      expect(offsets).toEqual([...offsets].sort((a, b) => a - b));
    }
    expect(committer.values).toHaveLength(10);
  });

  it('refuses what cannot be: partition ordering with more in flight, a sink pipeline with key ordering', () => {
    const handler = defineHandler({ handle: (record: InputRecord) => ({ value: record.value }) });
    expect(() => taskWith({ concurrency: { ordering: 'partition', maxInFlight: 4 }, handler })).toThrow(/ordering 'partition' handles one record at a time/);
    expect(() =>
      resolvePipeline(
        { name: 's', input: 'in', handler, concurrency: { ordering: 'key' }, sink: { postgres: { url: 'postgres://u@127.0.0.1:5432/db' } } },
        { commit: DEFAULT_SETTINGS.commit },
      ),
    ).toThrow(/PostgreSQL sink pipeline handles one record at a time/);
    expect(() => taskWith({ concurrency: { ordering: 'key', maxInFlight: 0 }, handler })).toThrow(/concurrency.maxInFlight/);
    // The same checks that `run -c` and `topics validate` make on the files, with a path to name the line.
    expect(pipelineProblems({ name: 's', input: 'in', sink: { postgres: {} }, concurrency: { ordering: 'key' } })).toEqual([
      { path: ['concurrency', 'ordering'], message: expect.stringMatching(/a PostgreSQL sink pipeline handles one record at a time/) },
    ]);
    expect(pipelineProblems({ name: 'p', input: 'in', concurrency: { maxInFlight: 4 } })).toEqual([
      { path: ['concurrency', 'maxInFlight'], message: expect.stringMatching(/^4: ordering 'partition' handles one record at a time/) },
    ]);
  });

  it('interrupts nothing after a batch handled one unit at a time: only units handled at once can be left behind', async () => {
    const abort = vi.spyOn(AbortController.prototype, 'abort');
    try {
      const { task, committer } = taskWith({ handler: defineHandler({ handle: (record: InputRecord) => ({ value: record.value }) }) });
      await task.open();
      await task.handleBatch(payloadFor(keyedBatch(Array.from({ length: 30 }, (_, n) => `k${n}`))));
      expect(committer.units.map((unit) => unit.nextOffset)).toEqual(['10', '20', '30']);
      expect(abort).not.toHaveBeenCalled();
    } finally {
      abort.mockRestore();
    }
  });
});
