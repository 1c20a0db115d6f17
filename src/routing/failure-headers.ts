/**
 * The headers txstream writes on retry and dead-letter copies, and on replayed records.
 * Their names and values are stable API: operators filter on them, replays and retry tiers
 * read them back (header-checks.ts checks them before they steer anything).
 */
export const FAILURE_HEADERS = {
  /** Failed attempts so far (1 after the first failure). */
  attempt: 'txstream-attempt',
  /** Epoch milliseconds before which a retry copy must not be processed. */
  dueAt: 'txstream-due-at',
  firstFailedAt: 'txstream-first-failed-at',
  /** The latest failure (ISO 8601). */
  failedAt: 'txstream-failed-at',
  originalTopic: 'txstream-original-topic',
  originalPartition: 'txstream-original-partition',
  originalOffset: 'txstream-original-offset',
  originalTimestamp: 'txstream-original-timestamp',
  originalKey: 'txstream-original-key',
  errorClass: 'txstream-error-class',
  errorMessage: 'txstream-error-message',
  errorStack: 'txstream-error-stack',
  /** Dead-letter copies only: why the record ended there. */
  reason: 'txstream-dlt-reason',
  /** Set when the copy was too large for its topic: the original value's size in bytes (the value was cut). */
  truncated: 'txstream-payload-truncated',
} as const;

/** Headers a replayed record carries instead of the failure headers. */
export const REPLAY_HEADERS = { replayedFrom: 'txstream-replayed-from', replayedAt: 'txstream-replayed-at' } as const;

/** Every `txstream-dlt-reason` txstream writes. */
export const DLT_REASONS = [
  'retries-exhausted',
  'decode-failed',
  'non-retryable',
  'policy-dead-letter',
  'output-rejected',
  'copy-too-large',
  'invalid-failure-headers',
  'routing-failed',
] as const;

