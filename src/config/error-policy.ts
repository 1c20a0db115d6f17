import { z } from 'zod';
import { withoutUndefined } from '../util/objects.js';

/**
 * What happens to a record whose handler failed. The RabbitMQ outcomes users
 * know, mapped onto Kafka:
 *
 * - `retry`: write a copy to the pipeline's retry topic of the next attempt (one
 *   topic per attempt, `<input>.retry.<n>`), commit the original; when the last
 *   of the `attempts` retries fails too, `then` (dead-letter or skip).
 * - `block`: retry in place, partition paused, order preserved (nack + requeue).
 * - `dead-letter`: straight to `<input>.dlt` (nack, no requeue).
 * - `skip`: commit past the record, logged and counted: data loss, by choice (ack on error).
 *
 * Decode, schema and validation failures and `NonRetryableError`s skip the retries
 * and go to the dead-letter topic under every policy but `skip`.
 *
 * `keyOrderOnRetry` (retry only): `overtake` (the default) lets a key's later records be handled
 * while an earlier one waits in a retry tier; `hold` sends them after it, through the tiers, so
 * each key's records are handled in offset order even across retries.
 */
export const KEY_ORDER_ON_RETRY = ['overtake', 'hold'] as const;
export type KeyOrderOnRetry = (typeof KEY_ORDER_ON_RETRY)[number];

export const backoffSchema = z
  .object({
    initialMs: z.number().int().min(0).max(86_400_000),
    multiplier: z.number().min(1).max(100),
    maxMs: z.number().int().min(0).max(86_400_000),
    jitter: z.number().min(0).max(1),
  })
  .strict();

export const errorPolicySchema = z.discriminatedUnion('onError', [
  z
    .object({
      onError: z.literal('retry'),
      attempts: z.number().int().min(1).max(20),
      backoff: backoffSchema.partial().optional(),
      then: z.enum(['dead-letter', 'skip']).default('dead-letter'),
      keyOrderOnRetry: z.enum(KEY_ORDER_ON_RETRY).optional(),
    })
    .strict(),
  z.object({ onError: z.literal('block'), backoff: backoffSchema.partial().optional() }).strict(),
  z.object({ onError: z.literal('dead-letter') }).strict(),
  z.object({ onError: z.literal('skip') }).strict(),
]);

export type Backoff = z.infer<typeof backoffSchema>;
export type ErrorPolicyInput = z.input<typeof errorPolicySchema>;
export type ErrorPolicy = z.output<typeof errorPolicySchema>;

export const DEFAULT_BACKOFF: Backoff = { initialMs: 1000, multiplier: 2, maxMs: 60_000, jitter: 0.1 };
export const DEFAULT_ERROR_POLICY: ErrorPolicy = { onError: 'retry', attempts: 3, backoff: DEFAULT_BACKOFF, then: 'dead-letter' };

/** The policy with its backoff completed from the defaults. */
export interface ResolvedErrorPolicy {
  readonly onError: ErrorPolicy['onError'];
  readonly attempts: number;
  readonly backoff: Backoff;
  readonly then: 'dead-letter' | 'skip';
  readonly keyOrderOnRetry: KeyOrderOnRetry;
}

export function resolveErrorPolicy(policy: ErrorPolicy | undefined): ResolvedErrorPolicy {
  const chosen = policy ?? DEFAULT_ERROR_POLICY;
  const backoff = { ...DEFAULT_BACKOFF, ...withoutUndefined('backoff' in chosen ? (chosen.backoff ?? {}) : {}) };
  return {
    onError: chosen.onError,
    attempts: chosen.onError === 'retry' ? chosen.attempts : 0,
    backoff,
    then: chosen.onError === 'retry' ? chosen.then : 'dead-letter',
    keyOrderOnRetry: (chosen.onError === 'retry' ? chosen.keyOrderOnRetry : undefined) ?? 'overtake',
  };
}
