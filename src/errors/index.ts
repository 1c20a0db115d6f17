/**
 * Error types that carry intent: the worker decides what to do with a failure
 * by its class, never by parsing messages.
 */

/** Invalid configuration: the process exits with code 2 and this message alone. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    message: string,
    /** Where the bad value came from: a flag, an env variable, a file path. */
    readonly source?: string,
  ) {
    super(source ? `${source}: ${message}` : message);
  }
}

/**
 * Thrown by a handler (or by txstream for decode/validation failures) when trying
 * again cannot help: the record goes straight to the dead-letter topic.
 */
export class NonRetryableError extends Error {
  override readonly name: string = 'NonRetryableError';
  /** The dead-letter reason (header txstream-dlt-reason) when it says more than `non-retryable`. */
  readonly reason?: string;
  constructor(message: string, options?: { cause?: unknown; reason?: string }) {
    super(message, options);
    if (options?.reason !== undefined) this.reason = options.reason;
  }
}

/** The record's bytes could not be turned into a value by the topic's serde. */
export class DecodeError extends NonRetryableError {
  override readonly name = 'DecodeError';
}

/** What a handler returned does not fit the contract (wrong shape, unknown topic). */
export class HandlerContractError extends NonRetryableError {
  override readonly name = 'HandlerContractError';
}

/**
 * An output (or a retry/dead-letter copy) that the client cannot encode or the cluster
 * would refuse: an undeclared or missing topic, a partition that does not exist, a key,
 * value or header of the wrong type, a record larger than the topic accepts, or a write
 * the broker refused for a reason tied to this record. Retrying cannot help.
 */
export class OutputRejectedError extends NonRetryableError {
  override readonly name = 'OutputRejectedError';
  constructor(
    message: string,
    readonly where: { readonly topic: string; readonly partition?: number; readonly sizeBytes?: number; readonly limitBytes?: number },
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * The handler did not settle within the pipeline's handlerTimeoutMs. The unit goes on
 * without it (the record follows the error policy like any failure); the handler's
 * promise is abandoned: its result is ignored and `ctx.signal` is aborted so it can stop.
 */
export class HandlerTimeoutError extends Error {
  override readonly name = 'HandlerTimeoutError';
  constructor(
    readonly records: string,
    readonly timeoutMs: number,
  ) {
    super(`handler did not settle within ${timeoutMs} ms (handlerTimeoutMs) on ${records}`);
  }
}

/** A record on a retry tier whose failure headers are missing, malformed or out of range: it is dead-lettered, never trusted. */
export class InvalidFailureHeadersError extends NonRetryableError {
  override readonly name = 'InvalidFailureHeadersError';
}

/**
 * The transaction coordinator refused the producer's epoch: another process initialised the
 * same transactional id (a restart of this worker, or two workers given one instance id), or
 * the coordinator aborted a transaction that outlived transactionTimeoutMs. The transaction is
 * gone; never retry it.
 */
export class ProducerFencedError extends Error {
  override readonly name = 'ProducerFencedError';
  constructor(
    readonly transactionalId: string,
    options?: { cause?: unknown },
  ) {
    super(`transactional producer ${transactionalId} was fenced: another producer initialised its transactional id, or its transaction timed out`, options);
  }
}

/**
 * A committer that owns its partition alone refused to commit for this worker: a newer owner
 * has opened the partition (the PostgreSQL sink's owner epoch moved on). Unlike a fenced
 * producer, whose shared transaction is re-opened, the partition is given up.
 */
export class PartitionOwnerFencedError extends Error {
  override readonly name = 'PartitionOwnerFencedError';
  constructor(
    readonly partition: string,
    how: string,
    options?: { cause?: unknown },
  ) {
    super(`${how}: another worker owns ${partition} now`, options);
  }
}

/**
 * KIP-447: work of a group generation that is over, whose partitions may have moved. Either the
 * group coordinator refused the transaction's offsets (ILLEGAL_GENERATION, UNKNOWN_MEMBER_ID,
 * FENCED_INSTANCE_ID: this member is a zombie until it rejoins), or this member has joined a
 * newer generation (`joined`) since the work began, and refuses it itself: the coordinator checks
 * the generation an offset commit names, not whether the partition is still the member's, so
 * work of the old generation committed under the new one could repeat what another member did.
 * Either way its transaction aborts.
 */
export class GenerationFencedError extends Error {
  override readonly name = 'GenerationFencedError';
  constructor(
    readonly groupId: string,
    readonly generationId: number,
    options?: { cause?: unknown; joined?: number },
  ) {
    const reason = (options?.cause as { type?: string } | undefined)?.type ?? errorMessage(options?.cause);
    super(
      options?.joined === undefined
        ? `group ${groupId} refused the transaction's offsets of generation ${generationId} (${reason}): this member's generation is over`
        : `work of generation ${generationId} of group ${groupId} refused: this member has joined generation ${options.joined} since, and its partitions may have moved`,
      options,
    );
  }
}

/**
 * A partition's write was refused because the shared transaction holding its earlier work
 * aborted meanwhile: what the write follows is gone, so the batch stops and the partition
 * rewinds (its listener already heard why).
 */
export class TransactionRolledBackError extends Error {
  override readonly name = 'TransactionRolledBackError';
  constructor(topic: string, partition: number) {
    super(`the transaction holding ${topic}[${partition}]'s earlier work was aborted; the partition rewinds to its last commit`);
  }
}

/**
 * The unit's database transaction cannot go on (its connection failed, a deadlock, a
 * statement stuck past the handler timeout): no record is to blame, so none is routed;
 * the whole unit rolls back and the partition retries from its last commit.
 */
export class UnitRollbackError extends Error {
  override readonly name = 'UnitRollbackError';
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
  }
}

/** Marks an error as non-retryable without subclassing: `throw nonRetryable(err)`. */
export function nonRetryable(error: unknown): NonRetryableError {
  if (thrownInstanceOf(error, NonRetryableError)) return error;
  return new NonRetryableError(errorMessage(error), { cause: error });
}

export function isNonRetryable(error: unknown): boolean {
  if (error instanceof NonRetryableError) return true;
  return typeof error === 'object' && error !== null && (error as { retryable?: unknown }).retryable === false;
}

export function errorMessage(error: unknown): string {
  return describeThrown(error).message;
}

/**
 * `value instanceof type` for a thrown value, which may be hostile: `instanceof` on a revoked
 * Proxy throws. Such a value is an instance of nothing of ours.
 */
export function thrownInstanceOf<T>(value: unknown, type: abstract new (...args: never[]) => T): value is T {
  try {
    return value instanceof type;
  } catch {
    return false;
  }
}

/**
 * What was thrown, as text, whatever it is: an Error, a string, null, a Symbol, an object with
 * no prototype or whose toString throws, a Proxy (revoked or hostile). Never throws: the failure
 * path renders handlers' errors, and a rendering that throws would fail the record's unit again
 * and again.
 */
export function describeThrown(error: unknown): { readonly className: string; readonly message: string; readonly stack: string } {
  const attempt = <T>(read: () => T, fallback: T): T => {
    try {
      return read();
    } catch {
      return fallback;
    }
  };
  const isError = attempt(() => error instanceof Error, false);
  const className = isError ? attempt(() => String((error as Error).name), 'Error') : attempt(() => (error === null ? 'null' : typeof error), 'unknown');
  const message = isError
    ? attempt(() => String((error as Error).message), '(its message could not be read)')
    : attempt(
        () => (typeof error === 'symbol' ? error.toString() : String(error)),
        attempt(() => Object.prototype.toString.call(error), '(a thrown value that cannot be rendered)'),
      );
  const stack = isError ? attempt(() => String((error as Error).stack ?? ''), '') : '';
  return { className, message, stack };
}

/** No broker of the bootstrap list answered: a deployment problem, reported in one line. */
export class BrokerUnreachableError extends Error {
  override readonly name = 'BrokerUnreachableError';
  constructor(brokers: readonly string[], options?: { cause?: unknown }) {
    const reason = options?.cause instanceof Error ? options.cause.message : String(options?.cause ?? 'no answer');
    super(`cannot reach Kafka at ${brokers.join(',')}: ${reason}`, options);
  }
}

/** The brokers answered but refused us: wrong SASL credentials, an untrusted certificate, a missing client certificate. */
export class KafkaSecurityError extends Error {
  override readonly name = 'KafkaSecurityError';
  constructor(
    message: string,
    readonly kind: 'authentication' | 'tls' | 'client-certificate',
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * A one-shot command (dlt, audit) that cannot go on: what stopped it and where, in one line, exit 1.
 * The message says what was left as it was, so the command can be run again.
 */
export class CommandError extends Error {
  override readonly name = 'CommandError';
}
