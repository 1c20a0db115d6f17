/**
 * Counters a worker keeps about itself. Plain numbers, so tests and the demo can
 * read them; the metrics endpoint exports the same values.
 */
export interface WorkerStats {
  recordsIn: number;
  recordsOut: number;
  deadLettered: number;
  retried: number;
  skipped: number;
  /** Sent to a retry tier unhandled, behind an earlier record of their key waiting there (`keyOrderOnRetry: hold`). */
  heldBack: number;
  replayed: number;
  transactionsCommitted: number;
  transactionsAborted: number;
  /** Aborted transactions by cause (a Kafka error code's name, an error class, or 'other'). */
  transactionsAbortedBy: Record<string, number>;
  offsetCommits: number;
  handlerFailures: number;
  fenced: number;
  rebalances: number;
  staleBatchesDropped: number;
}

export function emptyStats(): WorkerStats {
  return {
    recordsIn: 0,
    recordsOut: 0,
    deadLettered: 0,
    retried: 0,
    skipped: 0,
    heldBack: 0,
    replayed: 0,
    transactionsCommitted: 0,
    transactionsAborted: 0,
    transactionsAbortedBy: {},
    offsetCommits: 0,
    handlerFailures: 0,
    fenced: 0,
    rebalances: 0,
    staleBatchesDropped: 0,
  };
}
