import { describe, expect, it } from 'vitest';
import { asRecordError, isAbortedTransaction, isTransientDatabaseError, SinkStatementError } from '../../src/sink/postgres/statement-errors.js';

/** What a database error means for its record, and what a thrown value that is not one means: nothing, without throwing. */
describe('the sink reading a failed handler call', () => {
  it('tells a transaction to redo from a record to dead-letter', () => {
    expect(isTransientDatabaseError(Object.assign(new Error('deadlock detected'), { code: '40P01' }))).toBe(true);
    expect(isTransientDatabaseError(new Error('Connection terminated unexpectedly'))).toBe(true);
    expect(asRecordError(Object.assign(new Error('duplicate key'), { code: '23505', constraint: 'rows_pkey' }))).toBeInstanceOf(SinkStatementError);
  });

  it('reads a hostile thrown value (a revoked Proxy, a Proxy that throws when read) as no database error, without throwing', () => {
    const revoked = Proxy.revocable({}, {});
    revoked.revoke();
    const hostile = new Proxy(new Error('x'), { get: () => { throw new Error('hostile'); } });
    for (const value of [revoked.proxy, hostile]) {
      expect(isTransientDatabaseError(value)).toBe(false);
      expect(isAbortedTransaction(value)).toBe(false);
      expect(asRecordError(value)).toBe(value);
    }
  });
});
