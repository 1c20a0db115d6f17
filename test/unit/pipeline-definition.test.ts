import { describe, expect, it } from 'vitest';
import type { CommitSettings } from '../../src/config/schema.js';
import { definePipeline, type PipelineDefinition, resolvePipeline, topicsOf } from '../../src/pipeline/definition.js';
import { defineHandler } from '../../src/pipeline/records.js';
import { bytesSerde, jsonSerde, type Serde, stringSerde } from '../../src/serde/index.js';

const commit: CommitSettings = {
  strategy: 'transactional',
  batchSize: 500,
  lingerMs: 50,
  commitIntervalMs: 100,
  transactionTimeoutMs: 30_000,
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

  // BUG (minor, src/pipeline/definition.ts): `{ ...defaults.commit, ...definition.commit }` lets a key
  // present with the value undefined (allowed by Partial<CommitSettings>, e.g. `batchSize: opts.batchSize`)
  // wipe the worker default, so the resolved CommitSettings holds undefined. Remove `.fails` once fixed.
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

describe('topicsOf', () => {
  it('lists inputs, the output and the dead-letter topics', () => {
    const resolved = resolvePipeline(definition({ input: ['orders', 'returns'], output: 'enriched' }), { commit });
    expect(topicsOf(resolved)).toEqual(['orders', 'returns', 'enriched', 'orders.dlt', 'returns.dlt']);
  });

  it('leaves out the output when there is none', () => {
    expect(topicsOf(resolvePipeline(definition(), { commit }))).toEqual(['orders', 'orders.dlt']);
  });

  it('lists a shared dead-letter topic once', () => {
    const resolved = resolvePipeline(definition({ input: ['a', 'b'], deadLetterTopic: 'shared.dlt' }), { commit });
    expect(topicsOf(resolved)).toEqual(['a', 'b', 'shared.dlt']);
  });

  it('lists a topic used as both input and output once', () => {
    const resolved = resolvePipeline(definition({ input: 'loop', output: 'loop' }), { commit });
    expect(topicsOf(resolved)).toEqual(['loop', 'loop.dlt']);
  });
});
