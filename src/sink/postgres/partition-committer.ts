import type pg from 'pg';
import type { CommitListener, CommitUnit, PartitionCommitter, TopicPartition } from '../../commit/index.js';
import { abortCause } from '../../kafka/errors.js';
import { errorMessage, HandlerContractError, HandlerTimeoutError, PartitionOwnerFencedError, thrownInstanceOf, UnitRollbackError } from '../../errors/index.js';
import type { HandlerContext, InputRecord } from '../../pipeline/records.js';
import { onceIn, deliveredBefore } from './once.js';
import { advanceIfOwner, type PartitionRow, takePartition } from './offsets.js';
import { ScopedClient } from './scoped-client.js';
import { asRecordError, isAbortedTransaction, isTransientDatabaseError } from './statement-errors.js';
import type { SinkShared } from './shared.js';

/** An open database transaction of one partition, on a connection it holds until commit or rollback. */
interface OpenTransaction {
  readonly client: pg.PoolClient;
  readonly startedAt: number;
  /** Set when the connection failed: it is destroyed, not returned to the pool. */
  broken?: Error;
}

/**
 * One input partition's database transaction: the handler's rows (each call in a savepoint
 * of its own), the unit's retry deliveries, then the offset, committed together once the
 * commit interval has run out, or when the task asks (rebalance, drain).
 */
export class PostgresPartition implements PartitionCommitter {
  readonly transactionalId: string;
  // Handler calls share the database transaction that the commit ends: nothing may be handled while it commits.
  readonly writesAhead = 0;
  private readonly row: PartitionRow;
  private epoch: string | undefined;
  private start: string | null = null;
  private tx: OpenTransaction | undefined;
  private pendingRecords = 0;
  private pendingNextOffset: string | undefined;
  private pendingRows = 0;
  private commitTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly shared: SinkShared,
    private readonly partition: TopicPartition,
    private readonly listener: CommitListener,
  ) {
    const { groupId } = shared.context;
    // Named as the transactional strategy names its ids, for logs: the partition's owner identity.
    this.transactionalId = `${groupId}.${partition.topic}.${partition.partition}`;
    this.row = { table: shared.offsetsTable, groupId, partition };
  }

  private get where(): string {
    return `${this.partition.topic}[${this.partition.partition}] of group ${this.shared.context.groupId}`;
  }

  async open(): Promise<void> {
    await this.shared.ensureSchema();
    const { epoch, nextOffset } = await takePartition(this.shared.pool, this.row);
    this.epoch = epoch;
    this.start = nextOffset;
    // The previous owner may have died between its database commit and Kafka's: bring Kafka up to the truth.
    if (nextOffset !== null) await this.syncKafkaOffset(nextOffset);
    this.shared.context.logger.debug({ topic: this.partition.topic, partition: this.partition.partition, epoch, nextOffset }, 'sink partition opened');
  }

  /** The database, not Kafka, says where the partition starts. */
  async startOffset(): Promise<string | null> {
    return this.start;
  }

  async acknowledgeOnReceipt(): Promise<void> {}

  async consumedBefore(records: readonly InputRecord[]): Promise<ReadonlySet<InputRecord>> {
    if (!records.some((record) => record.attempt > 1)) return new Set();
    const tx = await this.transaction();
    try {
      return await deliveredBefore(tx.client, this.shared.onceTable, this.shared.context.groupId, records);
    } catch (error) {
      throw new UnitRollbackError(`database transaction of ${this.where} failed recording retry deliveries: ${errorMessage(error)}`, { cause: error });
    }
  }

  /** One handler call in a savepoint: a failure undoes the call's statements alone. */
  async runHandlerCall<T>(context: HandlerContext, call: (context: HandlerContext) => T | Promise<T>): Promise<T> {
    const tx = await this.transaction();
    await this.unitQuery(tx, 'SAVEPOINT txstream_call');
    const scope = new ScopedClient(tx.client);
    let result: T;
    try {
      result = await call({ ...context, db: scope, once: onceIn(scope, this.shared.onceTable, this.shared.context.groupId) });
      if (hasOutputs(result)) {
        throw new HandlerContractError(`the handler of sink pipeline '${this.shared.pipeline.name}' returned Kafka outputs; a sink pipeline writes with ctx.db and returns nothing`);
      }
    } catch (error) {
      const inFlight = scope.close();
      // A statement still running would hold up the rollback behind it (it may wait on a lock for long): cancel it.
      if (inFlight > 0) await this.cancelRunning(tx);
      await this.unitQuery(tx, 'ROLLBACK TO SAVEPOINT txstream_call', error);
      // A statement still running when the call timed out waits on something (a lock a stalled
      // owner holds): not the record's fault. Likewise a broken connection or a deadlock.
      if ((thrownInstanceOf(error, HandlerTimeoutError) && inFlight > 0) || isTransientDatabaseError(error)) {
        throw new UnitRollbackError(`database transaction of ${this.where} failed: ${errorMessage(error)}`, { cause: error });
      }
      throw asRecordError(error);
    }
    scope.close();
    try {
      await tx.client.query('RELEASE SAVEPOINT txstream_call');
    } catch (error) {
      // The handler caught a database error and went on: its transaction is aborted. Undo the call, fail the record.
      await this.unitQuery(tx, 'ROLLBACK TO SAVEPOINT txstream_call', error);
      if (!isAbortedTransaction(error)) throw new UnitRollbackError(`database transaction of ${this.where} failed: ${errorMessage(error)}`, { cause: error });
      const swallowed = scope.lastError;
      throw asRecordError(swallowed ?? error, 'the handler caught a database error and carried on; the call was undone: ');
    }
    this.pendingRows += scope.rowsWritten;
    return result;
  }

  /**
   * Retry and dead-letter copies go to Kafka, acknowledged by every in-sync replica before the
   * commit that moves the offset past them. The unit then waits in the database transaction
   * until the commit interval has run out.
   */
  async write(unit: CommitUnit): Promise<void> {
    const tx = await this.transaction();
    await this.shared.producer.write(unit.outputs, unit.maxRequestBytes, unit.alone);
    this.pendingRecords += unit.records;
    this.pendingNextOffset = unit.nextOffset;
    const pendingForMs = Date.now() - tx.startedAt;
    const { commitIntervalMs } = this.shared.context;
    if (pendingForMs >= commitIntervalMs) return this.commit();
    // No further unit may come to commit it: the task commits when the interval has run out.
    this.commitTimer ??= setTimeout(() => {
      this.commitTimer = undefined;
      this.listener.commitDue();
    }, commitIntervalMs - pendingForMs);
  }

  async commit(): Promise<void> {
    this.clearCommitTimer();
    const tx = this.tx;
    const nextOffset = this.pendingNextOffset;
    if (!tx || nextOffset === undefined) return;
    const { context, metrics, pipeline } = this.shared;
    const started = performance.now();
    if (!(await advanceIfOwner(tx.client, this.row, this.epoch, nextOffset))) {
      metrics.fencedCommits.inc({ pipeline: pipeline.name });
      context.logger.warn(
        { topic: this.partition.topic, partition: this.partition.partition, epoch: this.epoch, nextOffset },
        'database commit refused: a newer owner opened this partition (owner epoch moved on); rolling back and giving the partition up',
      );
      await this.rollback();
      throw new PartitionOwnerFencedError(this.where, `the database refused a commit from an older owner (owner epoch ${this.epoch} moved on)`);
    }
    await tx.client.query('COMMIT');
    const durationMs = performance.now() - started;
    metrics.commitSeconds.observe({ pipeline: pipeline.name }, durationMs / 1000);
    metrics.rowsWritten.inc({ pipeline: pipeline.name }, this.pendingRows);
    const records = this.pendingRecords;
    this.release(tx);
    this.reset();
    await this.syncKafkaOffset(nextOffset);
    context.onTransactionEnded('committed', durationMs);
    this.listener.committed({ records, nextOffset });
  }

  /** Kafka's committed offset follows the database's, for lag, status and dashboards: best effort, never the truth. */
  private async syncKafkaOffset(offset: string): Promise<void> {
    const { context, metrics, pipeline } = this.shared;
    try {
      await context.commitOffsets([{ topic: this.partition.topic, partition: this.partition.partition, offset }]);
    } catch (error) {
      metrics.offsetSyncFailures.inc({ pipeline: pipeline.name });
      context.logger.debug({ err: error, topic: this.partition.topic, partition: this.partition.partition }, 'Kafka offset commit after the database commit failed (best effort)');
    }
  }

  /** The unit failed: its database transaction rolls back (counted as an aborted transaction). */
  async abort(reason?: unknown): Promise<void> {
    if (await this.rollback()) this.shared.context.onTransactionEnded('aborted', 0, abortCause(reason));
  }

  async close(): Promise<void> {
    await this.rollback();
  }

  /** Rolls the open transaction back; false when none was open. */
  private async rollback(): Promise<boolean> {
    this.clearCommitTimer();
    const tx = this.tx;
    this.reset();
    if (!tx) return false;
    try {
      if (!tx.broken) await tx.client.query('ROLLBACK');
    } catch (error) {
      tx.broken = error instanceof Error ? error : new Error(String(error));
    }
    this.release(tx);
    return true;
  }

  /** The partition's open transaction, begun on a connection of its own when there is none. */
  private async transaction(): Promise<OpenTransaction> {
    if (this.tx) return this.tx;
    let client: pg.PoolClient;
    try {
      client = await this.shared.pool.connect();
    } catch (error) {
      throw new UnitRollbackError(`cannot connect to the database at ${this.shared.sink.where}: ${errorMessage(error)}`, { cause: error });
    }
    const tx: OpenTransaction = { client, startedAt: Date.now() };
    client.on('error', (error) => {
      tx.broken = error;
    });
    try {
      await client.query('BEGIN');
    } catch (error) {
      tx.broken = error instanceof Error ? error : new Error(String(error));
      this.release(tx);
      throw new UnitRollbackError(`cannot begin a database transaction at ${this.shared.sink.where}: ${errorMessage(error)}`, { cause: error });
    }
    this.tx = tx;
    return tx;
  }

  private async cancelRunning(tx: OpenTransaction): Promise<void> {
    const pid = (tx.client as pg.PoolClient & { processID?: number }).processID;
    if (pid === undefined) return;
    try {
      await this.shared.pool.query('SELECT pg_cancel_backend($1)', [pid]);
    } catch (error) {
      this.shared.context.logger.debug({ err: error }, 'cancelling a running statement failed');
    }
  }

  /** A statement of txstream's own inside the unit: its failure fails the unit, never a record. */
  private async unitQuery(tx: OpenTransaction, sql: string, cause?: unknown): Promise<void> {
    try {
      await tx.client.query(sql);
    } catch (error) {
      throw new UnitRollbackError(`database transaction of ${this.where} failed at ${sql}: ${errorMessage(error)}`, { cause: cause ?? error });
    }
  }

  private release(tx: OpenTransaction): void {
    tx.client.removeAllListeners('error');
    tx.client.release(tx.broken ?? false);
  }

  private clearCommitTimer(): void {
    clearTimeout(this.commitTimer);
    this.commitTimer = undefined;
  }

  private reset(): void {
    this.tx = undefined;
    this.pendingRecords = 0;
    this.pendingNextOffset = undefined;
    this.pendingRows = 0;
  }
}

/** Whether a handler result carries Kafka outputs (a sink handler returns nothing). */
function hasOutputs(result: unknown): boolean {
  if (result === null || result === undefined) return false;
  if (!Array.isArray(result)) return true;
  return result.some((entry: unknown) => entry !== null && entry !== undefined && !(Array.isArray(entry) && entry.length === 0));
}
