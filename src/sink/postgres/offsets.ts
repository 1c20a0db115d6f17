import type pg from 'pg';
import type { TopicPartition } from '../../commit/index.js';

/**
 * The offsets table, the sink's truth of where each input partition starts, and its fencing:
 * each row carries an owner epoch. Taking a partition bumps it; a commit updates the row only
 * where the epoch is still the one it took, under the row's lock, so a zombie's commit finds
 * no row, rolls back and gives the partition up.
 */

export interface PartitionRow {
  readonly table: string;
  readonly groupId: string;
  readonly partition: TopicPartition;
}

/**
 * Takes the partition: bumps its owner epoch (a row lock serialises this with any commit in
 * flight), and reads where it starts, in one autocommitted statement.
 */
export async function takePartition(pool: pg.Pool, row: PartitionRow): Promise<{ epoch: string; nextOffset: string | null }> {
  const { rows } = await pool.query<{ owner_epoch: string; next_offset: string | null }>(
    `INSERT INTO ${row.table} AS o (group_id, topic, partition, next_offset, owner_epoch)
     VALUES ($1, $2, $3, NULL, 1)
     ON CONFLICT (group_id, topic, partition) DO UPDATE SET owner_epoch = o.owner_epoch + 1, updated_at = now()
     RETURNING owner_epoch::text, next_offset::text`,
    [row.groupId, row.partition.topic, row.partition.partition],
  );
  const taken = rows[0];
  if (!taken) throw new Error(`opening ${row.partition.topic}[${row.partition.partition}] of group ${row.groupId}: the offsets table returned no row`);
  return { epoch: taken.owner_epoch, nextOffset: taken.next_offset };
}

/** Moves the partition's offset inside the open transaction; false when another owner took the partition since `epoch`. */
export async function advanceIfOwner(client: pg.PoolClient, row: PartitionRow, epoch: string | undefined, nextOffset: string): Promise<boolean> {
  const updated = await client.query(
    `UPDATE ${row.table} SET next_offset = $1, updated_at = now()
     WHERE group_id = $2 AND topic = $3 AND partition = $4 AND owner_epoch = $5`,
    [nextOffset, row.groupId, row.partition.topic, row.partition.partition, epoch],
  );
  return updated.rowCount === 1;
}
