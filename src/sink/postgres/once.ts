import type pg from 'pg';
import { HandlerContractError } from '../../errors/index.js';
import type { InputRecord, OnceFn } from '../../pipeline/records.js';
import { encodeLineage } from '../../pipeline/lineage.js';
import type { ScopedClient } from './scoped-client.js';

/**
 * The once-table: ids of effects done, committed with the partition's offsets. `ctx.once`
 * runs a function at most once per id; retry deliveries are recorded there too, because a
 * retry copy is a Kafka write the database commit cannot include.
 */

/** `ctx.once` for one handler call: the id is claimed in the call's savepoint, undone with it. */
export function onceIn(scope: ScopedClient, table: string, groupId: string): OnceFn {
  return async <T>(id: string, fn: () => T | Promise<T>) => {
    if (typeof id !== 'string' || id === '') throw new HandlerContractError('ctx.once needs a non-empty string id');
    const inserted = await scope.query(`INSERT INTO ${table} (group_id, id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [groupId, id], false);
    if (inserted.rowCount === 0) return { ran: false } as const;
    return { ran: true, value: await fn() } as const;
  };
}

/**
 * Retry copies are acknowledged before the database commit: a crash in between writes the copy
 * again. Each delivery of a retry tier (origin lineage and attempt) is recorded here with the
 * unit, so the second copy of the same delivery is recognised: of `records`, those delivered
 * before. Inputs of the pipeline's own topics need nothing: their offsets commit with the rows.
 */
export async function deliveredBefore(client: pg.PoolClient, table: string, groupId: string, records: readonly InputRecord[]): Promise<ReadonlySet<InputRecord>> {
  const retried = records.filter((record) => record.attempt > 1);
  if (retried.length === 0) return new Set();
  const ids = retried.map((record) => `txstream.retry-copy:${encodeLineage(record)}#${record.attempt}`);
  const { rows } = await client.query<{ id: string }>(`INSERT INTO ${table} (group_id, id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING RETURNING id`, [groupId, ids]);
  const fresh = new Set(rows.map((row) => row.id));
  // Both copies may arrive in one unit: the first occurrence of a fresh id is the delivery, the rest are copies.
  return new Set(retried.filter((_, index) => !fresh.delete(ids[index] as string)));
}
