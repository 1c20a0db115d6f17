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

export function isRebalanceError(error: unknown): boolean {
  const type = (error as KafkaJsLikeError | undefined)?.type;
  return (
    type === 'REBALANCE_IN_PROGRESS' ||
    type === 'NOT_COORDINATOR_FOR_GROUP' ||
    type === 'ILLEGAL_GENERATION' ||
    type === 'UNKNOWN_MEMBER_ID'
  );
}
