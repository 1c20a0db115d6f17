import type { Logger } from 'pino';
import type { TopicPartition } from '../commit/index.js';
import type { WorkerStats } from '../observability/stats.js';
import type { PartitionTask } from './partition-task.js';

export interface TaskManagerDeps {
  /** `isCurrent` answers false once the member has joined a newer generation than the task's. */
  readonly createTask: (partition: TopicPartition, isCurrent: () => boolean) => PartitionTask;
  readonly resume: (partitions: TopicPartition[]) => void;
  readonly stats: WorkerStats;
  readonly logger: Logger;
  /** How long a fenced partition waits before it may be claimed again (a session timeout). */
  readonly fencedRetryMs: number;
  /** Every partition of the current generation is open (an empty assignment counts at once). */
  readonly onAllOpen?: () => void;
}

const key = ({ topic, partition }: TopicPartition) => `${topic}|${partition}`;

/**
 * Rebalance handling in one place (Kafka Streams' TaskManager). Every group
 * generation gets fresh tasks: the old ones commit and close, the new ones fence
 * and read their committed offsets before any batch is processed.
 */
export class TaskManager {
  private tasks = new Map<string, Promise<PartitionTask | undefined>>();
  private generation = 0;
  private draining = false;
  /** Partitions of the current generation, and those of them whose task is open (producer initialised, offset read stable). */
  private assigned = new Set<string>();
  private readonly opened = new Set<string>();

  constructor(private readonly deps: TaskManagerDeps) {}

  /** The consumer joined a generation with this assignment. */
  onAssignment(assignment: Readonly<Record<string, readonly number[]>>): void {
    // A rejoin that completes while draining must not claim (and fence) partitions again.
    if (this.draining) return;
    const generation = ++this.generation;
    this.deps.stats.rebalances++;
    const previous = [...this.tasks.values()];
    this.tasks = new Map();
    const closed = Promise.allSettled(previous.map(async (task) => (await task)?.close('commit')));
    const assigned = Object.entries(assignment).flatMap(([topic, partitions]) => partitions.map((partition) => ({ topic, partition })));
    this.assigned = new Set(assigned.map(key));
    this.opened.clear();
    this.deps.logger.info({ assignment: assigned.map(key) }, 'partitions assigned');
    for (const partition of assigned) {
      this.tasks.set(
        key(partition),
        closed.then(() => this.openTask(partition, generation)),
      );
    }
    if (assigned.length === 0) this.deps.onAllOpen?.();
    // Partitions paused by an earlier generation (backoff, fencing) start clean.
    if (!this.draining && assigned.length > 0) this.deps.resume(assigned);
  }

  /** Assigned partitions whose task is not open yet (opening, failed to open, or fenced): none when ready. */
  unopened(): string[] {
    return [...this.assigned].filter((partition) => !this.opened.has(partition));
  }

  async taskFor(partition: TopicPartition): Promise<PartitionTask | undefined> {
    // A batch fetched just before the drain paused the consumer is left unprocessed
    // (and uncommitted): opening a task for it now would fence the next owner.
    if (this.draining) return undefined;
    let task = this.tasks.get(key(partition));
    if (!task) {
      task = this.openTask(partition);
      this.tasks.set(key(partition), task);
    }
    return task;
  }

  async flushAll(): Promise<void> {
    await Promise.all([...this.tasks.values()].map(async (task) => (await task)?.flush()));
  }

  async closeAll(mode: 'commit' | 'abort'): Promise<void> {
    this.draining = true;
    const tasks = [...this.tasks.values()];
    this.tasks = new Map();
    await Promise.allSettled(tasks.map(async (task) => (await task)?.close(mode)));
  }

  /**
   * A fenced task gave its partition up. If the group still says it is ours after
   * a session timeout (no new generation came), the fencing came from a timed-out
   * transaction, not a new owner: claim the partition again.
   */
  onFenced(task: PartitionTask): void {
    const generation = this.generation;
    const partition = task.topicPartition;
    this.opened.delete(key(partition));
    setTimeout(() => {
      if (this.draining || generation !== this.generation) return;
      const current = this.tasks.get(key(partition));
      if (!current) return;
      void current.then((opened) => {
        if (opened !== task) return;
        this.deps.logger.info(
          { topic: partition.topic, partition: partition.partition },
          'still assigned after fencing; claiming the partition again',
        );
        this.tasks.set(key(partition), this.openTask(partition));
        this.deps.resume([partition]);
      });
    }, this.deps.fencedRetryMs).unref();
  }

  private async openTask(partition: TopicPartition, generation = this.generation): Promise<PartitionTask | undefined> {
    // From the next generation on, the task's in-flight batch stops and leaves the consumer
    // alone: the partition may be this member's again, under a new task the old one must not move.
    const task = this.deps.createTask(partition, () => generation === this.generation);
    try {
      await task.open();
      if (generation === this.generation) {
        this.opened.add(key(partition));
        if (this.opened.size === this.assigned.size) this.deps.onAllOpen?.();
      }
      return task;
    } catch (error) {
      this.deps.logger.error(
        { err: error, topic: partition.topic, partition: partition.partition },
        'could not open the partition; will retry',
      );
      await task.close('abort').catch(() => {});
      // Forget it so the next batch tries again, after a pause that keeps this from spinning.
      await new Promise((resolve) => setTimeout(resolve, 1000));
      if (this.tasks.get(key(partition)) !== undefined) this.tasks.delete(key(partition));
      return undefined;
    }
  }
}
