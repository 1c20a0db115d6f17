import type { Batch, KafkaMessage } from 'kafkajs';
import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../src/config/schema.js';
import { describeThrown } from '../../src/errors/index.js';
import { resolvePipeline } from '../../src/pipeline/definition.js';
import { defineHandler, type InputRecord } from '../../src/pipeline/records.js';
import { FAILURE_HEADERS } from '../../src/routing/failure-headers.js';
import { CommittingCommitter, payloadFor, scriptedTask } from '../support/partition-task-fixtures.js';

/**
 * Whatever a handler throws, its record is routed by the policy with a message that can be read,
 * and the partition moves on: a thrown value that cannot be rendered, or a failure of routing
 * itself, must never roll the unit back to fail the same way again.
 */
const revoked = Proxy.revocable({}, {});
revoked.revoke();
const cyclic: Record<string, unknown> = { name: 'cyclic' };
cyclic.self = cyclic;

const THROWN: Array<[string, () => unknown]> = [
  ['an object with no prototype', () => Object.create(null)],
  ['an object whose toString throws', () => ({ toString: () => { throw new Error('no'); } })],
  ['a Symbol', () => Symbol('odd')],
  ['null', () => null],
  ['a number', () => 42],
  ['a cyclic object', () => cyclic],
  ['a huge string', () => 'x'.repeat(1_000_000)],
  ['an Error whose message getter throws', () => Object.defineProperty(new Error('x'), 'message', { get: () => { throw new Error('no'); } })],
  // Reading any property throws: the policy's own checks fail on it (routing itself fails).
  ['a Proxy that throws on every read', () => new Proxy({}, { get: () => { throw new Error('hostile'); } })],
  ['a revoked Proxy', () => revoked.proxy],
];


function batchOf(count: number): Batch {
  const messages = Array.from({ length: count }, (_, offset) => ({ offset: String(offset), key: null, value: Buffer.from(`{"n":${offset}}`), timestamp: '0', attributes: 0, headers: {} }) as KafkaMessage);
  return { topic: 'in', partition: 0, messages, fetchedOffset: '0', lastOffset: () => String(count - 1) } as unknown as Batch;
}

describe('a handler that throws something that is not an Error', () => {
  it.each([
    ['one at a time', undefined],
    ['under concurrency (ordering key)', { ordering: 'key', maxInFlight: 4 } as const],
  ])('routes every record by the policy with a readable message, and writes the unit once: %s', async (_, concurrency) => {
    const committer = new CommittingCommitter();
    const pipeline = resolvePipeline(
      {
        name: 'odd',
        input: 'in',
        output: 'out',
        errors: { onError: 'retry', attempts: 1 },
        ...(concurrency ? { concurrency } : {}),
        handler: defineHandler({
          handle: (record: InputRecord) => {
            throw (THROWN[(record.value as { n: number }).n] as [string, () => unknown])[1]();
          },
        }),
      },
      { commit: DEFAULT_SETTINGS.commit },
    );
    const { task, seeks, stats } = scriptedTask({
      pipeline,
      createCommitter: committer.create,
    });
    await task.open();
    await task.handleBatch(payloadFor(batchOf(THROWN.length)));
    expect(seeks).toEqual([]);
    expect(committer.units.map((unit) => unit.nextOffset)).toEqual([String(THROWN.length)]);
    const copies = new Map<string, { topic: string; headers: Record<string, string> }>();
    for (const { topic, messages } of committer.units.flatMap((unit) => unit.outputs)) {
      for (const message of messages) {
        const headers = Object.fromEntries(Object.entries(message.headers ?? {}).map(([name, value]) => [name, String(value)]));
        copies.set(headers[FAILURE_HEADERS.originalOffset] as string, { topic, headers });
      }
    }
    expect(copies.size).toBe(THROWN.length);
    THROWN.forEach(([what], offset) => {
      const copy = copies.get(String(offset));
      expect(copy, what).toBeDefined();
      const message = copy?.headers[FAILURE_HEADERS.errorMessage] ?? '';
      expect(message.length, what).toBeGreaterThan(0);
      expect(message.length, what).toBeLessThanOrEqual(2048);
    });
    // Routable values go to their retry tier; those the policy's checks cannot even read are dead-lettered as routing-failed.
    expect(copies.get('0')?.topic).toBe('in.retry.1');
    expect(copies.get('2')?.topic).toBe('in.retry.1');
    for (const offset of ['8', '9']) {
      expect(copies.get(offset)?.topic).toBe('in.dlt');
      expect(copies.get(offset)?.headers[FAILURE_HEADERS.reason]).toBe('routing-failed');
    }
    expect(copies.get('8')?.headers[FAILURE_HEADERS.errorMessage]).toMatch(/routing the record's failure failed \(hostile\)/);
    expect(stats.retried + stats.deadLettered).toBe(THROWN.length);
  });

  it('halves a batch whose handler throws a revoked Proxy down to single records, and dead-letters them, the unit written once', async () => {
    const committer = new CommittingCommitter();
    const pipeline = resolvePipeline(
      {
        name: 'odd-batch',
        input: 'in',
        output: 'out',
        handler: defineHandler({
          handleBatch: () => {
            throw revoked.proxy;
          },
        }),
      },
      { commit: DEFAULT_SETTINGS.commit },
    );
    const { task, seeks, stats } = scriptedTask({ pipeline, createCommitter: committer.create });
    await task.open();
    await task.handleBatch(payloadFor(batchOf(4)));
    expect(seeks).toEqual([]);
    expect(committer.units.map((unit) => unit.nextOffset)).toEqual(['4']);
    const reasons = committer.units.flatMap((unit) => unit.outputs.flatMap(({ messages }) => messages.map((message) => String(message.headers?.[FAILURE_HEADERS.reason]))));
    expect(reasons).toEqual(['routing-failed', 'routing-failed', 'routing-failed', 'routing-failed']);
    expect(stats.deadLettered).toBe(4);
  });

  it('renders every thrown value without throwing', () => {
    for (const [what, make] of THROWN) {
      const described = describeThrown(make());
      expect(typeof described.message, what).toBe('string');
      expect(typeof described.className, what).toBe('string');
    }
    expect(describeThrown(Object.create(null)).message).toBe('[object Object]');
    expect(describeThrown(Symbol('odd')).message).toBe('Symbol(odd)');
    expect(describeThrown(null)).toMatchObject({ className: 'null', message: 'null' });
  });
});
