import type { Admin } from 'kafkajs';
import { type CommittedEntry, committedEntryOf } from './group-progress.js';
import type { TopicPartition } from './topic-partition.js';

export interface StableOffsetReaderOptions {
  /** How long a partition may stay unstable before the read fails. */
  readonly timeoutMs: number;
  /** Pause between reads while a transaction is pending. */
  readonly retryMs?: number;
}

/**
 * Reads a group's committed offsets with require_stable (OffsetFetch v7, KIP-447): while a
 * transaction holding offsets of a partition is pending, the coordinator answers
 * UNSTABLE_OFFSET_COMMIT, and the read waits for it to end, so a new owner never starts from
 * an offset that a pending commit is about to move.
 *
 * The partitions asked for in one turn of the event loop share one request per topic: a
 * generation with hundreds of partitions opens them all at once.
 */
export class StableOffsetReader {
  private readonly waiting = new Map<string, Array<{ partition: number; resolve: (entry: CommittedEntry) => void; reject: (error: unknown) => void }>>();

  constructor(
    private readonly admin: Pick<Admin, 'fetchOffsets'>,
    private readonly groupId: string,
    private readonly options: StableOffsetReaderOptions,
  ) {}

  /** The next offset to read on `partition`, or null when the group has none. */
  async read(partition: TopicPartition): Promise<string | null> {
    return (await this.readEntry(partition)).offset;
  }

  /** The committed offset with the metadata committed with it. */
  readEntry({ topic, partition }: TopicPartition): Promise<CommittedEntry> {
    return new Promise((resolve, reject) => {
      let waiting = this.waiting.get(topic);
      if (!waiting) {
        waiting = [];
        this.waiting.set(topic, waiting);
        // Collect this turn's callers; a read asked for later gets a request of its own,
        // sent after it asked (it may need an offset committed since the last one).
        setImmediate(() => void this.fetchTopic(topic));
      }
      waiting.push({ partition, resolve, reject });
    });
  }

  private async fetchTopic(topic: string): Promise<void> {
    const waiting = this.waiting.get(topic) ?? [];
    this.waiting.delete(topic);
    try {
      const offsets = await this.fetchStable(topic, new Set(waiting.map(({ partition }) => partition)));
      for (const { partition, resolve } of waiting) resolve(committedEntryOf(offsets.get(partition)));
    } catch (error) {
      for (const { reject } of waiting) reject(error);
    }
  }

  /**
   * Reads until none of `partitions` is unstable. Other partitions of the topic may stay
   * unstable all along: this worker's own transaction holds theirs between its offset commit
   * and its end, every commit interval.
   */
  private async fetchStable(topic: string, partitions: ReadonlySet<number>): Promise<Map<number, { offset: string; metadata: string | null }>> {
    const deadline = Date.now() + this.options.timeoutMs;
    const retryMs = this.options.retryMs ?? 50;
    for (;;) {
      const [result] = await this.admin.fetchOffsets({ groupId: this.groupId, topics: [topic], requireStable: true });
      const entries = (result?.partitions ?? []).filter(({ partition }) => partitions.has(partition));
      const unstable = entries.filter((entry) => entry.unstable).map(({ partition }) => partition);
      if (unstable.length === 0) return new Map(entries.map(({ partition, offset, metadata }) => [partition, { offset, metadata }]));
      if (Date.now() >= deadline) {
        throw new Error(
          `group ${this.groupId}: the committed offsets of ${topic} partition(s) ${unstable.join(', ')} stayed unstable for ${this.options.timeoutMs} ms (a transaction holding them did not end)`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, retryMs));
    }
  }
}
