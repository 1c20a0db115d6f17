import pg from 'pg';
import type { Registry } from 'prom-client';
import { SharedProducer } from '../../commit/acknowledging.js';
import { splitIntoRequests } from '../../commit/request-size.js';
import type {
  CommitResult,
  CommitStrategy,
  CommitterContextFields,
  CommitUnit,
  PartitionCommitter,
  StrategyContext,
  TopicPartition,
} from '../../commit/strategy.js';
import { ConfigError, errorMessage, HandlerContractError, HandlerTimeoutError, NonRetryableError, ProducerFencedError, UnitRollbackError } from '../../errors/index.js';
import type { ResolvedPipeline } from '../../pipeline/definition.js';
import type { InputRecord, OnceFn, SinkClient, SinkQueryResult } from '../../pipeline/records.js';
import { encodeLineage } from '../../pipeline/lineage.js';
import type { ResolvedPostgresSink } from '../../config/postgres-sink.js';
import { type SinkMetrics, sinkMetricsOf } from './metrics.js';

/**
 * Exactly-once into PostgreSQL: the handler writes through `ctx.db` inside a database
 * transaction of its input partition, and txstream writes the partition's next offset into
 * the offsets table in that same transaction, then commits. The database, not Kafka, says
 * where a partition starts; Kafka's committed offset follows after each commit, best effort.
 *
 * Fencing: each offsets row carries an owner epoch. open() bumps it (the new owner); every
 * commit updates the row only where the epoch is still the one it opened with, under the
 * row's lock, so a zombie's commit finds no row, rolls back and gives the partition up.
 *
 * What is atomic with what: the handler's rows and the offset, in one database transaction.
 * Retry and dead-letter copies are Kafka writes, acknowledged (acks=all) before that commit:
 * a crash in between writes them again (a duplicate copy at worst), never loses one.
 */
export function postgresSinkStrategy(
  pipeline: ResolvedPipeline,
  sink: ResolvedPostgresSink,
  context: StrategyContext,
  registry: Registry,
): CommitStrategy {
  const shared = new SinkShared(pipeline, sink, context, sinkMetricsOf(registry));
  return {
    name: 'postgres',
    guarantee: 'exactly-once',
    start: () => shared.start(),
    // One database transaction per partition, committed by its own task (the runner flushes the tasks after this).
    forPartition: (partition) => new PostgresPartition(shared, partition),
    flush: async () => {},
    close: () => shared.close(),
  };
}

/** Quotes `table` or `schema.table` (already checked against the identifier pattern). */
function quoteTable(name: string): string {
  return name
    .split('.')
    .map((part) => pg.escapeIdentifier(part))
    .join('.');
}

/** What every partition of a sink pipeline shares: the pool, the tables, the producer of failure copies. */
class SinkShared {
  readonly pool: pg.Pool;
  readonly offsetsTable: string;
  readonly onceTable: string;
  readonly producer: SharedProducer;
  private schema: Promise<void> | undefined;

  constructor(
    readonly pipeline: ResolvedPipeline,
    readonly sink: ResolvedPostgresSink,
    readonly context: StrategyContext,
    readonly metrics: SinkMetrics,
  ) {
    this.offsetsTable = quoteTable(sink.offsetsTable);
    this.onceTable = quoteTable(sink.onceTable);
    this.producer = new SharedProducer(context);
    this.pool = new pg.Pool({
      ...sink.connection,
      max: sink.poolSize,
      application_name: `txstream:${pipeline.name}`.slice(0, 63),
      connectionTimeoutMillis: 10_000,
      // PostgreSQL's own transaction timeout: a stalled owner (SIGSTOP, a network cut) holds row
      // locks the next owner needs; the server ends its session after this, as the Kafka
      // coordinator aborts a transaction after transaction.timeout.ms.
      idle_in_transaction_session_timeout: pipeline.commit.transactionTimeoutMs,
      keepAlive: true,
    });
    // An idle pooled connection the server closed (a restart) must not crash the process; the next checkout reconnects.
    // The message and SQLSTATE only: pg's error carries its whole client object.
    this.pool.on('error', (error) =>
      context.logger.warn({ error: errorMessage(error), code: (error as { code?: unknown }).code, database: sink.where }, 'idle database connection failed; it will be replaced'),
    );
  }

  /** Connects once and creates the offsets and once tables when missing; a wrong URL or password fails the start. */
  async start(): Promise<void> {
    try {
      await this.ensureSchema();
    } catch (error) {
      this.schema = undefined;
      throw new ConfigError(`cannot use the database at ${this.sink.where}: ${errorMessage(error)}`, `pipeline '${this.pipeline.name}' sink.postgres`);
    }
    this.context.logger.info({ database: this.sink.where, offsetsTable: this.sink.offsetsTable }, 'PostgreSQL sink ready');
  }

  ensureSchema(): Promise<void> {
    this.schema ??= (async () => {
      const client = await this.pool.connect();
      try {
        await client.query('BEGIN');
        // Workers start together: CREATE TABLE IF NOT EXISTS races on the catalog without a lock.
        await client.query(`SELECT pg_advisory_xact_lock(hashtext('txstream.sink.schema'))`);
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${this.offsetsTable} (
             group_id text NOT NULL,
             topic text NOT NULL,
             partition integer NOT NULL,
             next_offset bigint,
             owner_epoch bigint NOT NULL,
             updated_at timestamptz NOT NULL DEFAULT now(),
             PRIMARY KEY (group_id, topic, partition))`,
        );
        await client.query(
          `CREATE TABLE IF NOT EXISTS ${this.onceTable} (
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
    })();
    return this.schema.catch((error: unknown) => {
      this.schema = undefined;
      throw error;
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.pool.end(), this.producer.close()]);
  }
}

/** An open database transaction of one partition, on a connection it holds until commit or rollback. */
interface OpenTransaction {
  readonly client: pg.PoolClient;
  readonly startedAt: number;
  /** Set when the connection failed: it is destroyed, not returned to the pool. */
  broken?: Error;
}

class PostgresPartition implements PartitionCommitter {
  readonly transactionalId: string;
  private epoch: string | undefined;
  private startOffset: string | null = null;
  private tx: OpenTransaction | undefined;
  private pendingRecords = 0;
  private pendingNextOffset: string | undefined;
  private pendingRows = 0;

  constructor(
    private readonly shared: SinkShared,
    private readonly partition: TopicPartition,
  ) {
    // Named as the transactional strategy names its ids, for logs: the partition's owner identity.
    this.transactionalId = `${shared.context.groupId}.${partition.topic}.${partition.partition}`;
  }

  private get where(): string {
    return `${this.partition.topic}[${this.partition.partition}] of group ${this.shared.context.groupId}`;
  }

  /**
   * Takes the partition: bumps its owner epoch (a row lock serialises this with any commit in
   * flight), and reads where it starts, in one autocommitted statement.
   */
  async open(): Promise<void> {
    await this.shared.ensureSchema();
    const { rows } = await this.shared.pool.query<{ owner_epoch: string; next_offset: string | null }>(
      `INSERT INTO ${this.shared.offsetsTable} AS o (group_id, topic, partition, next_offset, owner_epoch)
       VALUES ($1, $2, $3, NULL, 1)
       ON CONFLICT (group_id, topic, partition) DO UPDATE SET owner_epoch = o.owner_epoch + 1, updated_at = now()
       RETURNING owner_epoch::text, next_offset::text`,
      [this.shared.context.groupId, this.partition.topic, this.partition.partition],
    );
    const row = rows[0];
    if (!row) throw new Error(`opening ${this.where}: the offsets table returned no row`);
    this.epoch = row.owner_epoch;
    this.startOffset = row.next_offset;
    // The previous owner may have died between its database commit and Kafka's: bring Kafka up to the truth.
    if (this.startOffset !== null) await this.syncKafkaOffset(this.startOffset);
    this.shared.context.logger.debug({ topic: this.partition.topic, partition: this.partition.partition, epoch: this.epoch, nextOffset: this.startOffset }, 'sink partition opened');
  }

  async readStartOffset(): Promise<string | null> {
    return this.startOffset;
  }

  async acknowledgeOnReceipt(): Promise<void> {}

  /**
   * Retry copies are Kafka writes acknowledged before the database commit: a crash in between
   * writes the copy again. Each delivery of a retry tier (origin lineage and attempt) is recorded
   * in the once-table with the unit, so the second copy of the same delivery is recognised and
   * dropped: the record is applied once. Inputs of the pipeline's own topics need nothing: their
   * offsets commit with the rows.
   */
  async consumedBefore(records: readonly InputRecord[]): Promise<ReadonlySet<InputRecord>> {
    const retried = records.filter((record) => record.attempt > 1);
    if (retried.length === 0) return new Set();
    const tx = await this.transaction();
    const ids = retried.map((record) => `txstream.retry-copy:${encodeLineage(record)}#${record.attempt}`);
    let fresh: Set<string>;
    try {
      const { rows } = await tx.client.query<{ id: string }>(
        `INSERT INTO ${this.shared.onceTable} (group_id, id) SELECT $1, unnest($2::text[]) ON CONFLICT DO NOTHING RETURNING id`,
        [this.shared.context.groupId, ids],
      );
      fresh = new Set(rows.map((row) => row.id));
    } catch (error) {
      throw new UnitRollbackError(`database transaction of ${this.where} failed recording retry deliveries: ${errorMessage(error)}`, { cause: error });
    }
    // Both copies may arrive in one unit: the first occurrence of a fresh id is the delivery, the rest are copies.
    return new Set(
      retried.filter((_, index) => {
        const id = ids[index] as string;
        return !fresh.delete(id);
      }),
    );
  }

  async runHandlerCall<T>(call: (fields: CommitterContextFields) => Promise<T>): Promise<T> {
    const tx = await this.transaction();
    await this.unitQuery(tx, 'SAVEPOINT txstream_call');
    const scope = new ScopedClient(tx.client);
    let result: T;
    try {
      result = await call({ db: scope, once: this.onceIn(scope) });
      if (hasOutputs(result)) {
        throw new HandlerContractError(
          `the handler of sink pipeline '${this.shared.pipeline.name}' returned Kafka outputs; a sink pipeline writes with ctx.db and returns nothing`,
        );
      }
    } catch (error) {
      const inFlight = scope.close();
      // A statement still running would hold up the rollback behind it (it may wait on a lock for long): cancel it.
      if (inFlight > 0) await this.cancelRunning(tx);
      await this.unitQuery(tx, 'ROLLBACK TO SAVEPOINT txstream_call', error);
      // A statement still running when the call timed out waits on something (a lock a stalled
      // owner holds): not the record's fault. Likewise a broken connection or a deadlock.
      if ((error instanceof HandlerTimeoutError && inFlight > 0) || isTransientDatabaseError(error)) {
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

  async write(unit: CommitUnit): Promise<void> {
    await this.transaction();
    if (unit.outputs.length > 0) {
      // Retry and dead-letter copies: acknowledged by every in-sync replica before the commit that moves the offset past them.
      const producer = await this.shared.producer.get();
      for (const request of splitIntoRequests(unit.outputs, unit.maxRequestBytes)) await producer.sendBatch({ topicMessages: request, acks: -1 });
    }
    this.pendingRecords += unit.records;
    this.pendingNextOffset = unit.nextOffset;
  }

  pendingForMs(): number | undefined {
    return this.tx ? Date.now() - this.tx.startedAt : undefined;
  }

  async commit(): Promise<CommitResult | undefined> {
    const tx = this.tx;
    const nextOffset = this.pendingNextOffset;
    if (!tx || nextOffset === undefined) return undefined;
    const { context, metrics, pipeline } = this.shared;
    const started = performance.now();
    const updated = await tx.client.query(
      `UPDATE ${this.shared.offsetsTable} SET next_offset = $1, updated_at = now()
       WHERE group_id = $2 AND topic = $3 AND partition = $4 AND owner_epoch = $5`,
      [nextOffset, context.groupId, this.partition.topic, this.partition.partition, this.epoch],
    );
    if (updated.rowCount !== 1) {
      metrics.fencedCommits.inc({ pipeline: pipeline.name });
      context.logger.warn(
        { topic: this.partition.topic, partition: this.partition.partition, epoch: this.epoch, nextOffset },
        'database commit refused: a newer owner opened this partition (owner epoch moved on); rolling back and giving the partition up',
      );
      await this.abort();
      throw new ProducerFencedError(this.transactionalId, { cause: new Error(`owner epoch ${this.epoch} of ${this.where} is no longer current`) });
    }
    await tx.client.query('COMMIT');
    const durationMs = performance.now() - started;
    metrics.commitSeconds.observe({ pipeline: pipeline.name }, durationMs / 1000);
    metrics.rowsWritten.inc({ pipeline: pipeline.name }, this.pendingRows);
    const result = { records: this.pendingRecords, nextOffset, durationMs };
    this.release(tx);
    this.reset();
    await this.syncKafkaOffset(nextOffset);
    return result;
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

  async abort(): Promise<void> {
    const tx = this.tx;
    this.reset();
    if (!tx) return;
    try {
      if (!tx.broken) await tx.client.query('ROLLBACK');
    } catch (error) {
      tx.broken = error instanceof Error ? error : new Error(String(error));
    }
    this.release(tx);
  }

  async close(): Promise<void> {
    await this.abort();
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

  private onceIn(scope: ScopedClient): OnceFn {
    const { onceTable, context } = this.shared;
    return async <T>(id: string, fn: () => T | Promise<T>) => {
      if (typeof id !== 'string' || id === '') throw new HandlerContractError('ctx.once needs a non-empty string id');
      const inserted = await scope.query(`INSERT INTO ${onceTable} (group_id, id) VALUES ($1, $2) ON CONFLICT DO NOTHING`, [context.groupId, id], false);
      if (inserted.rowCount === 0) return { ran: false } as const;
      return { ran: true, value: await fn() } as const;
    };
  }

  private release(tx: OpenTransaction): void {
    tx.client.removeAllListeners('error');
    tx.client.release(tx.broken ?? false);
  }

  private reset(): void {
    this.tx = undefined;
    this.pendingRecords = 0;
    this.pendingNextOffset = undefined;
    this.pendingRows = 0;
  }
}

/** Statements that say the transaction must be redone whole (SQLSTATE classes). */
const TRANSIENT_CLASSES = new Set(['08', '40', '53', '57', '58', 'XX']);

function sqlState(error: unknown): string | undefined {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

function isTransientDatabaseError(error: unknown): boolean {
  const code = sqlState(error);
  if (code !== undefined) return TRANSIENT_CLASSES.has(code.slice(0, 2));
  // No SQLSTATE: the connection itself failed (ECONNRESET, "Connection terminated").
  return error instanceof Error && /connection|ECONNRESET|ECONNREFUSED|EPIPE|terminat/i.test(error.message) && !(error instanceof NonRetryableError);
}

function isAbortedTransaction(error: unknown): boolean {
  return sqlState(error) === '25P02';
}

/**
 * A failed statement that no retry can fix (a constraint violation, a bad value) goes to
 * the dead-letter topic with a reason and the database's own words; anything else is the
 * handler's error, routed by the policy as it stands.
 */
function asRecordError(error: unknown, prefix = ''): unknown {
  const code = sqlState(error);
  if (code === undefined || !(error instanceof Error)) return error;
  const kind = code.startsWith('23') ? 'constraint-violation' : code.startsWith('22') ? 'bad-value' : undefined;
  if (!kind && !prefix) return error;
  const details = error as Error & { constraint?: string; table?: string; column?: string; detail?: string };
  const where = [
    `SQLSTATE ${code}`,
    details.table ? `table ${details.table}` : undefined,
    details.constraint ? `constraint ${details.constraint}` : undefined,
    details.column ? `column ${details.column}` : undefined,
  ]
    .filter(Boolean)
    .join(', ');
  const message = `${prefix}${error.message} (${where})${details.detail ? `: ${details.detail}` : ''}`;
  if (!kind) return Object.assign(new Error(message, { cause: error }), { name: 'SinkStatementError' });
  return new SinkStatementError(message, kind, error);
}

/** A statement of the handler that the database refused for the record's data: dead-lettered, never retried. */
export class SinkStatementError extends NonRetryableError {
  override readonly name = 'SinkStatementError';
  constructor(message: string, reason: 'constraint-violation' | 'bad-value', cause: unknown) {
    super(message, { cause, reason });
  }
}

/** Whether a handler result carries Kafka outputs (a sink handler returns nothing). */
function hasOutputs(result: unknown): boolean {
  if (result === null || result === undefined) return false;
  if (!Array.isArray(result)) return true;
  return result.some((entry: unknown) => entry !== null && entry !== undefined && !(Array.isArray(entry) && entry.length === 0));
}

const TRANSACTION_CONTROL = /^\s*(BEGIN|COMMIT|ROLLBACK|END|ABORT|START\s+TRANSACTION|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION)\b/i;
const WRITE_COMMANDS = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'COPY']);

/** `ctx.db` for one handler call: the partition's transaction, closed when the call settles. */
class ScopedClient implements SinkClient {
  rowsWritten = 0;
  lastError: unknown;
  private inFlight = 0;
  private closed = false;

  constructor(private readonly client: pg.PoolClient) {}

  async query<R = Record<string, unknown>>(text: string, values?: readonly unknown[], countRows = true): Promise<SinkQueryResult<R>> {
    if (this.closed) throw new Error('ctx.db was used after its handler call settled (timed out or finished); the statement was not run');
    if (typeof text !== 'string') throw new HandlerContractError('ctx.db.query takes SQL text and an array of values');
    if (TRANSACTION_CONTROL.test(text)) {
      throw new HandlerContractError(`ctx.db: txstream owns the transaction (it commits with the input offsets); '${text.trim().split(/\s+/)[0]}' is not allowed`);
    }
    this.inFlight++;
    try {
      const result = await this.client.query(text, values === undefined ? undefined : [...values]);
      if (countRows && WRITE_COMMANDS.has(result.command)) this.rowsWritten += result.rowCount ?? 0;
      return { rows: result.rows as R[], rowCount: result.rowCount, command: result.command };
    } catch (error) {
      this.lastError = error;
      throw error;
    } finally {
      this.inFlight--;
    }
  }

  /** No statement may start after this; returns how many were still running. */
  close(): number {
    this.closed = true;
    return this.inFlight;
  }
}
