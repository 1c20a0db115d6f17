import type { Producer, Transaction } from 'kafkajs';
import { GenerationFencedError, ProducerFencedError, TransactionRolledBackError } from '../errors/index.js';
import { abortCause, isFencingError, isGenerationError } from '../kafka/errors.js';
import { commitDelayMs } from './cadence.js';
import { MAX_REQUEST_BYTES, requestsOf } from './request-size.js';
import {
  type CommitListener,
  type CommitResult,
  type CommitStrategy,
  type CommitUnit,
  type GroupMembership,
  noneConsumedBefore,
  type PartitionCommitter,
  type StrategyContext,
  type TopicPartition,
  unscopedHandlerCall,
} from './strategy.js';
import { takeTogether } from '../util/coalescer.js';
import { Serial } from '../util/serial.js';

/**
 * Exactly-once with one transactional producer per pipeline consumer (EOS v2, KIP-447): every
 * assigned partition, retry tiers included, writes into one transaction, and one commit cycle
 * per commit interval sends all their offsets with the consumer's group metadata and commits.
 * The group coordinator refuses the offsets of a member whose generation is over, so a zombie's
 * transaction aborts; a new owner reads offsets with require_stable, so it never starts before
 * a pending transaction that moves them has ended.
 *
 * The cost of sharing, as in Kafka Streams: a failed commit, or a failed write, aborts the one
 * transaction, and every partition in it rewinds to its last commit.
 */
export function transactionalStrategy(context: StrategyContext): CommitStrategy {
  const transaction = new PipelineTransaction(context);
  return {
    name: 'transactional',
    guarantee: 'exactly-once',
    forPartition: (partition, listener) =>
      new SharedTransactionCommitter(transaction, { partition, listener, membership: context.membership(), records: 0, rolledBack: false }, context.readCommittedOffset),
    flush: () => transaction.commit(),
    close: () => transaction.close(),
  };
}

/** A partition's share of the open transaction. */
interface Participant {
  readonly partition: TopicPartition;
  readonly listener: CommitListener;
  /** The group generation its task was opened in: its work commits under that generation or not at all. */
  readonly membership: GroupMembership | undefined;
  /** The offset its pending work commits (unset: nothing pending), and the metadata committed with it. */
  nextOffset?: string;
  metadata?: string;
  records: number;
  /** Its pending work was aborted with a transaction: refuse writes until the task reopens. */
  rolledBack: boolean;
}

/** The participant's work is over (committed or gone): nothing of it is pending any more. */
function forgetPending(participant: Participant): void {
  participant.nextOffset = undefined;
  participant.metadata = undefined;
  participant.records = 0;
}

export class PipelineTransaction {
  readonly transactionalId: string;
  private producer: Producer | undefined;
  /** A fresh producer is needed: none yet, or the last one failed (its sequence numbers and transaction state cannot be trusted). */
  private broken = true;
  private transaction: Transaction | undefined;
  /** The open transaction holds the group's offsets partition already (AddOffsetsToTxn sent). */
  private offsetsAdded = false;
  private startedAt = 0;
  /** When the last commit began: the next begins an interval later (cadence.ts). */
  private lastCommitStartedAt: number | undefined;
  /** The generation the open transaction's work was done in: its offsets commit under it or not at all. */
  private membership: GroupMembership | undefined;
  private readonly pending = new Set<Participant>();
  /** Units waiting for the producer, written together by the next flush. */
  private readonly waiting: Write[] = [];
  /** About how many bytes of records the waiting units carry (keys and values). */
  private waitingBytes = 0;
  private timer: NodeJS.Timeout | undefined;
  private readonly serial = new Serial();
  private closed = false;

  constructor(private readonly context: StrategyContext) {
    this.transactionalId = context.transactionalId;
  }

  /** Makes sure a producer is initialised (InitProducerId aborts what a predecessor with this id left open). */
  open(): Promise<void> {
    return this.serial.run(async () => {
      await this.ensureProducer();
    });
  }

  /**
   * Writes a unit into the open transaction (beginning one if needed). Units that arrive while
   * the producer is busy wait and go out together: the partitions handled at the same time
   * share produce requests instead of taking a round trip each.
   */
  write(participant: Participant, unit: CommitUnit): Promise<void> {
    return new Promise((resolve, reject) => {
      const bytes = approximateBytes(unit);
      this.waitingBytes += bytes;
      this.waiting.push({ participant, unit, bytes, resolve, reject });
      // One flush is queued whenever units wait; it takes every unit that arrived before it runs.
      if (this.waiting.length === 1) void this.serial.run(() => this.flushWrites());
    });
  }

  private async flushWrites(): Promise<void> {
    // Every waiting unit, up to one that must go alone (which goes by itself).
    const writes = takeTogether(this.waiting, (write) => write.unit.alone === true);
    for (const write of writes) this.waitingBytes -= write.bytes;
    if (this.waiting.length > 0) void this.serial.run(() => this.flushWrites());
    const current = this.context.membership();
    // The member joined a newer generation while this transaction was open: its work belongs to
    // one that is over (the coordinator would refuse its offsets), and must not take the new
    // generation's work down with it.
    if (this.transaction && !sameMembership(this.membership, current)) await this.abortLocked(this.generationOver(this.membership, current));
    const live: Write[] = [];
    for (const write of writes) {
      const { participant } = write;
      if (participant.rolledBack) write.reject(new TransactionRolledBackError(participant.partition.topic, participant.partition.partition));
      // A unit of an earlier generation's task, still waiting for the producer when the member
      // rejoined (a batch ends once its units are handed over, and KafkaJS rejoins once its batches
      // end): the coordinator would take its offsets under the new generation, though the
      // partition may be another member's now, which has redone the work.
      else if (!sameMembership(participant.membership, current)) write.reject(this.generationOver(participant.membership, current));
      else live.push(write);
    }
    if (live.length === 0) return;
    try {
      const producer = await this.ensureProducer();
      if (!this.transaction) {
        this.transaction = await producer.transaction();
        this.offsetsAdded = false;
        this.startedAt = Date.now();
        // Every unit in it is of this generation (above).
        this.membership = current;
        this.timer = setTimeout(() => void this.commit(), commitDelayMs(this.context.commitIntervalMs, this.lastCommitStartedAt, this.startedAt));
      }
      for (const request of requestsOf(live.map(({ unit }) => unit))) {
        await this.transaction.sendBatch({ topicMessages: request, acks: -1 });
      }
      // The group's offsets partition joins the transaction with its first write rather than in
      // the commit (our KafkaJS patch 031): one round trip less in every commit window, where no
      // output can be written. The next write waits for it instead, at the transaction's start,
      // half an interval or more before its commit.
      if (!this.offsetsAdded) {
        await this.transaction.addOffsets({ consumerGroupId: this.context.groupId });
        this.offsetsAdded = true;
      }
    } catch (error) {
      // Part of the units may be in the transaction: it aborts for everyone. The writers hear it
      // from the error; the other partitions in the transaction from their listeners.
      const reason = this.classify(error);
      const writers = new Set(live.map(({ participant }) => participant));
      await this.abortLocked(reason, writers);
      // Their units handed over behind these (writes ahead) would go into the next transaction
      // without the work this one threw away: refused until each writer has re-opened.
      for (const participant of writers) participant.rolledBack = true;
      for (const write of live) write.reject(reason);
      return;
    }
    for (const { participant, unit, resolve } of live) {
      participant.nextOffset = unit.nextOffset;
      participant.metadata = unit.metadata;
      participant.records += unit.records;
      this.pending.add(participant);
      resolve();
    }
  }

  /**
   * The units waiting for the producer fill a produce request already: writing further ahead would
   * fill none sooner, and only hold records in memory (a commit cycle, during which nothing is
   * written, is when they pile up).
   */
  get backlogged(): boolean {
    return this.waitingBytes >= MAX_REQUEST_BYTES;
  }

  /** How long the open transaction has held this participant's work (undefined: none pending). */
  pendingForMs(participant: Participant): number | undefined {
    return this.pending.has(participant) ? Date.now() - this.startedAt : undefined;
  }

  /** One commit cycle: every pending partition's offsets, then EndTxn. Results reach the listeners. */
  commit(): Promise<void> {
    return this.serial.run(() => this.commitLocked());
  }

  /**
   * Aborts the open transaction because of `participant`'s failure, if it holds work of that
   * partition: a partition with nothing pending has nothing to roll back, and must not cost the
   * others their work (its failed write, if any, has aborted the transaction already).
   */
  abortFor(reason: unknown, participant: Participant): Promise<void> {
    return this.serial.run(async () => {
      if (this.pending.has(participant)) await this.abortLocked(reason, new Set([participant]));
    });
  }

  close(): Promise<void> {
    return this.serial.run(async () => {
      this.closed = true;
      if (this.transaction) await this.abortLocked(new Error('the worker is stopping'));
      const producer = this.producer;
      this.producer = undefined;
      await producer?.disconnect();
    });
  }

  private async commitLocked(): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const transaction = this.transaction;
    if (!transaction) return;
    const current = this.context.membership();
    if (!sameMembership(this.membership, current)) return this.abortLocked(this.generationOver(this.membership, current));
    const participants = [...this.pending];
    const started = Date.now();
    this.lastCommitStartedAt = started;
    try {
      const offsets = participantOffsets(participants);
      if (offsets.length > 0) {
        const membership = this.membership;
        await transaction.sendOffsets({
          consumerGroupId: this.context.groupId,
          topics: offsets,
          ...(membership ? { consumerGroupMetadata: { generationId: membership.generationId, memberId: membership.memberId, groupInstanceId: membership.groupInstanceId } } : {}),
        });
      }
      await transaction.commit();
    } catch (error) {
      await this.abortLocked(this.classify(error));
      return;
    }
    this.transaction = undefined;
    this.pending.clear();
    const durationMs = Date.now() - started;
    this.context.onTransactionEnded('committed', durationMs);
    for (const participant of participants) {
      const result: CommitResult = { records: participant.records, nextOffset: participant.nextOffset as string };
      forgetPending(participant);
      participant.listener.committed(result);
    }
  }

  /** Aborts the open transaction; every partition in it but `except` (which handle their own failure) rolls back. */
  private async abortLocked(reason: unknown, except: ReadonlySet<Participant> = new Set()): Promise<void> {
    clearTimeout(this.timer);
    this.timer = undefined;
    const transaction = this.transaction;
    const participants = [...this.pending];
    this.transaction = undefined;
    this.pending.clear();
    for (const participant of except) forgetPending(participant);
    if (transaction) {
      // After any failure KafkaJS's producer may be mid-commit or hold stale sequence numbers:
      // the next transaction starts on a fresh producer, whose InitProducerId bumps the epoch
      // and ends whatever this one left open (it may even have committed: the tasks re-read
      // their committed offsets before going on).
      this.broken = true;
      try {
        await transaction.abort();
      } catch (error) {
        this.context.logger.debug({ err: error, transactionalId: this.transactionalId }, 'abort failed; the next producer fences this transaction');
      }
      this.context.onTransactionEnded('aborted', 0, abortCause(reason));
    }
    for (const participant of participants) {
      if (except.has(participant)) continue;
      forgetPending(participant);
      participant.rolledBack = true;
      participant.listener.rolledBack(reason);
    }
  }

  private async ensureProducer(): Promise<Producer> {
    if (this.closed) throw new Error(`transactional producer ${this.transactionalId} is closed`);
    if (this.producer && !this.broken) return this.producer;
    const previous = this.producer;
    this.producer = undefined;
    await previous?.disconnect().catch(() => {});
    const producer = this.context.kafka.producer({
      transactionalId: this.transactionalId,
      idempotent: true,
      maxInFlightRequests: 1,
      transactionTimeout: this.context.transactionTimeoutMs,
      // A transaction begun right after a commit meets CONCURRENT_TRANSACTIONS while the
      // coordinator writes the previous one's markers: a few milliseconds on one broker, seconds
      // at a few hundred partitions on a busy one. That answer is retried apart from the counted
      // retries below (our KafkaJS patches 012 and 033), every 5 ms for the first 50 ms, then up to every 100 ms,
      // until concurrentTransactionsTimeoutMs, as the Java producer retries it until its delivery
      // timeout: a busy coordinator slows the cycle instead of aborting it. Bounded by the
      // transaction timeout: a coordinator that has not ended the previous transaction within
      // the time a transaction may take is stuck, and the transaction aborts (its partitions
      // rewind, which is safe under EOS) instead of waiting forever.
      concurrentTransactionsTimeout: Math.min(this.context.concurrentTransactionsTimeoutMs, this.context.transactionTimeoutMs),
      // A unit writes a few records to each of many output partitions: without this, nearly every
      // produce request of a transaction first waited for an AddPartitionsToTxn of its own (19 per
      // transaction at 96 partitions). The partitions the last commits wrote to are added with the
      // transaction's first request instead (our KafkaJS patches 020 and 025): those of the last
      // three, since a transaction writes the outputs of what it fetched, and a fetch response
      // carries only some partitions (at 96 partitions a transaction wrote 60-94 of them, and
      // passing on the last one's alone still left 3-12 AddPartitionsToTxn per transaction).
      partitionsFromLastTransaction: 3,
      // Other retriable errors (a moved leader, a lost connection) keep KafkaJS's counted retries,
      // from 5 ms (measured, 500 × 1 KB per transaction, one broker: a write that met
      // CONCURRENT_TRANSACTIONS took 28 ms with a first retry after 20 ms, 11–15 ms after 5 ms)
      // up to twelve (about 5 s); a request that keeps failing aborts the transaction.
      retry: { initialRetryTime: 5, maxRetryTime: 1000, retries: 12 },
    });
    try {
      await producer.connect();
      // KafkaJS sends InitProducerId on the first transaction(), not in connect(): force it now,
      // so a restarted worker (same transactional id) aborts its predecessor's open transaction
      // before any partition starts. An empty transaction ends without an EndTxn request.
      const init = await producer.transaction();
      await init.abort();
    } catch (error) {
      await producer.disconnect().catch(() => {});
      throw this.classify(error);
    }
    this.producer = producer;
    this.broken = false;
    return producer;
  }

  /** Work of the generation `of` refused because the member is in `current` now. */
  private generationOver(of: GroupMembership | undefined, current: GroupMembership | undefined): GenerationFencedError {
    return new GenerationFencedError(this.context.groupId, of?.generationId ?? -1, { joined: current?.generationId ?? -1 });
  }

  private classify(error: unknown): unknown {
    if (error instanceof ProducerFencedError || error instanceof GenerationFencedError || error instanceof TransactionRolledBackError) return error;
    if (isFencingError(error)) return new ProducerFencedError(this.transactionalId, { cause: error });
    if (isGenerationError(error)) return new GenerationFencedError(this.context.groupId, this.membership?.generationId ?? -1, { cause: error });
    return error;
  }
}

interface Write {
  readonly participant: Participant;
  readonly unit: CommitUnit;
  readonly bytes: number;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/**
 * Unit writes a partition may have on their way into the shared transaction. Against one ahead
 * (12 partitions, 1 KB records as bytes, runs of main and of this alternated, Kafka Streams in each):
 * 0.80–1.04 × Kafka Streams' records/s in four runs before, 1.02 and 1.13 in two after, the
 * worker's cores busy 0.55–0.61 → 0.59–0.67. The cost is memory at 96 partitions (load-tests/README.md,
 * "After the writes ahead").
 */
export const TRANSACTIONAL_WRITES_AHEAD = 4;

/** One partition's view of the pipeline's transaction. */
class SharedTransactionCommitter implements PartitionCommitter {
  /**
   * The cycle commits by offset whatever is in the transaction when it runs, and a write behind a
   * failed one is refused (flushWrites), so a partition may hand over units while earlier ones are
   * on their way in: the units of the partitions handled during one produce round trip go out
   * together in the next (one ahead held each partition's next batch for that round trip). Once
   * the units waiting fill a request, one ahead again.
   */
  get writesAhead(): number {
    return this.shared.backlogged ? 1 : TRANSACTIONAL_WRITES_AHEAD;
  }
  readonly consumedBefore = noneConsumedBefore;
  readonly runHandlerCall = unscopedHandlerCall;

  constructor(
    private readonly shared: PipelineTransaction,
    private readonly participant: Participant,
    private readonly readCommittedOffset: (partition: TopicPartition) => Promise<string | null>,
  ) {}

  get transactionalId(): string {
    return this.shared.transactionalId;
  }

  async open(): Promise<void> {
    // The task opens again after a rollback, once it has re-read its committed offset.
    this.participant.rolledBack = false;
    await this.shared.open();
  }

  startOffset(): Promise<string | null> {
    return this.readCommittedOffset(this.participant.partition);
  }

  async acknowledgeOnReceipt(): Promise<void> {}

  write(unit: CommitUnit): Promise<void> {
    return this.shared.write(this.participant, unit);
  }

  commit(): Promise<void> {
    return this.shared.commit();
  }

  abort(reason: unknown = new Error(`partition ${this.participant.partition.topic}[${this.participant.partition.partition}] aborted`)): Promise<void> {
    // The partition that aborts handles its own rewind; the others hear it from their listeners.
    return this.shared.abortFor(reason, this.participant);
  }

  async close(): Promise<void> {
    // Outputs must never commit without their offsets: a partition leaving with pending work aborts it.
    if (this.shared.pendingForMs(this.participant) !== undefined) await this.abort(new Error('partition closed with uncommitted work'));
  }
}

/** Keys and values of a unit's outputs, in bytes (characters for strings): cheap, and close enough to bound memory. */
function approximateBytes(unit: CommitUnit): number {
  let bytes = 0;
  for (const { messages } of unit.outputs) for (const { key, value } of messages) bytes += (key?.length ?? 0) + (value?.length ?? 0);
  return bytes;
}

/** The same generation of the same member (a rejoin that keeps both leaves the partitions where they were). */
function sameMembership(a: GroupMembership | undefined, b: GroupMembership | undefined): boolean {
  return a?.generationId === b?.generationId && a?.memberId === b?.memberId;
}

type PartitionOffset = { partition: number; offset: string; metadata?: string };

function participantOffsets(participants: readonly Participant[]): Array<{ topic: string; partitions: PartitionOffset[] }> {
  const byTopic = new Map<string, PartitionOffset[]>();
  for (const { partition, nextOffset, metadata } of participants) {
    if (nextOffset === undefined) continue;
    const list = byTopic.get(partition.topic) ?? [];
    list.push({ partition: partition.partition, offset: nextOffset, ...(metadata === undefined ? {} : { metadata }) });
    byTopic.set(partition.topic, list);
  }
  return [...byTopic].map(([topic, partitions]) => ({ topic, partitions }));
}
