/** Classifies KafkaJS errors by what the worker must do about them. */

const FENCING_TYPES = new Set(['INVALID_PRODUCER_EPOCH', 'PRODUCER_FENCED']);

interface KafkaJsLikeError {
  type?: string;
  code?: number;
  message?: string;
  cause?: unknown;
  originalError?: unknown;
}

/**
 * True when another producer took over the transactional id. KafkaJS knows no
 * PRODUCER_FENCED (code 90): newer brokers' code arrives as an unknown error.
 */
export function isFencingError(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    const candidate = current as KafkaJsLikeError;
    if (candidate.type && FENCING_TYPES.has(candidate.type)) return true;
    if (candidate.code === 90 || candidate.code === 47) return true;
    if (typeof candidate.message === 'string' && /fenced|producer.?epoch/i.test(candidate.message)) return true;
    current = candidate.cause ?? candidate.originalError;
  }
  return false;
}

/** KIP-447: the group coordinator refused a transactional offset commit of an older generation. */
const GENERATION_TYPES = new Set(['ILLEGAL_GENERATION', 'UNKNOWN_MEMBER_ID', 'FENCED_INSTANCE_ID', 'REBALANCE_IN_PROGRESS']);

export function isGenerationError(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    const candidate = current as KafkaJsLikeError;
    if (candidate.type && GENERATION_TYPES.has(candidate.type)) return true;
    current = candidate.cause ?? candidate.originalError;
  }
  return false;
}

/**
 * Broker refusals (and client encode failures) caused by a record itself, not by the
 * cluster's state: retrying the same write can never succeed, so the record must be
 * isolated and routed instead. Coordinator moves, leader changes and broker outages
 * are not among them.
 */
const RECORD_REFUSAL_TYPES = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'CORRUPT_MESSAGE', 'INVALID_TIMESTAMP']);

export function isRecordRefusal(error: unknown): boolean {
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    const candidate = current as KafkaJsLikeError;
    if (candidate.type && RECORD_REFUSAL_TYPES.has(candidate.type)) return true;
    // KafkaJS throws Node's TypeError from its encoder for a key, value or header it cannot encode.
    if (current instanceof TypeError && (current as { code?: unknown }).code === 'ERR_INVALID_ARG_TYPE') return true;
    current = candidate.cause ?? candidate.originalError;
  }
  return false;
}

/**
 * Why a transaction aborted, as a short label for metrics and logs: the Kafka error code's name
 * (CONCURRENT_TRANSACTIONS, INVALID_PRODUCER_EPOCH, …) found on the error or its causes, else the
 * name of a KafkaJS or txstream error, else 'other'. The labels are a bounded set (a handler's own
 * error classes are 'other'), so a metric labelled with them stays small.
 */
export function abortCause(error: unknown): string {
  let named: string | undefined;
  for (let current: unknown = error, depth = 0; current && depth < 5; depth++) {
    const candidate = current as KafkaJsLikeError & { name?: unknown };
    if (typeof candidate.type === 'string' && /^[A-Z0-9_]+$/.test(candidate.type)) return candidate.type;
    if (named === undefined && typeof candidate.name === 'string' && (KNOWN_ERROR_NAME.test(candidate.name) || TXSTREAM_ERROR_NAMES.has(candidate.name))) named = candidate.name;
    current = candidate.cause ?? candidate.originalError;
  }
  return named ?? 'other';
}

/** KafkaJS's error classes (all named KafkaJS…), and txstream's own failures that end a transaction (src/errors). */
const KNOWN_ERROR_NAME = /^KafkaJS[A-Za-z]+$/;
const TXSTREAM_ERROR_NAMES = new Set([
  'NonRetryableError',
  'DecodeError',
  'HandlerContractError',
  'OutputRejectedError',
  'HandlerTimeoutError',
  'InvalidFailureHeadersError',
  'ProducerFencedError',
  'PartitionOwnerFencedError',
  'GenerationFencedError',
  'TransactionRolledBackError',
  'UnitRollbackError',
  'BrokerUnreachableError',
  // A record that failed under the block policy (src/worker/failure-router.ts): its partition retries in place.
  'BlockedRecord',
]);
