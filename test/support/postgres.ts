import { mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import pg from 'pg';
import { findFreePort } from '../../src/local-jvm/java-process.js';
import { LocalPostgres } from '../../src/local-postgres/postgres.js';

const REPO = resolve(import.meta.dirname, '../..');

/**
 * A PostgreSQL of the test file's own, from Debian's package, on a free port, in
 * `.postgres/test-…` of the project (never the machine's server on 5432); stop() wipes it.
 */
export async function startTestPostgres(label: string): Promise<TestPostgres> {
  const name = `test-${label}-${process.pid}-${Math.random().toString(36).slice(2, 6)}`;
  const dir = join(REPO, '.postgres', name);
  mkdirSync(dir, { recursive: true });
  const { postgres } = await LocalPostgres.start({ name, dir, port: await findFreePort() });
  return new TestPostgres(postgres);
}

export class TestPostgres {
  readonly pool: pg.Pool;

  constructor(readonly server: LocalPostgres) {
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

  async stop(): Promise<void> {
    await this.pool.end().catch(() => {});
    await this.server.stop({ wipe: true, mode: 'immediate' });
  }
}
