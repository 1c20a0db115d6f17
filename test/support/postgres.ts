import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { expect } from 'vitest';
import { committedOffsets, endOffsets } from './kafka.js';
import { dockerAnswers } from './docker.js';
import { waitFor } from './wait.js';
import { findFreePort } from '../../src/local-server/supervisor.js';
import { LocalPostgres } from '../../src/local-postgres/postgres.js';

const REPO = resolve(import.meta.dirname, '../..');

/** What the tests do with a server: connect, stop it under the worker, start it again, remove it. */
export interface PostgresServer {
  readonly url: string;
  stop(options?: { wipe?: boolean; mode?: 'fast' | 'immediate' }): Promise<unknown>;
  restart(): Promise<void>;
}

/**
 * A PostgreSQL of the test file's own: a testcontainer when a Docker engine answers, else a
 * server from Debian's package on a free port, in `.postgres/test-…` of the project (never
 * the machine's server on 5432). stop() removes it.
 */
export async function startTestPostgres(label: string): Promise<TestPostgres> {
  if (dockerAnswers()) {
    const { startPostgresContainer } = await import('./postgres-container.js');
    return new TestPostgres(await startPostgresContainer());
  }
  const name = `test-${label}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
  const dir = join(REPO, '.postgres', name);
  mkdirSync(dir, { recursive: true });
  const { postgres } = await LocalPostgres.start({ name, dir, port: await findFreePort() });
  return new TestPostgres(postgres);
}

export class TestPostgres {
  readonly pool: pg.Pool;

  constructor(readonly server: PostgresServer) {
    this.pool = new pg.Pool({ connectionString: server.url, max: 4 });
    // The restart test stops the server under the pool's idle connections.
    this.pool.on('error', () => {});
  }

  get url(): string {
    return this.server.url;
  }

  async query<R extends pg.QueryResultRow = Record<string, unknown>>(sql: string, values?: unknown[]): Promise<R[]> {
    return (await this.pool.query<R>(sql, values)).rows;
  }

  async count(sql: string, values?: unknown[]): Promise<number> {
    const [row] = await this.query<{ count: string }>(sql, values);
    return Number(row?.count ?? 0);
  }

  /** The sink's next offsets of a group, summed over the topic's partitions (0 when none). */
  async offsetsTotal(groupId: string, topic: string, table = 'txstream_offsets'): Promise<number> {
    try {
      const [row] = await this.query<{ total: string | null }>(`SELECT sum(next_offset)::text AS total FROM ${table} WHERE group_id = $1 AND topic = $2`, [groupId, topic]);
      return Number(row?.total ?? 0);
    } catch {
      return 0; // the table does not exist yet, or the server is restarting
    }
  }

  /** The offsets table sits at the topic's end offsets, partition by partition, and Kafka's committed offsets come to agree with it. */
  async expectOffsetsAgree(brokers: string[], groupId: string, input: string): Promise<void> {
    const ends = await endOffsets(brokers, input);
    const rows = await this.query<{ partition: number; next_offset: string }>(`SELECT partition, next_offset::text FROM txstream_offsets WHERE group_id = $1 AND topic = $2`, [groupId, input]);
    const fromDb = new Map(rows.map((row) => [row.partition, row.next_offset]));
    for (const [partition, end] of ends) expect(fromDb.get(partition)).toBe(end);
    await waitFor(
      async () => {
        const kafka = await committedOffsets(brokers, groupId, input);
        return [...ends.keys()].every((partition) => kafka.get(partition) === fromDb.get(partition));
      },
      'Kafka committed offsets to agree with the offsets table',
      30_000,
      500,
    );
  }

  async stop(): Promise<void> {
    await this.pool.end().catch(() => {});
    await this.server.stop({ wipe: true, mode: 'immediate' });
  }
}
