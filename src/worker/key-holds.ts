import { crc32c } from '@node-rs/crc32';

/**
 * `keyOrderOnRetry: hold`: the keys of one partition whose records are sent after an earlier
 * record of theirs waiting in the next retry tier, and the offset metadata that carries them
 * with the partition's committed offset. Pure: the partition task decides when to read, write
 * and release (retry-holds.ts).
 *
 * A partition of the input holds toward retry tier 1, a partition of tier n toward tier n+1:
 * a hold names only the partition of that tier its key maps to. The table travels in the offset
 * commit's metadata, in the same transaction as the copies it describes, so a new owner starts
 * with exactly the holds its committed offset implies.
 */

/** Metadata prefix and version: a committed offset whose metadata does not start with it holds nothing. */
export const HOLDS_METADATA_PREFIX = 'txstream-holds/1:';

/**
 * Most keys one partition holds at once. Each takes at most 35 characters of the offset
 * metadata, which brokers cap at 4,096 bytes by default (offset.metadata.max.bytes).
 */
export const HELD_KEYS_PER_PARTITION = 100;

export interface Hold {
  readonly keyHash: string;
  /** The partition of the next retry tier the key's records go to. */
  readonly partition: number;
  /** The input offset of the record that began the hold here (-1: restored from a commit). */
  readonly from: bigint;
  /** The offset of the last record of the key sent to the tier. */
  last: bigint;
  /**
   * The tier partition's end, read once `last` was committed: every record this partition sent
   * there is below it. The hold ends when the tier has committed past it without holding the key.
   */
  through?: bigint;
  /** Changes whenever `last` does: a check that read the tier before the change is void. */
  version: number;
}

/** The key's identity in holds: a hash keeps the metadata small; two keys sharing one only hold each other too long. */
export function keyHashOf(key: Buffer): string {
  return crc32c(key).toString(16).padStart(8, '0');
}

export class KeyHolds {
  private readonly holds = new Map<string, Hold>();
  /** Bumped by every restore: decisions made for work that was rolled back are ignored. */
  private generation = 0;

  constructor(readonly capacity = HELD_KEYS_PER_PARTITION) {}

  get size(): number {
    return this.holds.size;
  }

  get epoch(): number {
    return this.generation;
  }

  /** The hold a record with this key must go behind, if any. Records without a key are never held. */
  heldFor(key: Buffer | null | undefined): Hold | undefined {
    return key ? this.holds.get(keyHashOf(key)) : undefined;
  }

  /**
   * A record of `key` at `offset` was sent to the tier (a failure, or a record behind one):
   * later records of the key follow it. False when the table is full and the key not in it
   * (the caller then keeps the record, as under `block`); a decision of an older epoch is ignored.
   */
  hold(key: Buffer, partition: number, offset: bigint, epoch = this.generation): boolean {
    if (epoch !== this.generation) return true;
    const keyHash = keyHashOf(key);
    const held = this.holds.get(keyHash);
    if (held) {
      if (offset > held.last) held.last = offset;
      held.through = undefined;
      held.version++;
      return true;
    }
    if (this.holds.size >= this.capacity) return false;
    this.holds.set(keyHash, { keyHash, partition, from: offset, last: offset, version: 0 });
    return true;
  }

  /** Holds whose records are all committed and whose tier end is not read yet. */
  toCapture(committedNext: bigint): Hold[] {
    return [...this.holds.values()].filter((hold) => hold.through === undefined && hold.last < committedNext);
  }

  /** Holds waiting for their tier to pass their end. */
  toCheck(): Hold[] {
    return [...this.holds.values()].filter((hold) => hold.through !== undefined);
  }

  /** Ends a hold, unless a record was sent behind it since `version` was read. */
  release(hold: Hold, version: number): boolean {
    if (hold.version !== version || this.holds.get(hold.keyHash) !== hold) return false;
    this.holds.delete(hold.keyHash);
    return true;
  }

  /** The metadata to commit with `nextOffset`: the holds begun below it (later ones belong to units not yet in the commit). */
  metadataBefore(nextOffset: bigint): string {
    const entries = [...this.holds.values()].filter((hold) => hold.from < nextOffset).map((hold) => `${hold.keyHash}.${hold.partition}.${hold.last}`);
    return entries.length === 0 ? '' : `${HOLDS_METADATA_PREFIX}${entries.join(',')}`;
  }

  /** Back to what a committed offset's metadata says (after a rollback, or when the partition is assigned). */
  restore(metadata: string | null | undefined): void {
    this.generation++;
    this.holds.clear();
    for (const { keyHash, partition, last } of decodeHolds(metadata)) {
      this.holds.set(keyHash, { keyHash, partition, from: -1n, last, version: 0 });
    }
  }
}

const ENTRY = /^([0-9a-f]{8})\.(\d{1,9})\.(\d{1,19})$/;

/** The holds a committed offset's metadata carries (none when it is not ours, or malformed: a hold cannot be guessed). */
export function decodeHolds(metadata: string | null | undefined): Array<{ keyHash: string; partition: number; last: bigint }> {
  if (!metadata?.startsWith(HOLDS_METADATA_PREFIX)) return [];
  const holds: Array<{ keyHash: string; partition: number; last: bigint }> = [];
  for (const entry of metadata.slice(HOLDS_METADATA_PREFIX.length).split(',')) {
    const match = ENTRY.exec(entry);
    if (match) holds.push({ keyHash: match[1] as string, partition: Number(match[2]), last: BigInt(match[3] as string) });
  }
  return holds;
}

/** The key hashes a committed offset's metadata holds. */
export function heldKeyHashes(metadata: string | null | undefined): ReadonlySet<string> {
  return new Set(decodeHolds(metadata).map((hold) => hold.keyHash));
}
