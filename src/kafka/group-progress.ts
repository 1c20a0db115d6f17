import type { Admin } from 'kafkajs';

/** A partition's committed offset in the group (null: none) and the metadata committed with it. */
export interface CommittedEntry {
  readonly offset: string | null;
  readonly metadata: string | null;
}

/** An OffsetFetch answer for one partition as an entry: '-1' means nothing committed. */
export function committedEntryOf(answer: { readonly offset: string; readonly metadata?: string | null } | undefined): CommittedEntry {
  return answer === undefined || answer.offset === '-1' ? { offset: null, metadata: null } : { offset: answer.offset, metadata: answer.metadata ?? null };
}

/**
 * How far a group has come on other partitions than the caller's own: committed offsets with
 * their metadata, and end offsets. Reads are shared for `maxAgeMs` per topic: every partition
 * of a worker asks about the same few topics every second, and one request answers them all.
 * Not read stable: a transaction pending on a partition only makes its answer older.
 */
export class GroupProgress {
  private readonly committedByTopic = new Map<string, { readonly at: number; readonly value: Promise<Map<number, CommittedEntry>> }>();
  private readonly endsByTopic = new Map<string, { readonly at: number; readonly value: Promise<Map<number, string>> }>();

  constructor(
    private readonly admin: Pick<Admin, 'fetchOffsets' | 'fetchTopicOffsets'>,
    private readonly groupId: string,
    private readonly maxAgeMs: number,
  ) {}

  async committed(topic: string, partition: number): Promise<CommittedEntry> {
    // An older reading is only more cautious: committed offsets only grow, and each comes with its own metadata.
    const entries = await this.fresh(this.committedByTopic, topic, 0, async () => {
      const [result] = await this.admin.fetchOffsets({ groupId: this.groupId, topics: [topic] });
      return new Map((result?.partitions ?? []).map((answer) => [answer.partition, committedEntryOf(answer)]));
    });
    return entries.get(partition) ?? committedEntryOf(undefined);
  }

  /**
   * The partition's high watermark, read at or after `readAfter` (epoch ms): past every record a
   * transaction committed there before then. An older shared reading would not be.
   */
  async end(topic: string, partition: number, readAfter: number): Promise<string> {
    const ends = await this.fresh(this.endsByTopic, topic, readAfter, async () => {
      const offsets = await this.admin.fetchTopicOffsets(topic);
      return new Map(offsets.map(({ partition: number, high }) => [number, high]));
    });
    const end = ends.get(partition);
    if (end === undefined) throw new Error(`${topic} has no partition ${partition}`);
    return end;
  }

  private fresh<T>(cache: Map<string, { readonly at: number; readonly value: Promise<T> }>, topic: string, readAfter: number, read: () => Promise<T>): Promise<T> {
    const cached = cache.get(topic);
    if (cached && cached.at >= readAfter && Date.now() - cached.at < this.maxAgeMs) return cached.value;
    const value = read();
    cache.set(topic, { at: Date.now(), value });
    // A failed read is not kept: the next caller asks again.
    value.catch(() => {
      if (cache.get(topic)?.value === value) cache.delete(topic);
    });
    return value;
  }
}
