import pg from 'pg';

/** Quotes `table` or `schema.table` (already checked against the identifier pattern). */
export function quoteTable(name: string): string {
  return name
    .split('.')
    .map((part) => pg.escapeIdentifier(part))
    .join('.');
}

/**
 * Creates the offsets table (one row per input partition: its next offset and owner epoch)
 * and the once-table (ids done, for `ctx.once` and retry deliveries) when missing.
 */
export async function createTables(pool: pg.Pool, tables: { readonly offsets: string; readonly once: string }): Promise<void> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    // Workers start together: CREATE TABLE IF NOT EXISTS races on the catalog without a lock.
    await client.query(`SELECT pg_advisory_xact_lock(hashtext('txstream.sink.schema'))`);
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${tables.offsets} (
         group_id text NOT NULL,
         topic text NOT NULL,
         partition integer NOT NULL,
         next_offset bigint,
         owner_epoch bigint NOT NULL,
         updated_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (group_id, topic, partition))`,
    );
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${tables.once} (
         group_id text NOT NULL,
         id text NOT NULL,
         done_at timestamptz NOT NULL DEFAULT now(),
         PRIMARY KEY (group_id, id))`,
    );
    await client.query('COMMIT');
    client.release();
  } catch (error) {
    client.release(true);
    throw error;
  }
}
