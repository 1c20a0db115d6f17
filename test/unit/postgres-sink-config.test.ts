import { describe, expect, it } from 'vitest';
import { DEFAULT_SETTINGS } from '../../src/config/schema.js';
import { ConfigError } from '../../src/errors/index.js';
import { resolvePipeline } from '../../src/pipeline/definition.js';
import { defineHandler } from '../../src/pipeline/records.js';
import { redactUrl, resolvePostgresSink, withPostgresUrl } from '../../src/config/postgres-sink.js';

const handler = defineHandler({ handle: () => undefined });

describe('PostgreSQL sink settings', () => {
  it('fills in the defaults and never shows the password', () => {
    const sink = resolvePostgresSink('p', { url: 'postgres://app:s3cret@db:5432/shop' });
    expect(sink).toMatchObject({ poolSize: 10, offsetsTable: 'txstream_offsets', onceTable: 'txstream_once', where: 'postgres://app:***@db:5432/shop' });
    expect(redactUrl('postgresql://u:p@h/d')).toBe('postgresql://u:***@h/d');
  });

  it('names the pipeline and what is wrong: no connection, two connections, a table name that is not an identifier, an unreadable password file', () => {
    expect(() => resolvePostgresSink('orders', {})).toThrow(/pipeline 'orders' sink\.postgres: .*needs a connection: url .* or host/);
    expect(() => resolvePostgresSink('orders', { url: 'postgres://db/x', host: 'db' })).toThrow(/give url or host\/port\/database\/user, not both/);
    expect(() => resolvePostgresSink('orders', { url: 'mysql://db/x' })).toThrow(/url: a PostgreSQL URL starts with postgres:\/\//);
    expect(() => resolvePostgresSink('orders', { url: 'postgres://db/x', offsetsTable: 'offsets; DROP TABLE x' })).toThrow(/offsetsTable: a table name/);
    expect(() => resolvePostgresSink('orders', { url: 'postgres://db/x', passwordFile: '/no/such/file' })).toThrow(/passwordFile \/no\/such\/file cannot be read/);
  });

  it('refuses Kafka outputs in a sink pipeline, and bounds its handler timeout by the database transaction timeout', () => {
    const commit = { ...DEFAULT_SETTINGS.commit, transactionTimeoutMs: 30_000 };
    const sink = { postgres: { url: 'postgres://db/x' } };
    expect(() => resolvePipeline({ name: 'p', input: 'in', output: 'out', handler, sink }, { commit })).toThrow(ConfigError);
    expect(() => resolvePipeline({ name: 'p', input: 'in', output: 'out', handler, sink }, { commit })).toThrow(/PostgreSQL sink and Kafka outputs \(out\)/);
    expect(resolvePipeline({ name: 'p', input: 'in', handler, sink }, { commit }).handlerTimeoutMs).toBe(10_000);
    expect(() => resolvePipeline({ name: 'p', input: 'in', handler, sink, handlerTimeoutMs: 20_000 }, { commit })).toThrow(/accepted: 1\.\.10000 ms/);
  });

  it('--postgres-url replaces the connection of sink pipelines only, keeping their other settings', () => {
    const pipelines = withPostgresUrl(
      [
        { name: 'a', sink: { postgres: { host: 'old', port: 1, database: 'd', user: 'u', poolSize: 3 } } },
        { name: 'b' },
      ],
      'postgres://new/db',
    );
    expect(pipelines[0]?.sink).toEqual({ postgres: { url: 'postgres://new/db', poolSize: 3 } });
    expect(pipelines[1]).toEqual({ name: 'b' });
  });
});
