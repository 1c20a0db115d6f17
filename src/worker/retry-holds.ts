import type { Logger } from 'pino';
import type { GroupProgress } from '../kafka/group-progress.js';
import { partitionOfKey } from '../kafka/key-partition.js';
import type { TopicCatalog } from '../kafka/topic-catalog.js';
import type { ResolvedPipeline } from '../pipeline/definition.js';
import { retryTopicOf } from '../pipeline/topic-names.js';
import { heldKeyHashes, type Hold, KeyHolds } from './key-holds.js';

/** Where a held key's record goes: the next retry tier, in the partition its key maps to there. */
export interface HoldTarget {
  readonly topic: string;
  readonly partition: number;
}

export interface RetryHoldsDeps {
  readonly pipeline: ResolvedPipeline;
  /** The pipeline input the partition belongs to, and its retry tier (0: the input itself). */
  readonly input: string;
  readonly tier: number;
  readonly catalog: TopicCatalog;
  readonly progress: GroupProgress;
  readonly logger: Logger;
  /** How often held keys are checked for their tier having resolved them. */
  readonly checkIntervalMs: number;
}

/**
 * `keyOrderOnRetry: hold` for one partition: while a record of a key waits in the next retry
 * tier, the key's later records are sent there after it (never handled here first), so they
 * reach the handler in offset order once it resolves.
 *
 * A hold ends once the tier has taken in everything sent behind it and holds the key no more
 * itself: its committed offset has passed the tier's end as read after this partition's last
 * copy of the key committed, and the metadata committed with that offset does not name the
 * key. The tier in turn holds the key while its record waits in the tier after it, so a hold
 * here lasts until the record resolves at whatever tier: it succeeds, is dead-lettered or skipped.
 */
export class RetryHolds {
  readonly holds = new KeyHolds();
  /** The tier this partition's holds point to. */
  readonly target: string;
  private committedNext = -1n;
  private timer: NodeJS.Timeout | undefined;
  private checking = false;
  /** When the last commit of this partition was heard of: a tier's end is read after it. */
  private committedAt = 0;

  constructor(private readonly deps: RetryHoldsDeps) {
    this.target = retryTopicOf(deps.input, deps.tier + 1);
  }

  /** Whether records failing on tier `tier` of this pipeline go to a next tier, where a key is held. */
  static appliesTo(pipeline: ResolvedPipeline, tier: number): boolean {
    const policy = pipeline.errorPolicy;
    return policy.onError === 'retry' && policy.keyOrderOnRetry === 'hold' && tier < policy.attempts;
  }

  /** Where the key's records go while it is held. The tier's partition count is known: its topic is one the task writes. */
  targetFor(key: Buffer): HoldTarget {
    const partitions = this.deps.catalog.get(this.target)?.partitions;
    if (partitions === undefined) throw new Error(`retry topic ${this.target} is not known; it must exist before its pipeline runs`);
    return { topic: this.target, partition: partitionOfKey(this.target, key, partitions) };
  }

  /** Bumped by every restore: a unit handled before it makes no decisions after it. */
  get epoch(): number {
    return this.holds.epoch;
  }

  /**
   * A record of `key` at `offset` in its key's turn: when the key is held, the record is recorded as
   * sent behind the hold, and the tier partition it goes to is returned; undefined when it is not.
   */
  sendBehind(key: Buffer, offset: string, epoch: number): HoldTarget | undefined {
    const held = this.holds.heldFor(key);
    if (!held) return undefined;
    this.holds.hold(key, held.partition, BigInt(offset), epoch);
    return { topic: this.target, partition: held.partition };
  }

  /** A record of `key` at `offset` goes to the next tier: its key is held there. False when no more keys can be held. */
  holdFor(key: Buffer, offset: string, epoch: number): boolean {
    return this.holds.hold(key, this.targetFor(key).partition, BigInt(offset), epoch);
  }

  /** Starts from what the committed offset's metadata says. */
  restore(committedOffset: string | null, metadata: string | null): void {
    this.holds.restore(metadata);
    this.committedNext = committedOffset === null ? -1n : BigInt(committedOffset);
    this.committedAt = 0;
    if (this.holds.size > 0) this.deps.logger.info({ heldKeys: this.holds.size, tier: this.target, committedOffset }, 'keys held behind their retries, as the committed offset says');
  }

  committed(nextOffset: string): void {
    this.committedNext = BigInt(nextOffset);
    this.committedAt = Date.now();
  }

  /**
   * Checks the holds every checkIntervalMs until stopped; `onReleased` runs when some ended (the
   * partition then commits its holds again, without new work, so that an earlier tier waiting on
   * it sees them end too). A failed check is tried again at the next interval.
   */
  start(onReleased: () => void): void {
    this.stop();
    this.timer = setInterval(() => {
      if (this.checking || this.holds.size === 0) return;
      this.checking = true;
      this.check()
        .then((released) => released > 0 && onReleased())
        .catch((error: unknown) => this.deps.logger.debug({ err: error, tier: this.target }, 'checking held keys failed; checking again'))
        .finally(() => (this.checking = false));
    }, this.deps.checkIntervalMs);
    this.timer.unref();
  }

  stop(): void {
    clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The metadata to commit with a unit ending at `nextOffset`. */
  metadataBefore(nextOffset: string): string {
    return this.holds.metadataBefore(BigInt(nextOffset));
  }

  /**
   * Reads how far the tier has come and ends the holds it has resolved; returns how many ended.
   * Runs beside the partition's handling: a hold that had a record sent behind it since the
   * tier was read does not end (its version moved), and one replaced by a rollback is not ours.
   */
  async check(): Promise<number> {
    const { progress } = this.deps;
    const readAfter = this.committedAt;
    for (const hold of this.holds.toCapture(this.committedNext)) {
      const version = hold.version;
      const end = BigInt(await progress.end(this.target, hold.partition, readAfter));
      if (hold.version === version) hold.through = end;
    }
    let released = 0;
    for (const hold of this.holds.toCheck()) {
      if (await this.resolved(hold)) released++;
    }
    if (released > 0) this.deps.logger.debug({ released, held: this.holds.size, tier: this.target }, 'keys no longer held behind their retries');
    return released;
  }

  private async resolved(hold: Hold): Promise<boolean> {
    const { version, through } = hold;
    if (through === undefined) return false;
    const tier = await this.deps.progress.committed(this.target, hold.partition);
    if (tier.offset === null || BigInt(tier.offset) < through) return false;
    if (heldKeyHashes(tier.metadata).has(hold.keyHash)) return false;
    return this.holds.release(hold, version);
  }
}
