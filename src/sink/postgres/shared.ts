import pg from 'pg';
import { SharedProducer } from '../../commit/shared-producer.js';
import type { StrategyContext } from '../../commit/index.js';
import type { ResolvedPostgresSink } from '../../config/postgres-sink.js';
import { ConfigError, errorMessage } from '../../errors/index.js';
import type { ResolvedPipeline } from '../../pipeline/definition.js';
import type { SinkMetrics } from './metrics.js';
import { DEFAULTS } from '../../config/defaults.js';
import { backoffDelay } from '../../util/backoff.js';
import { sleepUnless } from '../../util/sleep.js';
import { createTables, quoteTable } from './schema.js';

/** What every partition of a sink pipeline shares: the pool, the tables, the producer of failure copies. */
export class SinkShared {
  readonly pool: pg.Pool;
  readonly offsetsTable: string;
  readonly onceTable: string;
  readonly producer: SharedProducer;
  private schema: Promise<void> | undefined;
  /** Why the sink is not ready yet (the database does not answer), while it waits at start. */
  waitingFor: string | undefined;

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

  /**
   * Connects and creates the offsets and once tables when missing. A database that does not
   * answer yet (down, restarting, starting up, its name not yet resolvable) is waited for with
   * backoff, as a running worker waits out a database restart; what waiting cannot fix (a wrong
   * password or database, a missing permission) fails the start.
   */
  async start(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.ensureSchema();
        this.waitingFor = undefined;
        break;
      } catch (error) {
        if (!isUnreachable(error)) {
          throw new ConfigError(`cannot use the database at ${this.sink.where}: ${errorMessage(error)}`, `pipeline '${this.pipeline.name}' sink.postgres`);
        }
        const retryInMs = backoffDelay(DEFAULTS.retryBackoff, attempt);
        this.waitingFor = `the database at ${this.sink.where} does not answer (${errorMessage(error)}); retrying`;
        this.context.logger.warn({ database: this.sink.where, attempt, retryInMs, error: errorMessage(error) }, this.waitingFor);
        if (!(await sleepUnless(retryInMs, [this.context.signal]))) throw new Error(`stopped while waiting for the database at ${this.sink.where}`);
      }
    }
    const { commit, handlerTimeoutMs, name } = this.pipeline;
    // Said once: a sink pipeline's commit strategy and handler timeout are not what the settings suggest.
    this.context.logger.info(
      { database: this.sink.where, offsetsTable: this.sink.offsetsTable, handlerTimeoutMs, ignoredCommitStrategy: commit.strategy },
      `PostgreSQL sink ready: pipeline '${name}' commits in the database (commit.strategy '${commit.strategy}' does not apply); handlerTimeoutMs is ${handlerTimeoutMs} ms, at most a third of transactionTimeoutMs (${commit.transactionTimeoutMs} ms)`,
    );
  }

  ensureSchema(): Promise<void> {
    this.schema ??= createTables(this.pool, { offsets: this.offsetsTable, once: this.onceTable });
    return this.schema.catch((error: unknown) => {
      this.schema = undefined;
      throw error;
    });
  }

  async close(): Promise<void> {
    await Promise.allSettled([this.pool.end(), this.producer.close()]);
  }
}

/**
 * The database did not answer, or answered that it cannot take connections yet: a restart or a
 * start-up, worth waiting for. An answer that refuses us (authentication, no such database, no
 * permission) is not.
 */
function isUnreachable(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === '57P03' || code === '08006' || code === '08001') return true; // cannot_connect_now, connection failure
  if (typeof code === 'string' && ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE'].includes(code)) return true;
  return error instanceof Error && /connection terminated|timeout expired|Connection terminated unexpectedly/i.test(error.message);
}
