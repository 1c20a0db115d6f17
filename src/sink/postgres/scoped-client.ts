import type pg from 'pg';
import { HandlerContractError } from '../../errors/index.js';
import type { SinkClient, SinkQueryResult } from '../../pipeline/records.js';

const TRANSACTION_CONTROL = /^\s*(BEGIN|COMMIT|ROLLBACK|END|ABORT|START\s+TRANSACTION|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION)\b/i;
const WRITE_COMMANDS = new Set(['INSERT', 'UPDATE', 'DELETE', 'MERGE', 'COPY']);

/**
 * `ctx.db` for one handler call: the partition's transaction, closed when the call settles.
 * txstream owns the transaction (it commits with the input offsets), so transaction control
 * statements are refused.
 */
export class ScopedClient implements SinkClient {
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
