import { describe, expect, it } from 'vitest';
import type { CommitSettings } from '../../src/config/schema.js';
import { consumedTopicsOf, definePipeline, type PipelineDefinition, resolvePipeline, topicsOf } from '../../src/pipeline/definition.js';
import { pipelineProblems } from '../../src/pipeline/checks.js';
import { defineHandler } from '../../src/pipeline/records.js';
import { DEFAULT_BACKOFF } from '../../src/config/error-policy.js';
import { bytesSerde, jsonSerde, type Serde, stringSerde } from '../../src/serde/index.js';

const commit: CommitSettings = {
  strategy: 'transactional',
  batchSize: 500,
  lingerMs: 50,
  commitIntervalMs: 100,
  transactionTimeoutMs: 30_000,
  concurrentTransactionsTimeoutMs: 10_000,
};

const handler = defineHandler({ handle: (record) => ({ value: record.value }) });

function definition(overrides: Partial<PipelineDefinition> = {}): PipelineDefinition {
  return { name: 'enrich', input: 'orders', handler, ...overrides };
}

describe('definePipeline', () => {
  it('returns the definition as given', () => {
    const given = definition({ output: 'out' });
    expect(definePipeline(given)).toBe(given);
  });
});

describe('resolvePipeline', () => {
  it('keeps name, handler and output', () => {
    const resolved = resolvePipeline(definition({ output: 'orders.enriched' }), { commit });
    expect(resolved.name).toBe('enrich');
    expect(resolved.handler).toBe(handler);
    expect(resolved.output).toBe('orders.enriched');
  });

  it('leaves output undefined when none is given', () => {
    expect(resolvePipeline(definition(), { commit }).output).toBeUndefined();
  });

  it('turns a single input into a list', () => {
    expect(resolvePipeline(definition({ input: 'orders' }), { commit }).inputs).toEqual(['orders']);
  });

  it('copies an input list', () => {
    const input = ['orders', 'returns'];
    const resolved = resolvePipeline(definition({ input }), { commit });
    expect(resolved.inputs).toEqual(['orders', 'returns']);
    expect(resolved.inputs).not.toBe(input);
  });

  it('defaults the group id to txstream.<name>', () => {
    expect(resolvePipeline(definition(), { commit }).groupId).toBe('txstream.enrich');
  });

  it('defaults the group id to <worker group prefix>.<name>', () => {
    expect(resolvePipeline(definition(), { commit, groupId: 'team-a' }).groupId).toBe('team-a.enrich');
  });

  it('uses an explicit group id as is', () => {
    expect(resolvePipeline(definition({ groupId: 'legacy-group' }), { commit, groupId: 'team-a' }).groupId).toBe('legacy-group');
  });

  it('defaults the dead-letter topic to <input>.dlt for each input', () => {
    const resolved = resolvePipeline(definition({ input: ['orders', 'returns.v2'] }), { commit });
    expect(resolved.deadLetterTopicFor('orders')).toBe('orders.dlt');
    expect(resolved.deadLetterTopicFor('returns.v2')).toBe('returns.v2.dlt');
  });

  it('uses an explicit dead-letter topic for every input', () => {
    const resolved = resolvePipeline(definition({ input: ['orders', 'returns'], deadLetterTopic: 'all.failed' }), { commit });
    expect(resolved.deadLetterTopicFor('orders')).toBe('all.failed');
    expect(resolved.deadLetterTopicFor('returns')).toBe('all.failed');
  });

  it('uses the worker commit settings when the pipeline gives none', () => {
    expect(resolvePipeline(definition(), { commit }).commit).toEqual(commit);
  });

  it('merges pipeline commit settings over the worker ones', () => {
    const resolved = resolvePipeline(definition({ commit: { strategy: 'per-message', batchSize: 1 } }), { commit });
    expect(resolved.commit).toEqual({ ...commit, strategy: 'per-message', batchSize: 1 });
  });

  // Regression: a key present with the value undefined (allowed by Partial<CommitSettings>, e.g.
  // `batchSize: opts.batchSize`) must not wipe the worker default.
  it('keeps the worker default for a pipeline commit key set to undefined', () => {
    const resolved = resolvePipeline(definition({ commit: { batchSize: undefined, strategy: 'batch' } }), { commit });
    expect(resolved.commit).toEqual({ ...commit, strategy: 'batch' });
  });

  it('does not modify the worker commit settings', () => {
    const workerCommit = { ...commit };
    resolvePipeline(definition({ commit: { batchSize: 7 } }), { commit: workerCommit });
    expect(workerCommit).toEqual(commit);
  });

  it('defaults both serdes to json', () => {
    const resolved = resolvePipeline(definition(), { commit });
    expect(resolved.inputSerde).toBe(jsonSerde);
    expect(resolved.outputSerde).toBe(jsonSerde);
  });

  it('resolves serdes by name', () => {
    const resolved = resolvePipeline(definition({ serde: { input: 'string', output: 'bytes' } }), { commit });
    expect(resolved.inputSerde).toBe(stringSerde);
    expect(resolved.outputSerde).toBe(bytesSerde);
  });

  it('uses a custom serde object as is', () => {
    const custom: Serde = { name: 'upper', decode: (bytes) => bytes?.toString().toUpperCase() ?? null, encode: () => null };
    const resolved = resolvePipeline(definition({ serde: { input: custom } }), { commit });
    expect(resolved.inputSerde).toBe(custom);
    expect(resolved.outputSerde).toBe(jsonSerde);
  });
});

describe('resolvePipeline error policy', () => {
  it('defaults to retry with 3 attempts, the default backoff, then the dead-letter topic', () => {
    expect(resolvePipeline(definition(), { commit }).errorPolicy).toEqual({
      onError: 'retry',
      attempts: 3,
      backoff: DEFAULT_BACKOFF,
      then: 'dead-letter',
      keyOrderOnRetry: 'overtake',
    });
  });

  it("refuses keyOrderOnRetry 'hold' where its holds cannot commit with the records behind them, or order means nothing", () => {
    const hold = { onError: 'retry', attempts: 2, keyOrderOnRetry: 'hold' } as const;
    expect(() => resolvePipeline(definition({ errors: hold }), { commit: { ...commit, strategy: 'batch' } })).toThrow(/needs commit strategy 'transactional'.*'batch'/);
    expect(() => resolvePipeline(definition({ errors: hold, concurrency: { ordering: 'unordered' } }), { commit })).toThrow(/ordering 'unordered' handles them in any order/);
    expect(() => resolvePipeline(definition({ errors: hold, handler: defineHandler({ handleBatch: async (records) => records.map(() => null) }) }), { commit })).toThrow(/needs a record handler/);
    expect(resolvePipeline(definition({ errors: hold }), { commit }).errorPolicy.keyOrderOnRetry).toBe('hold');
    // The same checks that `run -c` and `topics validate` make on the files, with a path to name the line.
    const path = ['errors', 'keyOrderOnRetry'];
    expect(pipelineProblems({ name: 's', input: 'in', errors: hold, sink: { postgres: {} } })).toEqual([{ path, message: expect.stringMatching(/PostgreSQL sink pipeline commits its offsets in the database/) }]);
    expect(pipelineProblems({ name: 'p', input: 'in', errors: hold, commit: { strategy: 'per-message' } })).toEqual([{ path, message: expect.stringMatching(/'per-message'/) }]);
    expect(pipelineProblems({ name: 'p', input: 'in', errors: hold })).toEqual([]);
  });

  it('validates and resolves a given policy', () => {
    const resolved = resolvePipeline(definition({ errors: { onError: 'retry', attempts: 2, backoff: { initialMs: 10 } } }), { commit });
    expect(resolved.errorPolicy).toEqual({ onError: 'retry', attempts: 2, backoff: { ...DEFAULT_BACKOFF, initialMs: 10 }, then: 'dead-letter', keyOrderOnRetry: 'overtake' });
  });

  it('rejects an invalid policy', () => {
    const errors = { onError: 'retry', attempts: 0 } as const;
    expect(() => resolvePipeline(definition({ errors }), { commit })).toThrow(/attempts/);
  });

  it('gives an input one retry topic per attempt of the default policy', () => {
    expect(resolvePipeline(definition(), { commit }).retryTopicsFor('orders')).toEqual(['orders.retry.1', 'orders.retry.2', 'orders.retry.3']);
  });

  it('gives an input as many retry topics as the policy has attempts', () => {
    const resolved = resolvePipeline(definition({ input: ['orders', 'returns'], errors: { onError: 'retry', attempts: 2 } }), { commit });
    expect(resolved.retryTopicsFor('orders')).toEqual(['orders.retry.1', 'orders.retry.2']);
    expect(resolved.retryTopicsFor('returns')).toEqual(['returns.retry.1', 'returns.retry.2']);
  });

  it.each([{ onError: 'dead-letter' }, { onError: 'skip' }, { onError: 'block' }] as const)('gives no retry topics under %j', (errors) => {
    const resolved = resolvePipeline(definition({ errors }), { commit });
    expect(resolved.errorPolicy.onError).toBe(errors.onError);
    expect(resolved.retryTopicsFor('orders')).toEqual([]);
    expect(resolved.sourceOf('orders.retry.1')).toBeUndefined();
    expect(consumedTopicsOf(resolved)).toEqual(['orders']);
    expect(topicsOf(resolved)).toEqual(['orders', 'orders.dlt']);
  });
});

describe('sourceOf', () => {
  const resolved = resolvePipeline(definition({ input: ['orders', 'returns.v2'] }), { commit });

  it('maps an input to itself at tier 0', () => {
    expect(resolved.sourceOf('orders')).toEqual({ input: 'orders', tier: 0 });
    expect(resolved.sourceOf('returns.v2')).toEqual({ input: 'returns.v2', tier: 0 });
  });

  it('maps a retry topic to its input and tier', () => {
    expect(resolved.sourceOf('orders.retry.1')).toEqual({ input: 'orders', tier: 1 });
    expect(resolved.sourceOf('orders.retry.3')).toEqual({ input: 'orders', tier: 3 });
    expect(resolved.sourceOf('returns.v2.retry.2')).toEqual({ input: 'returns.v2', tier: 2 });
  });

  it('knows no other topic', () => {
    expect(resolved.sourceOf('orders.retry.4')).toBeUndefined();
    expect(resolved.sourceOf('orders.dlt')).toBeUndefined();
    expect(resolved.sourceOf('payments')).toBeUndefined();
  });
});

describe('consumedTopicsOf', () => {
  it('lists each input followed by its retry topics', () => {
    const resolved = resolvePipeline(definition({ input: ['orders', 'returns'], output: 'enriched', errors: { onError: 'retry', attempts: 2 } }), {
      commit,
    });
    expect(consumedTopicsOf(resolved)).toEqual(['orders', 'orders.retry.1', 'orders.retry.2', 'returns', 'returns.retry.1', 'returns.retry.2']);
  });

  it('includes the three retry topics of the default policy and no output or dead-letter topic', () => {
    expect(consumedTopicsOf(resolvePipeline(definition({ output: 'enriched' }), { commit }))).toEqual([
      'orders',
      'orders.retry.1',
      'orders.retry.2',
      'orders.retry.3',
    ]);
  });
});

describe('topicsOf', () => {
  it('lists inputs, the output, and the dead-letter and retry topics of each input', () => {
    const resolved = resolvePipeline(definition({ input: ['orders', 'returns'], output: 'enriched' }), { commit });
    expect(topicsOf(resolved)).toEqual([
      'orders',
      'returns',
      'enriched',
      'orders.dlt',
      'orders.retry.1',
      'orders.retry.2',
      'orders.retry.3',
      'returns.dlt',
      'returns.retry.1',
      'returns.retry.2',
      'returns.retry.3',
    ]);
  });

  it('includes every consumed topic', () => {
    const resolved = resolvePipeline(definition({ input: ['a', 'b'], errors: { onError: 'retry', attempts: 5 } }), { commit });
    expect(topicsOf(resolved)).toEqual(expect.arrayContaining(consumedTopicsOf(resolved)));
    expect(topicsOf(resolved)).toHaveLength(2 + 2 * (1 + 5));
  });

  it('leaves out the output when there is none', () => {
    const resolved = resolvePipeline(definition({ errors: { onError: 'dead-letter' } }), { commit });
    expect(topicsOf(resolved)).toEqual(['orders', 'orders.dlt']);
  });

  it('lists a shared dead-letter topic once', () => {
    const resolved = resolvePipeline(definition({ input: ['a', 'b'], deadLetterTopic: 'shared.dlt', errors: { onError: 'retry', attempts: 1 } }), {
      commit,
    });
    expect(topicsOf(resolved)).toEqual(['a', 'b', 'shared.dlt', 'a.retry.1', 'b.retry.1']);
  });

  it('refuses an output that the pipeline also reads (it would loop) or dead-letters to', () => {
    expect(() => resolvePipeline(definition({ input: 'loop', output: 'loop' }), { commit })).toThrow(
      "pipeline 'enrich': output 'loop' is also its input, a retry tier or its dead-letter topic; outputs must be other topics",
    );
    expect(() => resolvePipeline(definition({ input: 'loop', output: 'out', outputs: ['loop.retry.2', 'loop.dlt'] }), { commit })).toThrow(
      "output 'loop.retry.2', 'loop.dlt' is also",
    );
  });
});

describe('handlerTimeoutMs and outputs', () => {
  it('defaults the handler timeout to 10 s, whatever the transaction timeout (no transaction waits for a handler)', () => {
    expect(resolvePipeline(definition(), { commit }).handlerTimeoutMs).toBe(10_000);
    expect(resolvePipeline(definition({ commit: { transactionTimeoutMs: 6000 } }), { commit }).handlerTimeoutMs).toBe(10_000);
    expect(resolvePipeline(definition({ handlerTimeoutMs: 60_000 }), { commit }).handlerTimeoutMs).toBe(60_000);
  });

  it('refuses a handler timeout Node cannot time, naming the accepted range', () => {
    expect(() => resolvePipeline(definition({ handlerTimeoutMs: 0 }), { commit })).toThrow(
      "pipeline 'enrich': handlerTimeoutMs 0 is out of range; accepted: 1..2147483647 ms (Node's timer limit)",
    );
  });

  it('declares output and outputs as the topics a handler may write, and needs them to exist', () => {
    const resolved = resolvePipeline(definition({ output: 'a', outputs: ['b', 'a'] }), { commit });
    expect(resolved.outputs).toEqual(['a', 'b']);
    expect(topicsOf(resolved)).toEqual(expect.arrayContaining(['a', 'b']));
  });
});
