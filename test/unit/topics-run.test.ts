import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/errors/index.js';
import { BUILTIN_SERDES } from '../../src/serde/index.js';
import { loadTopicsRun } from '../../src/topics/run.js';

/** `txstream run` over a topics folder: settings from the files under env and flags, every pipeline or the named ones. */

const dir = mkdtempSync(join(tmpdir(), 'txstream-topics-run-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
writeFileSync(join(dir, 'pass.mjs'), 'export const pass = (record) => ({ value: record.value });\n');
writeFileSync(
  join(dir, 'worker.yaml'),
  `clientId: shop
groupId: shop
commit: { strategy: batch, batchSize: 50 }
pipelines:
  - name: a
    input: in
    output: out
    handler: { module: ./pass.mjs, export: pass }
    serde: { input: string }
  - name: b
    input: in
    handler: { module: ./pass.mjs, export: pass }
    errors: { onError: dead-letter }
`,
);
writeFileSync(join(dir, 'topics.yaml'), 'topics:\n  - { name: in, partitions: 2 }\n  - { name: out, partitions: 2 }\n');

describe('loadTopicsRun', () => {
  it('runs every pipeline of the folder, with the worker settings the files carry', async () => {
    const run = await loadTopicsRun({ dir, flags: { brokers: '127.0.0.1:9092' }, env: {} });
    expect(run.pipelines.map((p) => p.name)).toEqual(['a', 'b']);
    expect(run.settings).toMatchObject({ clientId: 'shop', groupId: 'shop', commit: { strategy: 'batch', batchSize: 50, lingerMs: 50 } });
    expect(run.pipelines[0]?.serde?.input).toBe(BUILTIN_SERDES.string);
    expect(run.pipelines[0]?.serde?.output).toBe(BUILTIN_SERDES.json);
    expect(run.pipelines[1]?.errors).toEqual({ onError: 'dead-letter' });
  });

  it('lets env and flags win over the files, and --pipeline pick some', async () => {
    const run = await loadTopicsRun({
      dir,
      flags: { brokers: '127.0.0.1:9092', 'group-id': 'from-flag', pipeline: 'b' },
      env: { TXSTREAM_BATCH_SIZE: '7' },
    });
    expect(run.pipelines.map((p) => p.name)).toEqual(['b']);
    expect(run.settings).toMatchObject({ clientId: 'shop', groupId: 'from-flag', commit: { strategy: 'batch', batchSize: 7 } });
  });

  it('names unknown pipelines and where the defined ones are', async () => {
    await expect(loadTopicsRun({ dir, flags: { brokers: '127.0.0.1:9092', pipeline: 'c' }, env: {} })).rejects.toThrow(ConfigError);
    await expect(loadTopicsRun({ dir, flags: { brokers: '127.0.0.1:9092', pipeline: 'c' }, env: {} })).rejects.toThrow(
      /--pipeline names unknown pipelines: c \(defined in .*topics\.yaml, .*worker\.yaml: a, b\)/,
    );
  });

  it('needs a schema registry for registry serdes, and says where to set it', async () => {
    const other = mkdtempSync(join(tmpdir(), 'txstream-topics-run-'));
    try {
      writeFileSync(join(other, 'pass.mjs'), 'export default (record) => ({ value: record.value });\n');
      writeFileSync(
        join(other, 'all.yaml'),
        'topics: [{ name: in, partitions: 1 }]\npipelines:\n  - { name: a, input: in, handler: { module: ./pass.mjs }, serde: { input: avro } }\n',
      );
      await expect(loadTopicsRun({ dir: other, flags: { brokers: '127.0.0.1:9092' }, env: {} })).rejects.toThrow(
        /pipeline 'a' serde\.input \(.*all\.yaml\): avro needs a schema registry: set schemaRegistry\.url in a topics file or SCHEMA_REGISTRY_URL/,
      );
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });
});
