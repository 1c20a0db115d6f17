import { describeThrown, NonRetryableError, thrownInstanceOf } from '../../errors/index.js';

/**
 * What a database error means for the record that caused it: redo the whole transaction
 * (the connection, a deadlock: not the record's fault), dead-letter the record (its data
 * broke a constraint or a type), or route the handler's error by the policy as it stands.
 */

/** Statements that say the transaction must be redone whole (SQLSTATE classes). */
const TRANSIENT_CLASSES = new Set(['08', '40', '53', '57', '58', 'XX']);

function sqlState(error: unknown): string | undefined {
  let code: unknown;
  try {
    code = (error as { code?: unknown } | null)?.code;
  } catch {
    // A hostile thrown value (a Proxy that throws when read) carries no SQLSTATE.
    return undefined;
  }
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : undefined;
}

export function isTransientDatabaseError(error: unknown): boolean {
  const code = sqlState(error);
  if (code !== undefined) return TRANSIENT_CLASSES.has(code.slice(0, 2));
  // No SQLSTATE: the connection itself failed (ECONNRESET, "Connection terminated").
  return thrownInstanceOf(error, Error) && /connection|ECONNRESET|ECONNREFUSED|EPIPE|terminat/i.test(describeThrown(error).message) && !(error instanceof NonRetryableError);
}

export function isAbortedTransaction(error: unknown): boolean {
  return sqlState(error) === '25P02';
}

/**
 * A failed statement that no retry can fix (a constraint violation, a bad value) goes to
 * the dead-letter topic with a reason and the database's own words; anything else is the
 * handler's error, routed by the policy as it stands.
 */
export function asRecordError(error: unknown, prefix = ''): unknown {
  const code = sqlState(error);
  if (code === undefined || !thrownInstanceOf(error, Error)) return error;
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
