/**
 * The one throughput measure of the partitions sweep, for every contender alike (txstream,
 * Kafka Streams, the naive loop): records committed by the input's consumer group, read from the
 * group's committed offsets (OffsetFetch) while it runs. A record counts once its offset is
 * committed, i.e. once its transaction committed (or its at-least-once offset commit landed).
 */
import type { Admin, Kafka } from 'kafkajs';
import { sleep } from './kafka-env.js';

export interface CommitSample {
  /** performance.now() when the offsets were read. */
  readonly at: number;
  /** Sum over the input's partitions of the committed offset (0 where none). */
  readonly committed: number;
  /** CPU ms the measured process had used when the offsets were read (when the caller reads it). */
  readonly cpuMs?: number;
}

export interface CommittedRate {
  readonly records: number;
  readonly seconds: number;
  readonly recordsPerSecond: number;
  /** CPU ms the measured process used over the same window (when sampled): its cost per record is cpuMs / records. */
  readonly cpuMs?: number;
}

/**
 * The rate from the first sample at least `warmupMs` after the first commit to the last sample:
 * group joins, start-up and a cold JIT (a fresh JVM, a fresh V8) do not count, for every contender
 * alike. When the backlog ran out within the warm-up, the rate is from the first commit instead.
 */
export function rateFromSamples(samples: readonly CommitSample[], warmupMs = 0): CommittedRate {
  const firstIndex = samples.findIndex((sample) => sample.committed > 0);
  const firstCommit = samples[firstIndex];
  const last = samples[samples.length - 1];
  if (firstIndex < 0 || !firstCommit || !last || last.at <= firstCommit.at) return { records: 0, seconds: 0, recordsPerSecond: 0 };
  const warm = samples.find((sample, index) => index >= firstIndex && sample.at >= firstCommit.at + warmupMs);
  const first = warm && warm.at < last.at ? warm : firstCommit;
  const records = last.committed - first.committed;
  const seconds = (last.at - first.at) / 1000;
  const cpuMs = first.cpuMs !== undefined && last.cpuMs !== undefined ? last.cpuMs - first.cpuMs : undefined;
  return { records, seconds: Math.round(seconds * 100) / 100, recordsPerSecond: Math.round(records / seconds), ...(cpuMs !== undefined ? { cpuMs } : {}) };
}

export async function committedTotal(admin: Admin, groupId: string, topic: string): Promise<number> {
  const [offsets] = await admin.fetchOffsets({ groupId, topics: [topic] });
  return (offsets?.partitions ?? []).reduce((sum, { offset }) => sum + Math.max(0, Number(offset)), 0);
}

/**
 * Polls the group's committed offsets until `target` records are committed or `warmupMs` + `capMs`
 * passed since the first commit (or `joinTimeoutMs` passed with none). `during` runs after every poll
 * (sampling the process, for instance).
 */
export async function measureCommittedRate(
  kafka: Kafka,
  options: {
    groupId: string;
    topic: string;
    target: number;
    capMs: number;
    warmupMs?: number;
    joinTimeoutMs?: number;
    pollMs?: number;
    during?: () => void;
    /** Records the group has committed, when its committed offsets alone do not say (default: their sum, committedTotal). */
    count?: (admin: Admin, groupId: string, topic: string) => Promise<number>;
    /** The measured process's CPU ms so far, read with each sample, so the window's CPU is the window's alone. */
    cpuMs?: () => number | undefined;
  },
): Promise<CommittedRate & { samples: number }> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const samples: CommitSample[] = [];
    const joinDeadline = performance.now() + (options.joinTimeoutMs ?? 120_000);
    let firstAt: number | undefined;
    for (;;) {
      let committed: number;
      try {
        committed = await (options.count ?? committedTotal)(admin, options.groupId, options.topic);
      } catch (error) {
        // While a new group's coordinator loads, OffsetFetch answers NOT_COORDINATOR and the like:
        // skip the sample; the window only starts at the first commit anyway.
        if (!(error as { retriable?: boolean }).retriable || performance.now() > joinDeadline) throw error;
        await sleep(options.pollMs ?? 100);
        continue;
      }
      const at = performance.now();
      const cpuMs = options.cpuMs?.();
      samples.push({ at, committed, ...(cpuMs !== undefined ? { cpuMs } : {}) });
      options.during?.();
      if (firstAt === undefined && committed > 0) firstAt = at;
      if (firstAt !== undefined && (committed >= options.target || at - firstAt >= (options.warmupMs ?? 0) + options.capMs)) break;
      if (firstAt === undefined && at > joinDeadline) break;
      await sleep(options.pollMs ?? 100);
    }
    return { ...rateFromSamples(samples, options.warmupMs), samples: samples.length };
  } finally {
    await admin.disconnect();
  }
}
